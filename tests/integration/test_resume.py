"""A run whose worker dies mid-epoch resumes from its checkpoint and repeats, bit for bit,
what the uninterrupted run did: model, optimiser, progress and every generator come back."""
import pytest

from seqpipe.config import RuntimeConfig, TrainConfig
from seqpipe.training.loop import fit

pytestmark = pytest.mark.slow
TASK = "tests.integration.resumable_task:build_task"
# 96 examples, 2 workers, batches of 8: 6 steps per worker and epoch; step 15 lies in epoch 3
CFG = TrainConfig(epochs=5, batch_size=8, lr=0.01, patience=None, num_workers=2, threads_per_worker=1, max_failures=2)
TIMING = {"tokens_per_s", "epoch_seconds"}


def history(tmp_path, name: str, kill_at_step: int | None) -> list[dict]:
    task_config = {"marker": str(tmp_path / f"{name}.killed"), "kill_at_step": kill_at_step}
    result = fit(TASK, task_config, CFG, RuntimeConfig(state_dir=str(tmp_path / name)), run_name=name, mode="min")
    assert result.progress["epoch"] == CFG.epochs
    return [{k: v for k, v in epoch.items() if k not in TIMING} for epoch in result.progress["history"]]


def test_a_worker_killed_mid_epoch_resumes_into_the_uninterrupted_run(ray_session, tmp_path):
    uninterrupted = history(tmp_path, "clean", None)
    resumed = history(tmp_path, "killed", 15)
    assert (tmp_path / "killed.killed").exists(), "the worker was killed once"
    # CPU kernels, gloo's all-reduce and the data order are deterministic: equal, not close
    assert resumed == uninterrupted
    assert len({round(e["train_loss"], 12) for e in uninterrupted}) == CFG.epochs
