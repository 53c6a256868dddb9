"""The NER task of the shared training loop, and the tagger a model folder holds.

A prepared folder (written by `seqpipe.tasks.ner.stage`) holds words.txt, chars.txt, tags.txt
(BIOES), model.json (the tagger's hyperparameters), data.json (the sentences) and, when
pretrained vectors are used, embedding_init.npy.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from seqeval.metrics import classification_report

from seqpipe.models.embedding import word_embedding
from seqpipe.models.tagger import Tagger, casing
from seqpipe.tasks.ner.schemes import allowed_transitions
from seqpipe.training.loop import Task

PAD, UNK = 0, 1
MAX_WORD_CHARS = 30  # characters of a word the character features read (longer words are cut)


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


class Encoder:
    """Tokens -> the tagger's input ids (words, casing, characters), from a folder's vocabularies."""

    def __init__(self, folder: Path):
        self.words = {w: i for i, w in enumerate(read_lines(folder / "words.txt"))}
        self.chars = {c: i for i, c in enumerate(read_lines(folder / "chars.txt"))}
        self.tags = read_lines(folder / "tags.txt")
        self.tag_ids = {t: i for i, t in enumerate(self.tags)}
        self.model = json.loads((folder / "model.json").read_text())

    def encode(self, tokens: list[str], tags: list[str] | None = None) -> dict:
        key = str.lower if self.model["lowercase"] else str
        return {"words": [self.words.get(key(t), UNK) for t in tokens],
                "casing": [casing(t) for t in tokens],
                "chars": [[self.chars.get(c, UNK) for c in t[:MAX_WORD_CHARS]] for t in tokens],
                "tags": [self.tag_ids.get(t, 0) for t in tags] if tags else None,
                "gold": tags}


def build_tagger(folder: Path, with_init: bool = True) -> Tagger:
    """The tagger of a prepared or trained folder (pretrained rows loaded when with_init)."""
    spec = json.loads((folder / "model.json").read_text())
    init_path = folder / "embedding_init.npy"
    initial = np.load(init_path) if with_init and init_path.exists() else None
    words = word_embedding(spec["num_words"], spec["word_dim"], initial, spec["freeze"],
                           tuned_rows=spec.get("tuned_words"))
    tags = read_lines(folder / "tags.txt")
    allowed = [torch.tensor(a) for a in allowed_transitions(tags, "bioes")] if spec["crf"] else None
    enc = spec["encoder"]
    return Tagger(words, len(tags), spec["num_chars"], spec["char_dim"], spec["char_hidden"], enc["cell"],
                  enc["hidden"], enc["layers"], enc["bidirectional"], enc["dropout"], spec["crf"], allowed)


def collate(examples: list[dict], training: bool, word_dropout: float = 0.0, rng=None) -> dict:
    """Pad a batch; in training, words are replaced by <unk> with probability word_dropout."""
    longest = max(len(e["words"]) for e in examples)
    widest = max((len(c) for e in examples for c in e["chars"]), default=1) or 1
    words = torch.zeros(len(examples), longest, dtype=torch.long)
    case = torch.zeros_like(words)
    tags = torch.zeros_like(words)
    chars = torch.zeros(len(examples), longest, widest, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["words"])
        ids = e["words"]
        if training and word_dropout:
            ids = [UNK if rng.random() < word_dropout else i for i in ids]
        words[row, :n] = torch.tensor(ids)
        case[row, :n] = torch.tensor(e["casing"])
        if e["tags"] is not None:
            tags[row, :n] = torch.tensor(e["tags"])
        for col, c in enumerate(e["chars"]):
            chars[row, col, :len(c)] = torch.tensor(c)
    batch = {"words": words, "casing": case, "lengths": torch.tensor([len(e["words"]) for e in examples]),
             "chars": chars}
    if training:
        batch["tags"] = tags
    return batch


def predict(model: Tagger, encoder: Encoder, examples: list[dict], batch_size: int = 64) -> list[list[str]]:
    """BIOES tags for each example."""
    out = []
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start:start + batch_size], training=False)
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        out += [[encoder.tags[i] for i in row] for row in model.decode(**batch)]
    return out


def to_iob2(tags: list[str]) -> list[str]:
    """BIOES -> IOB2 for seqeval, leniently (a predicted sequence need not be well formed)."""
    return [("B" + t[1:] if t[0] == "S" else "I" + t[1:] if t[0] == "E" else t) for t in tags]


def entity_scores(outcomes: list[tuple[list[str], list[str]]]) -> dict:
    """Entity-level precision, recall and F1 (seqeval, CoNLL rules), overall and per type."""
    gold = [to_iob2(g) for g, _ in outcomes]
    pred = [to_iob2(p) for _, p in outcomes]
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    scores = {"f1": report["micro avg"]["f1-score"], "precision": report["micro avg"]["precision"],
              "recall": report["micro avg"]["recall"]}
    for kind, row in report.items():
        if "avg" not in kind:
            scores[f"f1_{kind}"] = row["f1-score"]
    return scores


def build_task(task_config: dict, device) -> Task:
    """The shared loop's view of NER: examples, batching and entity-level F1 on the dev set."""
    folder = Path(task_config["folder"])
    encoder = Encoder(folder)
    data = json.loads((folder / "data.json").read_text())
    train = [encoder.encode(tokens, tags) for tokens, tags in data["train"]]
    dev = [encoder.encode(tokens, tags) for tokens, tags in data["dev"]]
    rng = random.Random(task_config.get("seed", 0))

    def evaluate(model, examples):
        return list(zip([e["gold"] for e in examples], predict(model, encoder, examples)))

    return Task(model=build_tagger(folder), train=train, dev=dev,
                collate=lambda batch, training: collate(batch, training, task_config["word_dropout"], rng),
                evaluate=evaluate, summarize=entity_scores, metric="f1", mode="max",
                length=lambda e: len(e["words"]), rngs=[rng])
