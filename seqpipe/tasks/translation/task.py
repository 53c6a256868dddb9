"""The translation task of the shared training loop, and the model a folder holds.

A prepared folder (written by `seqpipe.tasks.translation.stage`) holds source.txt and
target.txt (the vocabularies, <pad> <unk> <bos> <eos> first; at subword level beside each
side's SentencePiece model, source.spm and target.spm), model.json, data.json
(the token lists of every split) and, when pretrained vectors are used,
embedding_init.npy (the source side).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sacrebleu
import torch

from seqpipe.decoding.search import Hypothesis, beam_search, greedy
from seqpipe.models.embedding import pad_ids, word_embedding
from seqpipe.models.seq2seq import Seq2Seq
from seqpipe.training.loop import Task
from seqpipe.tasks.translation.tokenizers import side_tokenizer

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


class Vocabularies:
    """The source and target vocabularies of a folder, with encoding and decoding."""

    def __init__(self, folder: Path):
        self.source = read_lines(folder / "source.txt")
        self.target = read_lines(folder / "target.txt")
        self.source_index = {t: i for i, t in enumerate(self.source)}
        self.target_index = {t: i for i, t in enumerate(self.target)}
        self.spec = json.loads((folder / "model.json").read_text())
        self.source_tokenizer = side_tokenizer(folder, "source", self.spec["level"])
        self.target_tokenizer = side_tokenizer(folder, "target", self.spec["level"])

    def encode_source(self, tokens: list[str]) -> list[int]:
        return [self.source_index.get(t, UNK) for t in tokens] or [UNK]

    def encode_target(self, tokens: list[str]) -> list[int]:
        return [self.target_index.get(t, UNK) for t in tokens]

    def decode_target(self, ids: list[int]) -> str:
        return self.target_tokenizer.detokenize([self.target[i] for i in ids])

    def decode_source(self, ids: list[int]) -> str:
        return self.source_tokenizer.detokenize([self.source[i] for i in ids])


def build_model(folder: Path, with_init: bool = True) -> Seq2Seq:
    spec = json.loads((folder / "model.json").read_text())
    init_path = folder / "embedding_init.npy"
    initial = np.load(init_path) if with_init and init_path.exists() else None
    source = word_embedding(spec["source_size"], spec["source_dim"], initial, spec["freeze"])
    target = word_embedding(spec["target_size"], spec["target_dim"])
    enc = spec["encoder"]
    return Seq2Seq(source, target, enc["cell"], enc["hidden"], enc["layers"], enc["dropout"], spec["attention"],
                   enc["bidirectional"], spec.get("decoder", "bahdanau"), spec.get("tied", False))


def collate(examples: list[dict], training: bool = True) -> dict:
    """Sources padded; targets as decoder inputs (<bos> y) and outputs (y <eos>): teacher forcing."""
    batch = {"src": pad_ids([e["src"] for e in examples]),
             "src_lengths": torch.tensor([len(e["src"]) for e in examples])}
    if training:
        batch["tgt_in"] = pad_ids([[BOS] + e["tgt"] for e in examples])
        batch["tgt_out"] = pad_ids([e["tgt"] + [EOS] for e in examples])
    return batch


def decode_hypotheses(model: Seq2Seq, examples: list[dict], beam: int, alpha: float, max_len: int,
                      batch_size: int = 64) -> list[Hypothesis]:
    """Best hypothesis per example, in their order: greedy when beam is 0, else batched beam
    search. Batches hold sources of similar length: fewer padded positions, and sentences
    that tend to end at similar steps."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]["src"]))
    out: list = [None] * len(examples)
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            batch = collate([examples[i] for i in indices], training=False)
            src, lengths = batch["src"].to(device), batch["src_lengths"].to(device)
            if beam == 0:
                found = greedy(model, src, lengths, BOS, EOS, max_len)
            else:
                found = [hyps[0] for hyps in beam_search(model, src, lengths, BOS, EOS, beam, alpha, max_len)]
            for i, hypothesis in zip(indices, found):
                out[i] = hypothesis
    return out


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict:
    """BLEU and chrF (sacrebleu, on detokenised text) and exact-match accuracy."""
    if not hypotheses:
        return {"bleu": 0.0, "chrf": 0.0, "exact_match": 0.0}
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
            "exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)]))}


def spread(examples: list, n: int) -> list:
    """At most n examples taken evenly through the list (a dev file sorted by length stays represented)."""
    if len(examples) <= n:
        return examples
    return [examples[i] for i in np.linspace(0, len(examples) - 1, n).round().astype(int)]


def build_task(task_config: dict, device) -> Task:
    """Examples, batching, and dev BLEU of greedy translations after each epoch."""
    folder = Path(task_config["folder"])
    vocab = Vocabularies(folder)
    data = json.loads((folder / "data.json").read_text())
    examples = {split: [{"src": vocab.encode_source(s), "tgt": vocab.encode_target(t), "ref": r}
                        for s, t, r in data[split]] for split in ("train", "dev")}
    max_len = task_config["max_decode_len"]

    def evaluate(model, dev):
        outputs = decode_hypotheses(model, dev, 0, 0.0, max_len)
        return [(vocab.decode_target(o.tokens), e["ref"]) for o, e in zip(outputs, dev)]

    return Task(model=build_model(folder), train=examples["train"], dev=spread(examples["dev"], task_config["eval_sentences"]),
                collate=collate, evaluate=evaluate,
                summarize=lambda outcomes: corpus_scores([h for h, _ in outcomes], [r for _, r in outcomes]),
                metric="bleu", mode="max", length=lambda e: len(e["src"]) + len(e["tgt"]))
