"""Every random number generator a training worker draws from, as JSON, for checkpoints.

A resumed run must draw what the uninterrupted run would have drawn: dropout masks (torch),
anything numpy or Python's `random` decide, and the task's own generators (word dropout).
Each worker seeds them with seed + rank (workers must not share dropout masks), the states
of all workers go into the checkpoint as plain JSON (nothing is unpickled on resume), and a
restarted worker takes back its own. The order of the data is not among them: each epoch's
order is drawn afresh from (seed, epoch) by `make_batches`' caller.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_worker(seed: int, rank: int, task_rngs: list[random.Random]) -> None:
    """Seed the global generators with seed + rank and the task's own with (seed, rank, index)."""
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)
    for index, generator in enumerate(task_rngs):
        generator.seed(f"{seed}-{rank}-{index}")


def capture(task_rngs: list[random.Random]) -> dict:
    """This worker's generator states, JSON-able."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": _python_state(random.getstate()), "numpy": [kind, keys.tolist(), pos, has_gauss, gauss],
            "torch": torch.get_rng_state().tolist(),
            "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else None,
            "task": [_python_state(g.getstate()) for g in task_rngs]}


def restore(state: dict, task_rngs: list[random.Random]) -> None:
    """Put back what `capture` saw (the task must own as many generators as it did then)."""
    if len(state["task"]) != len(task_rngs):
        raise ValueError(f"the checkpoint holds {len(state['task'])} task generators, the task has {len(task_rngs)}")
    random.setstate(_python_tuple(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])
    for generator, saved in zip(task_rngs, state["task"]):
        generator.setstate(_python_tuple(saved))


def _python_state(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_tuple(state: list) -> tuple:
    version, internal, gauss = state
    return version, tuple(internal), gauss
