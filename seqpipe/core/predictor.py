"""What a trained model folder offers for inference, and how it is found from the folder alone.

Each task has a predictor class (seqpipe/tasks/<task>/predictor.py) built from its output
folder; the stage writes its dotted path ("module:Class") into the manifest, so tracking,
the CLI and other tasks (speech fusing a character LM) load any folder without importing
the task that wrote it.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

from seqpipe.core.artifacts import is_complete, read_json
from seqpipe.core.errors import InputError


@runtime_checkable
class Predictor(Protocol):
    """Built from a folder; `predict` maps a list of inputs (text, words, audio paths) to outputs."""

    def __init__(self, folder: str | Path): ...

    def predict(self, inputs: list) -> list: ...


def predictor_class(dotted: str) -> type:
    """The class named "package.module:Class"."""
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def load_predictor(folder: str | Path, kind: str | None = None):
    """The predictor of a stage's output folder, by the dotted path in its manifest; with
    `kind`, the folder must be one of that kind ("ner", "lm", ...)."""
    folder = Path(folder)
    if not is_complete(folder):
        raise InputError(f"{folder}: not a model folder (no manifest.json)")
    manifest = read_json(folder / "manifest.json")
    if kind and manifest.get("kind") != kind:
        raise InputError(f"{folder}: a {manifest.get('kind')!r} folder, not a {kind!r} one")
    # folders written before manifests named their predictor: the task folder's `Predictor`
    dotted = manifest.get("predictor") or f"seqpipe.tasks.{manifest.get('kind')}.predictor:Predictor"
    try:
        cls = predictor_class(dotted)
    except (ImportError, AttributeError):
        raise InputError(f"{folder}: no predictor {dotted} for a {manifest.get('kind')!r} folder") from None
    return cls(folder)
