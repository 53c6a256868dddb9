"""A small regression task that draws from every generator a worker has (dropout, numpy,
Python's random, a task-owned generator) and can kill its own worker once, mid-epoch."""
import os
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seqpipe.training.loop import Task


class NoisyRegression(nn.Module):
    def __init__(self, kill_at_step: int | None, marker: str):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.5), nn.Linear(16, 1))
        self.steps, self.kill_at_step, self.marker = 0, kill_at_step, Path(marker)

    def forward(self, x, y):
        self.steps += self.training
        if self.training and self.steps == self.kill_at_step and not self.marker.exists():
            self.marker.touch()
            os._exit(1)  # the worker process dies as if killed; Ray Train restarts the group
        noise = float(np.random.normal(0, 0.01)) + random.uniform(-0.01, 0.01)
        return ((self.net(x).squeeze(-1) - y + noise) ** 2).mean(), len(y)


def build_task(task_config: dict, device) -> Task:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    data = [(x[i], x[i].sum()) for i in range(len(x))]
    own = random.Random()

    def collate(batch, training):
        jitter = [own.gauss(0, 0.05) if training else 0.0 for _ in batch]
        return {"x": torch.stack([b[0] for b in batch]) + torch.tensor(jitter)[:, None],
                "y": torch.stack([b[1] for b in batch])}

    def evaluate(model, examples):
        return [float(((model(**collate([e], False))[0]))) for e in examples]

    return Task(model=NoisyRegression(task_config.get("kill_at_step"), task_config["marker"]), train=data,
                dev=data[:32], collate=collate, evaluate=evaluate, summarize=lambda o: {"loss": float(np.mean(o))},
                metric="loss", mode="min", length=lambda e: 1, rngs=[own])
