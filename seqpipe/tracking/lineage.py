"""Reading the tracking history: where a model version came from, and how runs differ.

`lineage` follows a registered version to its stage run, the pipeline run above it, and
then the content-addressed folders: each manifest names the folders it was made from
(embeddings, vocabulary, corpus, fusion LM) and the data files with their hashes.
"""
from __future__ import annotations

import re
from pathlib import Path

from seqpipe.core.artifacts import read_json
from seqpipe.core.errors import InputError

UPSTREAM_KEYS = ("embeddings", "fusion_lm", "vocab", "corpus")
MAX_SOURCES = 5


def resolve_version(ref: str):
    """NAME, NAME@ALIAS, NAME/VERSION or models:/... -> the MLflow ModelVersion (newest for a bare NAME)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    ref = ref.removeprefix("models:/")
    match = re.fullmatch(r"([^@/]+)(?:@([^/]+)|/(\d+))?", ref)
    if match is None:
        raise InputError(f"{ref!r} is not a model reference: use NAME, NAME@ALIAS or NAME/VERSION")
    name, alias, number = match.groups()
    try:
        if alias:
            return client.get_model_version_by_alias(name, alias)
        if number:
            return client.get_model_version(name, number)
        versions = client.search_model_versions(f"name='{name}'")
    except MlflowException as err:
        raise InputError(f"{ref}: {err.message}") from None
    if not versions:
        raise InputError(f"no registered model named {name!r}")
    return max(versions, key=lambda v: int(v.version))


def lineage(ref: str) -> list[tuple[str, str, str]]:
    """Rows (what, where, detail) from the model version down to its source files."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    version = resolve_version(ref)
    aliases = ", ".join(version.aliases) or "no alias"
    rows = [("model", f"{version.name} v{version.version} ({aliases})", version.tags.get("seqpipe.promotion", ""))]
    run = client.get_run(version.run_id)
    tags = run.data.tags
    rows.append(("stage run", f"{tags.get('seqpipe.stage', run.info.run_name)} {run.info.run_id}",
                 f"git {tags.get('seqpipe.git_commit', '?')[:12]}, config {tags.get('seqpipe.config_hash', '?')[:12]}"))
    if "mlflow.parentRunId" in tags:
        rows.append(("pipeline run", tags["mlflow.parentRunId"], ""))
    folder = tags.get("seqpipe.output")
    if folder:
        _walk(folder, 0, set(), rows)
    return rows


def _walk(folder: str, depth: int, seen: set, rows: list) -> None:
    seen.add(folder)
    indent = "  " * depth
    manifest_path = Path(folder) / "manifest.json"
    if not manifest_path.exists():
        rows.append((f"{indent}folder", folder, "gone (deleted or on another machine)"))
        return
    manifest = read_json(manifest_path)
    rows.append((f"{indent}{manifest.get('kind', 'folder')}", folder, f"content {manifest.get('content_hash', '?')[:16]}"))
    for split, paths in (manifest.get("files") or {}).items():
        paths = paths if isinstance(paths, list) else [paths]
        rows.append((f"{indent}  {split} data", ", ".join(map(str, paths)), ""))
    sources = manifest.get("sources") or []
    for source in sources[:MAX_SOURCES]:
        rows.append((f"{indent}  source", source.get("uri", "?"), f"sha256 {str(source.get('sha256', '?'))[:16]}"))
    if len(sources) > MAX_SOURCES:
        rows.append((f"{indent}  source", f"... {len(sources) - MAX_SOURCES} more", "listed in manifest.json"))
    for key in UPSTREAM_KEYS:
        upstream = manifest.get(key)
        upstream = upstream.get("uri") if isinstance(upstream, dict) else upstream
        if isinstance(upstream, str) and upstream not in seen:
            _walk(upstream, depth + 1, seen, rows)


def compare_runs(run_ids: list[str]) -> tuple[list[str], list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """Run names, then the params and the metrics whose values differ between the runs."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    runs = [client.get_run(run_id) for run_id in run_ids]
    names = [f"{r.info.run_name} {r.info.run_id[:8]}" for r in runs]
    return names, _differing([r.data.params for r in runs]), _differing(
        [{k: f"{v:.6g}" for k, v in r.data.metrics.items()} for r in runs])


def last_runs(experiment: str, n: int, stage: str | None = None) -> list[str]:
    """The ids of the newest n pipeline runs (or runs of one stage), oldest first."""
    import mlflow

    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise InputError(f"no MLflow experiment named {experiment!r}: run the pipeline first")
    query = f"tags.`seqpipe.stage` = '{stage}'" if stage else "tags.`seqpipe.kind` = 'pipeline'"
    runs = mlflow.search_runs([exp.experiment_id], filter_string=query, max_results=n,
                              order_by=["attributes.start_time DESC"], output_format="list")
    return [r.info.run_id for r in reversed(runs)]


def _differing(dicts: list[dict]) -> list[tuple[str, list[str]]]:
    keys = sorted(set().union(*dicts))
    rows = []
    for key in keys:
        values = [d.get(key, "-") for d in dicts]
        if len(set(values)) > 1:
            rows.append((key, values))
    return rows
