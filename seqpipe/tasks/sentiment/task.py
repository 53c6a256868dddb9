"""The sentiment task of the shared training loop, and the classifier a model folder holds.

A prepared folder (written by `seqpipe.tasks.sentiment.stage`) holds words.txt, labels.txt,
model.json (the classifier's hyperparameters), data.json (word ids and label id of every
text) and, when pretrained vectors are used, embedding_init.npy.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score

from seqpipe.models.classifier import SequenceClassifier
from seqpipe.models.embedding import word_embedding
from seqpipe.training.loop import Task

PAD, UNK = 0, 1


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def build_classifier(folder: Path, with_init: bool = True) -> SequenceClassifier:
    """The classifier of a prepared or trained folder (pretrained rows loaded when with_init)."""
    spec = json.loads((folder / "model.json").read_text())
    init_path = folder / "embedding_init.npy"
    initial = np.load(init_path) if with_init and init_path.exists() else None
    words = word_embedding(spec["num_words"], spec["word_dim"], initial, spec["freeze"],
                           tuned_rows=spec.get("tuned_words"))
    enc = spec["encoder"]
    return SequenceClassifier(words, len(read_lines(folder / "labels.txt")), enc["cell"], enc["hidden"],
                              enc["layers"], enc["bidirectional"], enc["dropout"], spec["pooling"])


def collate(examples: list, training: bool, word_dropout: float = 0.0, rng=None) -> dict:
    """Pad a batch of (word ids, label id); in training, words become <unk> with probability word_dropout."""
    longest = max(len(ids) for ids, _ in examples)
    words = torch.zeros(len(examples), longest, dtype=torch.long)
    for row, (ids, _) in enumerate(examples):
        if training and word_dropout:
            ids = [UNK if rng.random() < word_dropout else i for i in ids]
        words[row, :len(ids)] = torch.tensor(ids)
    batch = {"words": words, "lengths": torch.tensor([len(ids) for ids, _ in examples])}
    if training:
        batch["labels"] = torch.tensor([label for _, label in examples])
    return batch


def probabilities(model: SequenceClassifier, examples: list, batch_size: int = 256) -> torch.Tensor:
    """(N, labels): the label distribution of each example."""
    device = next(model.parameters()).device
    out = [model.probabilities(**{k: v.to(device) for k, v in collate(examples[i:i + batch_size], False).items()})
           for i in range(0, len(examples), batch_size)]
    return torch.cat(out).cpu()


def scores(outcomes: list[tuple[int, int]]) -> dict:
    """Accuracy and macro-F1 of (gold, predicted) label ids."""
    gold, predicted = [g for g, _ in outcomes], [p for _, p in outcomes]
    return {"accuracy": accuracy_score(gold, predicted),
            "macro_f1": f1_score(gold, predicted, average="macro", zero_division=0)}


def build_task(task_config: dict, device) -> Task:
    """The shared loop's view of sentiment: texts, batching and accuracy on the dev set."""
    folder = Path(task_config["folder"])
    data = json.loads((folder / "data.json").read_text())
    rng = random.Random(task_config.get("seed", 0))

    def evaluate(model, examples):
        predicted = probabilities(model, examples).argmax(dim=-1).tolist()
        return [(label, p) for (_, label), p in zip(examples, predicted)]

    return Task(model=build_classifier(folder), train=data["train"], dev=data["dev"],
                collate=lambda batch, training: collate(batch, training, task_config["word_dropout"], rng),
                evaluate=evaluate, summarize=scores, metric="accuracy", mode="max",
                length=lambda e: len(e[0]), rngs=[rng])
