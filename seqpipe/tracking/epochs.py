"""Epochs as the workers log them, watched from the driver.

Rank 0 logs each epoch's metrics to the stage's MLflow run (seqpipe.training.loop.log_epoch);
`watch_epochs` polls that run and reports each new epoch (seqpipe.core.progress), so the
console and the Prefect UI show how far a stage is wherever its workers run.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from seqpipe.core.progress import Update, report

POLL_SECONDS = 2.0


@contextlib.contextmanager
def watch_epochs(run_id: str, stage: str, total: int, every: float = POLL_SECONDS) -> Iterator[None]:
    """Report every epoch the run `run_id` logs while the block runs (MLflow must be configured)."""
    from mlflow.tracking import MlflowClient

    client, stop, seen = MlflowClient(), threading.Event(), [0]

    def check() -> None:
        try:
            metrics = client.get_run(run_id).data.metrics
        except Exception:  # an outage: the epochs show again when the server is back
            return
        epoch = int(metrics.get("epoch", 0))
        if epoch > seen[0]:
            seen[0] = epoch
            report(Update(stage, "advance", epoch, total, "epochs", dict(metrics)))

    def poll() -> None:
        while not stop.wait(every):
            check()

    thread = threading.Thread(target=poll, name=f"seqpipe-epochs-{stage}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        check()  # the last epoch, however soon after it the stage ended
