"""The worker loop's checkpoints: written by rank 0, reported to Ray Train, read back on resume.

Nothing is unpickled on resume. A supervised `Task`'s checkpoint holds `model.pt` and
`optimizer.pt` (state dicts, loaded with weights_only=True), `progress.json` and `rng.json`
(every worker's generator states, `seqpipe.training.rng`). An `EpochTask`'s holds one
`<name>.npy` per array of its state (loaded with allow_pickle=False) and `progress.json`:
{"epoch", the task's own progress fields, "history"}.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from seqpipe.core.paths import load_weights


def report(metrics: dict, write: Callable[[Path], None] | None) -> None:
    """ray.train.report on every worker; the one given `write` (rank 0) fills the checkpoint."""
    import ray.train

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if write is not None:
            write(Path(folder))
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report(metrics, checkpoint=checkpoint)


def save_model(folder: Path, model, optimizer, progress: dict, rng_states: list) -> None:
    torch.save(model.state_dict(), folder / "model.pt")
    torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    (folder / "progress.json").write_text(json.dumps(progress))
    (folder / "rng.json").write_text(json.dumps({"workers": rng_states}))


def load_model(checkpoint, model, optimizer) -> tuple[dict, list]:
    """Model and optimiser state in place; returns (progress, every worker's generator states)."""
    with checkpoint.as_directory() as folder:
        model.load_state_dict(load_weights(Path(folder) / "model.pt"))
        optimizer.load_state_dict(load_weights(Path(folder) / "optimizer.pt"))
        saved = Path(folder) / "rng.json"  # absent in checkpoints written by older seqpipe
        states = json.loads(saved.read_text())["workers"] if saved.exists() else []
        return _progress(Path(folder)), states


def load_model_state(checkpoint) -> dict:
    with checkpoint.as_directory() as folder:
        return load_weights(Path(folder) / "model.pt")


def save_arrays(folder: Path, arrays: dict[str, np.ndarray], progress: dict) -> None:
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    (folder / "progress.json").write_text(json.dumps(progress))


def load_arrays(checkpoint, names: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """(the named arrays, or all of them; progress) of an EpochTask's checkpoint."""
    with checkpoint.as_directory() as folder:
        folder = Path(folder)
        paths = [folder / f"{name}.npy" for name in names] if names is not None else sorted(folder.glob("*.npy"))
        arrays = {path.stem: np.load(path, allow_pickle=False) for path in paths}
        return arrays, _progress(folder)


def load_progress(checkpoint) -> dict:
    with checkpoint.as_directory() as folder:
        return _progress(Path(folder))


def _progress(folder: Path) -> dict:
    return json.loads((folder / "progress.json").read_text())
