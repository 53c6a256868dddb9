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
