"""Train a downstream task into its output folder: what every task's stage does the same way."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seqpipe.training.loop import FitResult, fit


def train_model(folder: Path, task: str, task_config: dict, cfg, runtime, run_name: str, mode: str,
                mlflow_run_id: str | None) -> tuple[dict, FitResult]:
    """Fit `task` ("module:build_task") on Ray Train and save the best epoch's weights as
    folder/model.pt; returns the training summary (best_epoch, epochs, stopped, history)
    and the fit result."""
    runtime = runtime.absolute()  # workers' cwd differs
    result = fit(task, task_config, cfg, runtime, run_name, mode=mode, mlflow_run_id=mlflow_run_id)
    torch.save(result.best_state, folder / "model.pt")
    progress = result.progress
    return {"best_epoch": progress["best_epoch"], "epochs": progress["epoch"],
            "stopped": progress["stopped"] or "epochs done", "history": progress["history"]}, result


def mean_over_epochs(history: list[dict], key: str) -> float:
    """The mean of a per-epoch figure (throughput) over the epochs that report it."""
    return float(np.mean([h[key] for h in history if key in h] or [0]))
