"""MLflow runs: the stage and pipeline runs, what a stage output logs, the registered pyfunc.

The tracking package (runs, buffer, registry, lineage) is the only one that talks to MLflow,
and it knows no task: a stage's manifest lists what to log and which predictor loads it.

One parent run per pipeline run and one nested run per stage. Runs carry the git
commit, the config hash and the content hashes of their inputs, so any artifact or
model traces back to the data it came from. Default backend: SQLite + a local artifact
folder under the state folder; set runtime.tracking_uri to use a server.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel

from seqpipe.core.artifacts import process_alive, read_json
from seqpipe.config import RuntimeConfig, config_hash
from seqpipe.core.errors import SeqpipeError
from seqpipe.core.secrets import redact_params, redact_uri, without_userinfo
from seqpipe.tracking import buffer as tracking_buffer

MAX_PARAM_CHARS = 6000
MAX_INPUTS = 20  # sources listed as run inputs; the manifest artifact lists them all


class TrackingUnavailable(SeqpipeError):
    """The MLflow server did not take a stage's metrics; they are kept on disk."""


def tracking_uri(runtime: RuntimeConfig) -> str:
    """runtime.tracking_uri, or the SQLite database in the state folder."""
    return runtime.tracking_uri or f"sqlite:///{runtime.local_dir / 'mlflow.db'}"


def reachable_from_any_machine(runtime: RuntimeConfig) -> bool:
    """Whether a Ray Train worker on another machine can log to the tracking store: a server or
    a database, not this machine's SQLite file or folder."""
    uri = tracking_uri(runtime)
    return "://" in uri and not uri.startswith(("sqlite:", "file:"))


def configure(runtime: RuntimeConfig) -> str:
    """Point MLflow at the configured backend and make sure the experiment exists."""
    import mlflow

    state = runtime.local_dir
    uri = tracking_uri(runtime)
    if uri.startswith("sqlite:"):
        state.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(runtime.experiment) is None:
        location = (state / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
        _create_experiment(runtime.experiment, location)
    mlflow.set_experiment(runtime.experiment)
    tracking_buffer.send_pending(uri, runtime.local_dir)  # what an earlier outage kept back
    return uri


def _create_experiment(name: str, location: str | None) -> None:
    """Create the experiment, unless another process (a second run starting at the same moment)
    created it since we looked: then theirs is the one to use."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.create_experiment(name, artifact_location=location)
    except MlflowException:
        if mlflow.get_experiment_by_name(name) is None:
            raise


@contextlib.contextmanager
def pipeline_run(runtime: RuntimeConfig, config: BaseModel, name: str = "pipeline") -> Iterator[str]:
    """The parent run of one pipeline execution; yields its run id."""
    with _run(runtime, name, {"seqpipe.kind": "pipeline"}, config) as run_id:
        yield run_id


@contextlib.contextmanager
def stage_run(runtime: RuntimeConfig, stage: str, config: BaseModel,
              parent_run_id: str | None = None) -> Iterator[str]:
    """A stage's run, nested under the pipeline run when there is one; yields its run id.

    The parent is passed explicitly, so this works from any thread or process.
    """
    with _run(runtime, stage, {"seqpipe.kind": "stage", "seqpipe.stage": stage}, config, parent_run_id) as run_id:
        yield run_id


@contextlib.contextmanager
def _run(runtime: RuntimeConfig, name: str, tags: dict, config: BaseModel,
         parent_run_id: str | None = None) -> Iterator[str]:
    """An MLflow run with the config as params; at its end, the metrics an outage kept back
    must have reached the server, else it fails with a TrackingUnavailable that says where they are."""
    import mlflow

    configure(runtime)
    if parent_run_id is None:
        close_orphaned_runs(runtime)
    tags = {**tags, "seqpipe.git_commit": git_commit(), "seqpipe.config_hash": config_hash(config), **_process_tags()}
    run = mlflow.start_run(run_name=name, nested=parent_run_id is not None, parent_run_id=parent_run_id, tags=tags)
    status, reachable, stage_error = "FAILED", True, None
    try:
        mlflow.log_params(_flatten(config.model_dump(mode="json")))
        yield run.info.run_id
        left = tracking_buffer.send_pending(mlflow.get_tracking_uri(), runtime.local_dir, run.info.run_id)
        if left:
            raise TrackingUnavailable(
                f"{tags['seqpipe.kind']} {name} finished, but MLflow at {redact_uri(mlflow.get_tracking_uri())} did "
                f"not take {left} of its metric values: they are kept in "
                f"{tracking_buffer.buffer_file(runtime.local_dir, run.info.run_id)} and sent by the next seqpipe "
                "command that reaches the server; the output folder is complete")
        status = "FINISHED"
    except TrackingUnavailable:  # here, or from a run nested in this one
        reachable = False
        raise
    except BaseException as error:
        stage_error = error
        raise
    finally:
        # with the server down, closing the run fails fast; the next run marks it FAILED (close_orphaned_runs)
        with contextlib.nullcontext() if reachable else tracking_buffer.quick_requests():
            try:
                mlflow.end_run(status)
            except Exception as closing:
                if stage_error is not None:  # the stage's own error stays the one raised (and retried or not)
                    stage_error.add_note(f"Closing MLflow run {run.info.run_id} failed too: {closing!r}")
                elif reachable:
                    raise


def close_orphaned_runs(runtime: RuntimeConfig) -> list[str]:
    """Mark FAILED the runs left RUNNING by a seqpipe process of this machine that is gone
    (a killed pipeline cannot close its runs); returns their ids."""
    import mlflow
    from mlflow.tracking import MlflowClient

    client, host, closed = MlflowClient(), socket.gethostname(), []
    experiment_id = mlflow.get_experiment_by_name(runtime.experiment).experiment_id
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        pid = tags.get("seqpipe.pid", "")
        if tags.get("seqpipe.host") != host or not pid.isdigit() or process_alive(int(pid)):
            continue
        client.set_tag(run.info.run_id, "seqpipe.failure", f"process {pid} ended without closing the run (killed?)")
        client.set_terminated(run.info.run_id, "FAILED")
        closed.append(run.info.run_id)
    return closed


def _process_tags() -> dict:
    return {"seqpipe.host": socket.gethostname(), "seqpipe.pid": str(os.getpid())}


def log_output(folder: str, reused: bool, register_as: str | None = None, uri: str | None = None) -> str | None:
    """What a stage's manifest lists: its metrics, tags tying the run to the folder (`uri`, where
    it is published, when `folder` is its working copy), the input datasets, the artifacts; then,
    with `register_as`, the folder as a registered pyfunc model that loads the manifest's
    predictor. Returns the registered version (None when not registered).

    A metric the workers logged per epoch (in metrics.json's history) keeps its curve; its
    final value, the best epoch's, is logged as best_<name>.
    """
    import mlflow

    folder = str(folder)
    manifest = read_json(Path(folder) / "manifest.json")
    metrics_file = Path(folder) / "metrics.json"
    per_epoch = {k for h in (read_json(metrics_file).get("history", []) if metrics_file.exists() else []) for k in h}
    mlflow.log_metrics({(f"best_{k}" if k in per_epoch else k): float(v) for k, v in manifest.get("metrics", {}).items()
                        if isinstance(v, (int, float))})
    mlflow.set_tags({"seqpipe.output": uri or folder, "seqpipe.output_hash": manifest["content_hash"],
                     "seqpipe.input_hash": manifest["input_hash"], "seqpipe.reused": str(reused)})
    if manifest.get("nodes") and not reused:  # the Ray nodes its tasks ran on (ingest)
        mlflow.set_tag("seqpipe.ray_nodes", ",".join(manifest["nodes"]))
    for dataset in manifest.get("datasets", [])[:MAX_INPUTS]:
        log_dataset(redact_uri(dataset["uri"]), dataset["digest"], context=dataset["context"])
    mlflow.log_dict(json.loads(redact_uri(json.dumps(manifest))), "manifest.json")
    for name in manifest.get("artifacts", []):
        path = Path(folder) / name
        if path.is_dir():
            mlflow.log_artifacts(str(path), name)
        elif path.exists():
            mlflow.log_artifact(str(path))
    if not register_as:
        return None
    return _register(folder, manifest, register_as)


def registered_version(model: str, output: str) -> str | None:
    """The version of `model` registered from the stage folder `output` (its published URI), if
    any: a reused folder whose writer never registered it (it crashed first, or lost the race to
    publish and its winner did) is registered and gated by the next run that uses it."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    quoted = output.replace("\\", "\\\\").replace("'", "\\'")
    try:
        versions = MlflowClient().search_model_versions(f"name = '{model}'")
        writers = {run.info.run_id for run in mlflow.search_runs(
            search_all_experiments=True, filter_string=f"tags.`seqpipe.output` = '{quoted}'", output_format="list")}
    except MlflowException:
        return None
    return next((str(v.version) for v in versions if v.run_id in writers), None)


def _register(folder: str, manifest: dict, register_as: str) -> str:
    """Log the folder (or the files its predictor needs) as a pyfunc model and register it."""
    import shutil

    import mlflow
    from mlflow.models import infer_signature

    import seqpipe
    from seqpipe.core.predictor import load_predictor

    examples = manifest["examples"]
    with tempfile.TemporaryDirectory(prefix="seqpipe-") as tmp:
        model_folder = folder
        if manifest.get("model_files"):  # only what the predictor reads (not every export format)
            model_folder = str(Path(tmp) / Path(folder).name)
            Path(model_folder).mkdir()
            for name in ["manifest.json", *manifest["model_files"]]:
                shutil.copy2(Path(folder) / name, Path(model_folder) / name)
        signature = infer_signature(examples, load_predictor(model_folder).predict(examples))
        info = mlflow.pyfunc.log_model(
            name=manifest["kind"], python_model=str(Path(__file__).with_name("folder_model.py")),
            artifacts={"model": model_folder}, input_example=examples,
            signature=signature, code_paths=[str(Path(seqpipe.__file__).parent)],
            pip_requirements=["torch", "numpy", "pyarrow", "pandas", "seqeval", "pydantic", "pillow"],
            registered_model_name=register_as)
    return str(info.registered_model_version)


def load_registered(runtime: RuntimeConfig, uri: str):
    """The predictor behind models:/NAME@ALIAS, models:/NAME/VERSION or runs:/... (a NerTagger,
    LanguageModel, Translator, Transcriber or WordVectors)."""
    import mlflow

    configure(runtime)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model


def log_metrics_to(runtime: RuntimeConfig, run_id: str, metrics: dict, step: int) -> None:
    """Log numeric metrics to a given run (from any process, e.g. a Ray Train worker)."""
    import time

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(runtime)
    now = int(time.time() * 1000)
    values = [Metric(k, float(v), now, step) for k, v in metrics.items() if isinstance(v, (int, float))]
    try:
        with tracking_buffer.quick_requests():
            MlflowClient(uri).log_batch(run_id, metrics=values)
    except Exception as err:  # the server is down: training goes on, the values wait on disk
        tracking_buffer.keep(runtime.local_dir, run_id, values, err)


def set_tags_to(runtime: RuntimeConfig, run_id: str, tags: dict[str, str]) -> None:
    """Tag a given run (from any process); a tracking server that is down costs the tags only."""
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(runtime)
    try:
        with tracking_buffer.quick_requests():
            client = MlflowClient(uri)
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
    except Exception as err:
        print(f"could not tag MLflow run {run_id}: {err}", flush=True)


def run_links(runtime: RuntimeConfig, parent_run_id: str, local_ui: str) -> dict[str, str]:
    """MLflow UI links to a pipeline run and its stage runs (`local_ui` serves a SQLite backend:
    the `seqpipe up` server)."""
    from mlflow.tracking import MlflowClient

    uri = configure(runtime)
    base = without_userinfo(uri.rstrip("/")) if uri.startswith("http") else local_ui
    client = MlflowClient()
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
                                  order_by=["attributes.start_time ASC"])
    link = f"{base}/#/experiments/{parent.info.experiment_id}/runs/"
    return {parent.info.run_name: link + parent_run_id, **{r.info.run_name: link + r.info.run_id for r in children}}


def log_dataset(uri: str, digest: str, context: str) -> None:
    """Record an input dataset (name, source URI, content digest) on the active run."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    try:
        with warnings.catch_warnings():  # "can be interpreted in multiple ways" for local paths
            warnings.simplefilter("ignore")
            source = resolve_dataset_source(uri)
    except Exception:  # an hf: name or a scheme MLflow has no source type for
        source = HTTPDatasetSource(uri)
    mlflow.log_input(MetaDataset(source, name=Path(uri).name or uri, digest=digest[:16]), context=context)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _flatten(d: dict, prefix: str = "") -> dict:
    """Nested config values as MLflow params, secrets redacted (seqpipe.core.secrets)."""
    flat = {}
    for key, value in redact_params(d).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = str(value)[:MAX_PARAM_CHARS]
    return flat
