"""MLflow tracking: the only module that talks to MLflow.

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

from seqpipe.tracking import buffer as tracking_buffer
from seqpipe.core.artifacts import process_alive, read_json
from seqpipe.config import RuntimeConfig, config_hash
from seqpipe.core.errors import SeqpipeError
from seqpipe.core.plots import tsne_plot, zipf_plot
from seqpipe.core.secrets import redact_params, redact_uri, without_userinfo
from seqpipe.data.vocab import Vocabulary

MAX_PARAM_CHARS = 6000
MAX_INPUTS = 20  # sources listed as run inputs; the manifest artifact lists them all


class TrackingUnavailable(SeqpipeError):
    """The MLflow server did not take a stage's metrics; they are kept on disk."""


def configure(runtime: RuntimeConfig) -> str:
    """Point MLflow at the configured backend and make sure the experiment exists."""
    import mlflow

    state = Path(runtime.state_dir).resolve()
    uri = runtime.tracking_uri or f"sqlite:///{state / 'mlflow.db'}"
    if uri.startswith("sqlite:"):
        state.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(runtime.experiment) is None:
        location = (state / "mlartifacts").as_uri() if uri.startswith("sqlite:") else None
        mlflow.create_experiment(runtime.experiment, artifact_location=location)
    mlflow.set_experiment(runtime.experiment)
    tracking_buffer.send_pending(uri, runtime.state_dir)  # what an earlier outage kept back
    return uri


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
    status, reachable = "FAILED", True
    try:
        mlflow.log_params(_flatten(config.model_dump(mode="json")))
        yield run.info.run_id
        left = tracking_buffer.send_pending(mlflow.get_tracking_uri(), runtime.state_dir, run.info.run_id)
        if left:
            raise TrackingUnavailable(
                f"{tags['seqpipe.kind']} {name} finished, but MLflow at {redact_uri(mlflow.get_tracking_uri())} did "
                f"not take {left} of its metric values: they are kept in "
                f"{tracking_buffer.buffer_file(runtime.state_dir, run.info.run_id)} and sent by the next seqpipe "
                "command that reaches the server; the output folder is complete")
        status = "FINISHED"
    except TrackingUnavailable:  # here, or from a run nested in this one
        reachable = False
        raise
    finally:
        # with the server down, closing the run fails fast; the next run marks it FAILED (close_orphaned_runs)
        with contextlib.nullcontext() if reachable else tracking_buffer.quick_requests():
            try:
                mlflow.end_run(status)
            except Exception:
                if reachable:
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


def log_corpus(folder: str, reused: bool) -> None:
    """Counts, the manifest, and the input data's digests of an ingest stage's run."""
    import mlflow

    manifest = read_json(Path(folder) / "manifest.json")
    counts = manifest["counts"]
    mlflow.log_metrics({k: float(v) for k, v in counts.items()})
    read = counts["read"] - counts["blank"]
    mlflow.log_metric("reject_rate", (counts["rejected"] - counts["blank"]) / read if read else 0.0)
    incremental = manifest.get("incremental", {"read_sources": len(manifest["sources"]), "reused_sources": 0})
    mlflow.log_metrics({"sources_read": incremental["read_sources"], "sources_reused": incremental["reused_sources"]})
    mlflow.set_tags({"seqpipe.output": folder, "seqpipe.output_hash": manifest["content_hash"],
                     "seqpipe.input_hash": manifest["input_hash"], "seqpipe.reused": str(reused)})
    for source in manifest["sources"][:MAX_INPUTS]:
        log_dataset(redact_uri(source["uri"]), source["sha256"], context="ingest")
    mlflow.log_dict(json.loads(redact_uri(json.dumps(manifest))), "manifest.json")


def log_vocab(folder: str, reused: bool, head_size: int = 200) -> None:
    """Vocabulary size and coverage, the top of the vocabulary, a Zipf plot."""
    import mlflow

    manifest = read_json(Path(folder) / "manifest.json")
    vocab = Vocabulary.load(folder)
    words = len(vocab.specials)
    head = list(zip(vocab.tokens[words:words + head_size], vocab.counts[words:words + head_size].tolist()))
    stats = manifest["stats"]
    mlflow.log_metrics({"vocab_size": stats["size"], "char_vocab_size": stats["chars"],
                        "tokens": stats["tokens"], "types": stats["types"],
                        "coverage_at_min_count": stats["coverage"]})
    mlflow.set_tags({"seqpipe.output": folder, "seqpipe.output_hash": manifest["content_hash"],
                     "seqpipe.input_hash": manifest["corpus"]["content_hash"], "seqpipe.reused": str(reused)})
    log_dataset(manifest["corpus"]["uri"], manifest["corpus"]["content_hash"], context="vocab")
    mlflow.log_dict(manifest, "manifest.json")
    mlflow.log_text("rank\ttoken\tcount\n" + "".join(f"{i}\t{t}\t{c}\n" for i, (t, c) in enumerate(head, 1)),
                    "vocab_head.tsv")
    with tempfile.TemporaryDirectory(prefix="seqpipe-") as tmp:
        mlflow.log_artifact(str(zipf_plot(vocab.counts[words:], Path(tmp) / "zipf.png", "Zipf plot of the vocabulary")))


def log_embeddings(folder: str, reused: bool, register_as: str | None = "seqpipe-embeddings") -> str | None:
    """Final metrics, exports, a t-SNE plot; registers a pyfunc that maps words to vectors.

    Returns the registered model version (None when not registered).
    """
    import mlflow

    from seqpipe.data.vectors import Embeddings

    manifest = read_json(Path(folder) / "manifest.json")
    mlflow.log_metrics({k: float(v) for k, v in manifest["metrics"].items() if isinstance(v, (int, float))})
    mlflow.set_tags({"seqpipe.output": folder, "seqpipe.output_hash": manifest["content_hash"],
                     "seqpipe.input_hash": manifest["input_hash"], "seqpipe.reused": str(reused)})
    log_dataset(manifest["corpus"], read_json(Path(manifest["corpus"]) / "manifest.json")["content_hash"], "pretrain")
    for name in ("manifest.json", "metrics.json", "vectors.bin"):
        mlflow.log_artifact(str(Path(folder) / name))
    embeddings = Embeddings.load(folder)
    with tempfile.TemporaryDirectory(prefix="seqpipe-") as tmp:
        mlflow.log_artifact(str(tsne_plot(embeddings.tokens, embeddings.vectors, Path(tmp) / "tsne.png")))
    if not register_as:
        return None
    info = mlflow.pyfunc.log_model(
        name="embeddings", python_model=_word_vector_model(),
        artifacts={"vectors": str(Path(folder) / "vectors.npy"), "tokens": str(Path(folder) / "tokens.txt")},
        input_example=embeddings.tokens[:2], pip_requirements=["numpy", "pandas"],
        registered_model_name=register_as)
    return str(info.registered_model_version)


def _word_vector_model():
    """A pyfunc model: a list (or column) of words in, one vector per word out (zeros if unknown).

    Defined inside a function so that MLflow pickles the class itself, and the model
    loads without seqpipe installed.
    """
    import mlflow.pyfunc

    class WordVectors(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            import numpy as np

            self.vectors = np.load(context.artifacts["vectors"])
            with open(context.artifacts["tokens"], encoding="utf-8") as f:
                self.index = {line.rstrip("\n"): i for i, line in enumerate(f)}

        def predict(self, context, model_input, params=None):
            import numpy as np

            words = list(model_input.iloc[:, 0]) if hasattr(model_input, "iloc") else list(model_input)
            out = np.zeros((len(words), self.vectors.shape[1]), dtype=np.float32)
            for row, word in enumerate(words):
                if word in self.index:
                    out[row] = self.vectors[self.index[word]]
            return out

    return WordVectors()


def log_trained_model(folder: str, reused: bool, kind: str, register_as: str | None, examples: list[str]) -> str | None:
    """A downstream model's final metrics and files; registers it as a pyfunc (text in).

    `kind` is "ner" (text -> entities as JSON), "lm" (text -> log P(text)) or
    "translation" (text -> its translation, beam search) or "speech" (audio file path ->
    transcript). The model
    folder travels as an artifact and the seqpipe package as code, so `mlflow.pyfunc.
    load_model` works wherever torch is installed. Returns the registered version.
    """
    import mlflow
    from mlflow.models import infer_signature

    manifest = read_json(Path(folder) / "manifest.json")
    per_epoch = {k for h in read_json(Path(folder) / "metrics.json").get("history", []) for k in h}
    # a metric the workers logged per epoch keeps its curve; its final value is the best epoch's
    mlflow.log_metrics({(f"best_{k}" if k in per_epoch else k): float(v) for k, v in manifest["metrics"].items()})
    mlflow.set_tags({"seqpipe.output": folder, "seqpipe.output_hash": manifest["content_hash"],
                     "seqpipe.input_hash": manifest["input_hash"], "seqpipe.reused": str(reused)})
    for name in ("manifest.json", "metrics.json", "model.json", "tags.txt", "text.json", "beam_errors.tsv"):
        if (Path(folder) / name).exists():
            mlflow.log_artifact(str(Path(folder) / name))
    if (Path(folder) / "plots").is_dir():
        mlflow.log_artifacts(str(Path(folder) / "plots"), "plots")
    if not register_as:
        return None
    model = _text_model(kind)
    model.load_context(_Context({"model": folder}))
    signature = infer_signature(examples, model.predict(None, examples))
    import seqpipe

    info = mlflow.pyfunc.log_model(
        name=kind, python_model=model, artifacts={"model": folder}, input_example=examples,
        signature=signature, code_paths=[str(Path(seqpipe.__file__).parent)],
        pip_requirements=["torch", "numpy", "pyarrow", "pandas", "seqeval", "pydantic"],
        registered_model_name=register_as)
    return str(info.registered_model_version)


class _Context:
    def __init__(self, artifacts: dict):
        self.artifacts = artifacts


def _text_model(kind: str):
    """A pyfunc over a model folder: NER gives entities (JSON), the LM log P(text) in nats,
    the translator translations."""
    import mlflow.pyfunc

    class TextModel(mlflow.pyfunc.PythonModel):
        def load_context(self, context):
            if kind == "ner":
                from seqpipe.tasks.ner.predictor import NerTagger

                self.model = NerTagger(context.artifacts["model"])
            elif kind == "translation":
                from seqpipe.tasks.translation.predictor import Translator

                self.model = Translator(context.artifacts["model"])
            elif kind == "speech":
                from seqpipe.tasks.speech.predictor import Transcriber

                self.model = Transcriber(context.artifacts["model"])
            else:
                from seqpipe.tasks.lm.predictor import LanguageModelFolder

                self.model = LanguageModelFolder(context.artifacts["model"])

        def predict(self, context, model_input, params=None):
            import json

            texts = list(model_input.iloc[:, 0]) if hasattr(model_input, "iloc") else list(model_input)
            if kind == "ner":
                return [json.dumps(self.model.entities(t)) for t in texts]
            if kind == "translation":
                return self.model.translate(texts)
            if kind == "speech":  # audio file paths in, greedy transcripts out
                return [self.model.transcribe(path) for path in texts]
            return [self.model.score(t)["log_prob"] for t in texts]

    return TextModel()


def load_text_model(runtime: RuntimeConfig, uri: str):
    """The NerTagger, LanguageModelFolder, Translator or Transcriber behind models:/NAME@ALIAS, models:/NAME/VERSION or runs:/..."""
    import mlflow

    configure(runtime)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model


def load_word_vectors(runtime: RuntimeConfig, uri: str):
    """(tokens, vectors) of a registered seqpipe-embeddings version (models:/NAME@ALIAS, runs:/...)."""
    import mlflow

    configure(runtime)
    model = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    return sorted(model.index, key=model.index.get), model.vectors


def log_metrics_to(runtime: RuntimeConfig, run_id: str, metrics: dict, step: int) -> None:
    """Log numeric metrics to a given run (from any process, e.g. a Ray Train worker)."""
    import time

    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    uri = runtime.tracking_uri or f"sqlite:///{Path(runtime.state_dir).resolve() / 'mlflow.db'}"
    now = int(time.time() * 1000)
    values = [Metric(k, float(v), now, step) for k, v in metrics.items() if isinstance(v, (int, float))]
    try:
        with tracking_buffer.quick_requests():
            MlflowClient(uri).log_batch(run_id, metrics=values)
    except Exception as err:  # the server is down: training goes on, the values wait on disk
        tracking_buffer.keep(runtime.state_dir, run_id, values, err)


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
