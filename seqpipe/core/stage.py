"""The one stage skeleton: input hash -> reuse -> atomic write -> manifest -> StageResult.

A stage names its output folder <out>/<kind>-<hash>/ by the hash of everything it reads
(data, upstream folders, config), so an unchanged rerun finds the folder complete and
reuses it. Otherwise `build` writes into a hidden temporary folder that is renamed into
place only when complete (seqpipe.core.artifacts) and returns the manifest's fields.

Every manifest holds `kind`, `schema_version`, `input_hash` and `content_hash`, and what
tracking logs without knowing the task: `metrics` (numbers), `artifacts` (files and
folders of the output to log), `predictor` (the dotted path of the class that loads the
folder for inference, seqpipe.core.predictor) and `datasets` (the inputs, by URI and
digest). Tracking reads the manifest; it imports no task.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pydantic import BaseModel

from seqpipe.core.artifacts import SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_json, write_json
from seqpipe.core import store
from seqpipe.core.errors import InputError
from seqpipe.core.paths import is_uri
from seqpipe.core.store import Output


class StageInputs(BaseModel):
    """The upstream outputs a stage may read (folder paths); each stage takes what it needs."""
    corpus: str | None = None
    vocab: str | None = None
    embeddings: str | None = None  # an embeddings folder or a word2vec / GloVe file
    lm: str | None = None  # a character-level language model folder (speech: shallow fusion)


@dataclass(frozen=True)
class Gate:
    """What judges a registered version in the promotion gate (seqpipe.tracking.registry): the
    first of `metrics` the stage produced, and whether higher ("max") or lower ("min") is better.
    `baseline`: the metric a run's summary shows beside it (the unigram model's perplexity,
    greedy decoding's BLEU), where there is one."""
    metrics: tuple[str, ...]
    mode: str = "max"
    baseline: str | None = None


class StageResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    metrics: dict = {}


def stage_input_hash(**parts) -> str:
    """The hash that names a stage's output: the schema version and everything it reads."""
    return sha256_json({"schema_version": SCHEMA_VERSION, **parts})


def output_folder(out: str | None, runtime, section: str, kind: str, input_hash: str) -> Output:
    """<out or state_dir/section>/<kind>-<hash16>: absolute (Ray workers run elsewhere), or on
    object storage with its working copy under runtime.store_cache (seqpipe.core.store)."""
    parent, name = out or f"{runtime.state_dir.rstrip('/')}/{section}", f"{kind}-{input_hash[:16]}"
    if is_uri(parent):
        uri = f"{parent.rstrip('/')}/{name}"
        return Output(store.working_copy(uri, runtime.store_cache), uri)
    local = Path(parent).expanduser().resolve() / name
    return Output(local, str(local))


def run_stage(final: Output | Path, kind: str, input_hash: str, build: Callable[[Path], dict],
              result: Callable[[Path, bool], BaseModel] | None = None) -> BaseModel:
    """Reuse `final` when published; else build(tmp) writes the output and returns the
    manifest's fields, and the folder is published whole. Returns result(folder, reused),
    its `uri` the published folder's.

    On object storage a folder is new (reused False: to be registered and gated) only when this
    run publishes it, also when an earlier run built it here and failed to publish it; when
    another writer publishes first, its folder is the output, reused (that writer registers it)."""
    final = final if isinstance(final, Output) else Output(Path(final), str(final))
    result = result or stage_result
    if final.remote and store.is_published(final.uri):
        return result(store.fetch(final.uri, final.local), True).model_copy(update={"uri": final.uri})
    built_before = is_complete(final.local)  # on object storage: built here, its publishing interrupted
    if not built_before:
        with atomic_folder(final.local) as tmp:
            fields = build(tmp)
            write_json(tmp / "manifest.json", {"kind": kind, "schema_version": SCHEMA_VERSION,
                                               "input_hash": input_hash, **fields})
    if final.remote:
        if not store.publish(final.local, final.uri):  # another writer won: use its folder, drop ours
            return result(store.fetch(final.uri, final.local), True).model_copy(update={"uri": final.uri})
        return result(final.local, False).model_copy(update={"uri": final.uri})
    return result(final.local, built_before).model_copy(update={"uri": final.uri})


def local_folder(uri: str | None, cache: Path) -> str | None:
    """A stage folder to read on this machine: `uri` itself, or the working copy of a folder
    on object storage (downloaded when this machine has none)."""
    if not uri or not is_uri(uri) or not store.is_published(uri):
        return uri
    return str(store.fetch(uri, store.working_copy(uri, cache)))


def stage_result(folder: Path, reused: bool) -> StageResult:
    manifest = read_json(folder / "manifest.json")
    return StageResult(uri=str(folder), content_hash=manifest["content_hash"], reused=reused,
                       metrics=manifest.get("metrics", {}))


def require_folders(**folders: str | None) -> None:
    """Each named upstream folder exists and is complete (kind=path)."""
    for kind, folder in folders.items():
        if not folder or not is_complete(folder):
            raise InputError(f"{folder}: not a {kind} folder (no manifest.json)")


def numeric(metrics: dict) -> dict:
    """The metrics a manifest lists and MLflow logs: numbers only."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def write_rejects(folder: Path, rejects: list) -> None:
    """rejects.jsonl: one JSON object per rejected record (seqpipe.core.dataset.Reject)."""
    (folder / "rejects.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in rejects), encoding="utf-8")
