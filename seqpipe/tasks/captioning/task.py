"""The captioning task of the shared training loop, and the captioner a model folder holds.

A prepared folder (written by `seqpipe.tasks.captioning.stage`) holds words.txt (<pad> <unk>
<bos> <eos> first), images.npy (every image, resized, uint8), data.json (each split's images
as [row, captions' word ids, captions as scored]) and model.json. Captions are scored against
the raw text of the captions file (`data.reference_text`), not against references rebuilt from
word ids (which turned every word unseen in training into <unk> and cut at max_words).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sacrebleu
import torch

from seqpipe.decoding.search import Hypothesis, beam_search, greedy
from seqpipe.models.captioner import Captioner
from seqpipe.models.embedding import pad_ids, word_embedding
from seqpipe.training.loop import Task

PAD, UNK, BOS, EOS = 0, 1, 2, 3


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def build_captioner(folder: Path) -> Captioner:
    spec = json.loads((folder / "model.json").read_text())
    enc = spec["encoder"]
    words = word_embedding(spec["words"], min(enc["hidden"], 128))
    return Captioner(words, tuple(spec["channels"]), spec["image_size"], enc["cell"], enc["hidden"], enc["layers"],
                     enc["dropout"], spec["attention"], spec["decoder"])


def collate(examples: list[dict], training: bool = True) -> dict:
    """Images as floats in [0, 1]; captions as decoder inputs (<bos> y) and outputs (y <eos>)."""
    images = torch.from_numpy(np.stack([e["image"] for e in examples])).float() / 255
    batch = {"src": images, "src_lengths": torch.full((len(examples),), images.size(-1))}
    if training:
        batch["tgt_in"] = pad_ids([[BOS] + e["caption"] for e in examples])
        batch["tgt_out"] = pad_ids([e["caption"] + [EOS] for e in examples])
    return batch


def caption_images(model: Captioner, images: list[np.ndarray], beam: int, alpha: float, max_len: int,
                   batch_size: int = 64) -> list[Hypothesis]:
    """The best caption of each image: greedy when beam is 0, else batched beam search."""
    device, out = next(model.parameters()).device, []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = collate([{"image": i} for i in images[start:start + batch_size]], training=False)
            src, lengths = batch["src"].to(device), batch["src_lengths"].to(device)
            if beam == 0:
                out += greedy(model, src, lengths, BOS, EOS, max_len)
            else:
                out += [hyps[0] for hyps in beam_search(model, src, lengths, BOS, EOS, beam, alpha, max_len)]
    return out


def caption_scores(outcomes: list[tuple[str, list[str]]]) -> dict:
    """BLEU-4 (sacrebleu, every reference of an image), exact match (equal to one of them) and,
    with the captioning extra installed, CIDEr-D, of (caption, references) pairs. Both sides are
    expected as `data.reference_text` gives them (a generated caption's words joined by spaces
    already are): the references the raw captions, no <unk>, not cut."""
    if not outcomes:
        return {"bleu": 0.0, "exact_match": 0.0}
    scores = {"bleu": bleu(outcomes), "exact_match": float(np.mean([h in refs for h, refs in outcomes]))}
    return scores | ({} if (value := cider(outcomes)) is None else {"cider": value})


def bleu(outcomes: list[tuple[str, list[str]]]) -> float:
    """Corpus BLEU-4 (sacrebleu) of (caption, references) pairs, every reference of an image counted."""
    hypotheses = [h for h, _ in outcomes]
    most = max(len(refs) for _, refs in outcomes)
    references = [[refs[k] if k < len(refs) else refs[0] for _, refs in outcomes] for k in range(most)]
    return sacrebleu.corpus_bleu(hypotheses, references).score


def cider(outcomes: list[tuple[str, list[str]]]) -> float | None:
    """CIDEr-D x 100, as captioning papers report it, by the COCO caption evaluation's own code
    (pycocoevalcap, the `captioning` extra; None without it). Its document frequencies come from
    these references, so it needs a few hundred images to mean much; a reference word unseen in
    training stays a rare word there (not one common <unk>). Captions are compared as the words
    `data.reference_text` gives (COCO's Java tokenizer is not run)."""
    try:
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        return None
    references = {n: refs for n, (_, refs) in enumerate(outcomes)}
    hypotheses = {n: [hypothesis] for n, (hypothesis, _) in enumerate(outcomes)}
    return float(Cider().compute_score(references, hypotheses)[0]) * 100


def examples_of(folder: Path, split: str, training: bool) -> list[dict]:
    """One example per (image, caption's word ids) in training; one per image otherwise, with its
    references: its raw captions as `data.reference_text` gives them."""
    images = np.load(folder / "images.npy", mmap_mode="r")
    data = json.loads((folder / "data.json").read_text())[split]
    if training:
        return [{"image": np.asarray(images[row]), "caption": c} for row, captions, _ in data for c in captions]
    return [{"image": np.asarray(images[row]), "refs": refs} for row, _, refs in data]


def build_task(task_config: dict, device) -> Task:
    """Examples, batching, and the dev BLEU of greedy captions after each epoch."""
    folder = Path(task_config["folder"])
    words, max_len = read_lines(folder / "words.txt"), task_config["max_words"] + 1

    def evaluate(model, dev):
        found = caption_images(model, [e["image"] for e in dev], 0, 0.0, max_len)
        return [(" ".join(words[i] for i in h.tokens), e["refs"]) for h, e in zip(found, dev)]

    # batches are not grouped by caption length: batches of one-shape scenes only, or of two-shape
    # scenes only, skew batch norm's statistics (demo dev exact match 0.25 instead of 0.9)
    return Task(model=build_captioner(folder), train=examples_of(folder, "train", True),
                dev=examples_of(folder, "dev", False), collate=collate, evaluate=evaluate,
                summarize=caption_scores, metric="bleu", mode="max", length=lambda e: 0)
