"""A training task whose loss turns NaN at its fifth step, for the shared loop's divergence test."""
import torch
from torch import nn

from seqpipe.training.loop import Task


class TurnsNaN(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(2, 1)
        self.steps = 0

    def forward(self, x):
        self.steps += self.training
        loss = self.w(x).pow(2).mean()
        return (loss * float("nan") if self.steps >= 5 else loss), len(x)


def build_task(task_config: dict, device) -> Task:
    data = [torch.randn(2) for _ in range(64)]
    return Task(model=TurnsNaN(), train=data, dev=data, collate=lambda batch, training: {"x": torch.stack(batch)},
                evaluate=lambda model, examples: [0.0], summarize=lambda outcomes: {"loss": 0.0},
                metric="loss", mode="min", length=lambda e: 1)


class LossTurnsInfOnOneWorker:
    """An EpochTask (as word2vec's and GloVe's) whose loss on rank 1 only is infinite from epoch 1."""

    def start(self, rank: int, world: int) -> None:
        self.rank, self.epochs = rank, 0

    def run_epoch(self, epoch: int) -> dict:
        self.epochs += 1
        return {"loss": float("inf") if self.rank == 1 and epoch >= 1 else 1.0}

    def state(self) -> dict:
        return {"w": torch.zeros(2).numpy()}

    def progress(self) -> dict:
        return {"epochs_run": self.epochs}

    def load_state(self, arrays, progress) -> None:
        pass


def build_epoch_task(task_config: dict, device) -> LossTurnsInfOnOneWorker:
    return LossTurnsInfOnOneWorker()
