"""A stage's progress in the Prefect UI: a progress artifact on the task run, updated at every
shard or epoch, and one log line per epoch (rank 0's metrics, as the driver sees them in MLflow),
so a person watching a flow run's page sees how far each stage is."""
from __future__ import annotations

import re

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from seqpipe.core.progress import Update


class StageProgressArtifact:
    """A progress listener (seqpipe.core.progress) for one stage's updates."""

    def __init__(self, stage: str, logger):
        self.stage, self.logger, self.artifact = stage, logger, None

    def __call__(self, update: Update) -> None:
        if update.stage != self.stage:
            return
        if update.kind == "start":  # in the task's own thread: the artifact belongs to its task run
            key = re.sub(r"[^a-z0-9-]+", "-", f"{self.stage}-progress".lower())
            self.artifact = create_progress_artifact(0.0, key=key, description=f"{self.stage}: share of the "
                                                     f"{update.unit or 'work'} done")
        elif self.artifact is None:
            return
        elif update.kind == "advance" and update.total:
            update_progress_artifact(self.artifact, 100.0 * update.done / update.total)
            if update.unit == "epochs":
                shown = ", ".join(f"{k} {v:.4g}" for k, v in update.metrics.items() if k not in ("epoch", "step"))
                self.logger.info("%s epoch %d/%d: %s", self.stage, update.done, update.total, shown)
        elif update.kind == "end":
            update_progress_artifact(self.artifact, 100.0)
