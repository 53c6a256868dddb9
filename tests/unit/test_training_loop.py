"""The shared training loop's pieces, run in-process (one worker, no Ray)."""
import math
import random
import time

import pytest
import torch
from torch import nn

from seqpipe.config import TrainConfig
from seqpipe.training.loop import Progress, Task, _advance, make_batches, make_optimizer, train_epoch


class Regression(nn.Module):
    """y = w.x with a loss that can be made NaN at a chosen step."""

    def __init__(self, nan_at: int | None = None):
        super().__init__()
        self.w = nn.Linear(4, 1, bias=False)
        self.calls, self.nan_at = 0, nan_at

    def forward(self, x, y):
        self.calls += 1
        loss = ((self.w(x).squeeze(-1) - y) ** 2).mean()
        if self.nan_at is not None and self.calls > self.nan_at:
            loss = loss * float("nan")
        return loss, len(y)


def regression_task(model, n=64, scale=1.0):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g) * scale
    data = [(x[i], (x[i] * torch.tensor([1.0, -2.0, 3.0, 0.5])).sum() * 100) for i in range(n)]
    collate = lambda batch, training: {"x": torch.stack([b[0] for b in batch]), "y": torch.stack([b[1] for b in batch])}  # noqa: E731
    return Task(model=model, train=data, dev=data, collate=collate, evaluate=lambda m, ex: [],
                summarize=lambda o: {}, metric="loss", mode="min", length=lambda e: 1)


def test_every_worker_gets_the_same_number_of_batches_and_all_examples_are_seen():
    examples = list(range(103))
    shares = [make_batches(examples, 8, random.Random(5), lambda e: e % 7, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shares}) == 1, "unequal batch counts would hang DDP"
    seen = {e for share in shares for batch in share for e in batch}
    assert seen == set(examples)
    assert sum(len(b) for s in shares for b in s) == 105  # 103 rounded up to a multiple of 3 workers


def test_batches_group_examples_of_similar_length():
    examples = [list(range(n)) for n in range(1, 401)]
    batches = make_batches(examples, 16, random.Random(0), len)
    spread = max(max(map(len, b)) - min(map(len, b)) for b in batches)
    assert spread < 40, "within a pool, batches are cut from length-sorted examples"


def test_clipping_bounds_the_update_and_logs_the_norm_before_clipping():
    model = Regression()
    cfg = TrainConfig(optimizer="sgd", momentum=0.0, lr=0.1, clip_norm=1.0, batch_size=64, num_workers=1)
    before = model.w.weight.detach().clone()
    stats = train_epoch(model, make_optimizer(cfg, model.parameters()), regression_task(model), cfg, 0, 0, 1,
                        torch.device("cpu"), time.perf_counter())
    step = (model.w.weight.detach() - before).norm().item()
    assert stats["grad_norm"] > 100, "the logged norm is the one before clipping"
    assert step == pytest.approx(cfg.lr * cfg.clip_norm, rel=1e-4), "one SGD step of a gradient clipped to norm 1"
    assert stats["clipped_fraction"] == 1.0


def test_without_clipping_the_same_step_is_far_larger():
    model = Regression()
    cfg = TrainConfig(optimizer="sgd", momentum=0.0, lr=0.1, clip_norm=None, batch_size=64, num_workers=1)
    before = model.w.weight.detach().clone()
    train_epoch(model, make_optimizer(cfg, model.parameters()), regression_task(model), cfg, 0, 0, 1,
                torch.device("cpu"), time.perf_counter())
    assert (model.w.weight.detach() - before).norm().item() > 10


def test_a_nan_loss_stops_the_epoch_before_the_weights_change():
    model = Regression(nan_at=2)
    cfg = TrainConfig(batch_size=8, num_workers=1)
    optimizer = make_optimizer(cfg, model.parameters())
    stats = train_epoch(model, optimizer, regression_task(model), cfg, 0, 0, 1, torch.device("cpu"), time.perf_counter())
    assert stats["diverged"] == 1.0 and "loss is nan" in stats["reason"] and "step 2" in stats["reason"]
    assert torch.isfinite(model.w.weight).all(), "the NaN step was not applied"
    progress = _advance(Progress(), stats, regression_task(model), cfg)
    assert progress.stopped.startswith("diverged")


def test_early_stopping_counts_epochs_without_improvement():
    task = regression_task(Regression())
    task.metric, task.mode = "f1", "max"
    cfg = TrainConfig(patience=2, min_delta=0.01)
    progress = Progress()
    for value in (0.5, 0.7, 0.705, 0.69):
        progress = _advance(progress, {"dev_f1": value}, task, cfg)
    assert progress.best == 0.7 and progress.best_epoch == 2
    assert progress.stopped == "no better dev_f1 for 2 epochs" and progress.epoch == 4


def test_minimised_metrics_improve_downwards():
    task = regression_task(Regression())
    progress = Progress()
    for value in (10.0, 8.0, math.inf):
        progress = _advance(progress, {"dev_loss": value}, task, TrainConfig(patience=None))
    assert progress.best == 8.0 and not progress.stopped


def test_an_epoch_cut_short_by_the_time_budget_does_not_count_against_patience():
    model = Regression()
    cfg = TrainConfig(batch_size=8, num_workers=1, max_minutes=0.001, patience=1)
    long_ago = time.perf_counter() - 3600  # the budget is spent after the first step
    stats = train_epoch(model, make_optimizer(cfg, model.parameters()), regression_task(model), cfg, 1, 0, 1,
                        torch.device("cpu"), long_ago)
    assert stats["steps"] == 1 and stats["partial_epoch"] == 1.0
    full = train_epoch(model, make_optimizer(cfg, model.parameters()), regression_task(model), cfg, 1, 0, 1,
                       torch.device("cpu"), time.perf_counter())
    assert full["steps"] == 8 and "partial_epoch" not in full
    progress = _advance(Progress(), {"dev_loss": 1.0}, regression_task(model), cfg)
    progress = _advance(progress, {"dev_loss": 2.0, **stats}, regression_task(model), cfg)
    assert progress.bad_epochs == 0 and not progress.stopped and progress.epoch == 2
    progress = _advance(progress, {"dev_loss": 2.0}, regression_task(model), cfg)
    assert progress.bad_epochs == 1 and progress.stopped  # a whole epoch without improvement does count


def test_generator_states_survive_json_and_give_the_same_draws():
    import json

    import numpy as np

    from seqpipe.training import rng

    own = [random.Random(), random.Random()]
    rng.seed_worker(7, 1, own)
    saved = json.loads(json.dumps(rng.capture(own)))
    expected = (random.random(), np.random.rand(), torch.rand(3).tolist(), own[0].random(), own[1].random())
    for _ in range(3):  # draw something else, then go back
        random.random(), np.random.rand(5), torch.rand(9), own[0].random()
    rng.restore(saved, own)
    assert (random.random(), np.random.rand(), torch.rand(3).tolist(), own[0].random(), own[1].random()) == expected
    rng.seed_worker(7, 0, own)
    assert torch.rand(3).tolist() != expected[2] and own[0].random() != expected[3]  # another rank, other draws
    with pytest.raises(ValueError, match="task generators"):
        rng.restore(saved, own[:1])
