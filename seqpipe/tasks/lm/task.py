"""The language-model task of the shared training loop, and the model a folder holds.

A prepared folder (written by `seqpipe.tasks.lm.stage`) holds tokens.txt, model.json,
train_ids.npy / train_offsets.npy and dev_ids.npy / dev_offsets.npy (sentences with
<bos> and <eos>) and, when pretrained vectors are used, embedding_init.npy.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from seqpipe.tasks.lm.data import windows
from seqpipe.models.embedding import word_embedding
from seqpipe.models.language_model import LanguageModel
from seqpipe.training.loop import Task


def build_model(folder: Path, with_init: bool = True) -> LanguageModel:
    spec = json.loads((folder / "model.json").read_text())
    init_path = folder / "embedding_init.npy"
    initial = np.load(init_path) if with_init and init_path.exists() else None
    embedding = word_embedding(spec["num_tokens"], spec["dim"], initial, spec["freeze"])
    enc = spec["encoder"]
    return LanguageModel(embedding, enc["cell"], enc["hidden"], enc["layers"], enc["dropout"], spec["cutoffs"],
                         tie=spec.get("tie_embeddings", False))  # folders written before tying: own output weights


def collate(ids: np.ndarray, spans: list[tuple[int, int]], training: bool = True) -> dict:
    """Inputs span[:-1] and targets span[1:] (teacher forcing), padded with 0."""
    longest = max(e - s for s, e in spans) - 1
    inputs = torch.zeros(len(spans), longest, dtype=torch.long)
    targets = torch.zeros_like(inputs)
    for row, (s, e) in enumerate(spans):
        piece = torch.from_numpy(ids[s:e].astype(np.int64))
        inputs[row, : e - s - 1], targets[row, : e - s - 1] = piece[:-1], piece[1:]
    return {"inputs": inputs, "lengths": torch.tensor([e - s - 1 for s, e in spans]), "targets": targets}


def negative_log_likelihood(model: LanguageModel, ids: np.ndarray, spans: list, batch_size: int = 64) -> list:
    """(summed negative log-likelihood, predictions) of each batch of spans."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(spans), batch_size):
        batch = {k: v.to(device) for k, v in collate(ids, spans[start:start + batch_size]).items()}
        loss, count = model(**batch)
        out.append((loss.item() * count, count))
    return out


def perplexity(outcomes: list) -> dict:
    total, count = sum(o[0] for o in outcomes), sum(o[1] for o in outcomes)
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def build_task(task_config: dict, device) -> Task:
    folder = Path(task_config["folder"])
    max_len = task_config["max_len"]
    train_ids = np.load(folder / "train_ids.npy", mmap_mode="r")
    dev_ids = np.load(folder / "dev_ids.npy")
    train = windows(np.load(folder / "train_offsets.npy"), max_len)
    dev = sorted(windows(np.load(folder / "dev_offsets.npy"), max_len), key=lambda s: s[1] - s[0])
    model = build_model(folder)
    return Task(model=model, train=train, dev=dev, unused_parameters=model.adaptive is not None,
                collate=lambda spans, training: collate(train_ids, spans, training),
                evaluate=lambda model, spans: negative_log_likelihood(model, dev_ids, spans),
                summarize=perplexity, metric="perplexity", mode="min", length=lambda s: s[1] - s[0])
