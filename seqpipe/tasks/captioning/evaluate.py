"""After training: greedy and beam-search captions of the test images (else dev) scored by
BLEU-4, exact match and CIDEr-D (task.caption_scores) against their raw captions
(data.reference_text), and a few test images drawn with where each word looked."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from seqpipe.config import CaptioningConfig
from seqpipe.decoding.search import greedy
from seqpipe.tasks.captioning.data import REFERENCES
from seqpipe.tasks.captioning.task import (BOS, EOS, build_captioner, caption_images, caption_scores, collate,
                                           examples_of, read_lines)


def evaluate_model(folder: Path, cfg: CaptioningConfig, best_state: dict, splits: list[str]) -> dict:
    model = build_captioner(folder)
    model.load_state_dict(best_state)
    model.eval()
    split = "test" if "test" in splits else "dev"
    examples, words = examples_of(folder, split, training=False), read_lines(folder / "words.txt")
    metrics = {"evaluated_on": split}
    for name, beam in (("greedy", 0), ("beam", cfg.beam)):
        started = time.perf_counter()
        found = caption_images(model, [e["image"] for e in examples], beam, cfg.alpha, cfg.max_words + 1)
        metrics[f"decode_{name}_images_per_s"] = len(examples) / (time.perf_counter() - started)
        outcomes = [(" ".join(words[i] for i in h.tokens), e["refs"]) for h, e in zip(found, examples)]
        metrics.update({f"{k}_{name}": v for k, v in caption_scores(outcomes).items()})
    metrics[f"{split}_bleu"], metrics[f"{split}_exact_match"] = metrics["bleu_beam"], metrics["exact_match_beam"]
    plot_attention(folder, model, words, examples[:cfg.attention_plots], cfg)
    return metrics


def plot_attention(folder: Path, model, words: list[str], examples: list[dict], cfg: CaptioningConfig) -> None:
    """attention/<n>.png: the image, then one panel per word of its greedy caption with that
    step's attention over the regions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not examples:
        return
    (folder / "attention").mkdir(exist_ok=True)
    batch = collate(examples, training=False)
    with torch.no_grad():
        found = greedy(model, batch["src"], batch["src_lengths"], BOS, EOS, cfg.max_words + 1, return_attention=True)
    grid = model.image_encoder.grid
    for n, (example, hypothesis) in enumerate(zip(examples, found)):
        image = example["image"].transpose(1, 2, 0)
        steps = [words[i] for i in hypothesis.tokens] + ["<eos>"]
        fig, axes = plt.subplots(1, len(steps) + 1, figsize=(1.6 * (len(steps) + 1), 1.9), dpi=100)
        axes[0].imshow(image)
        axes[0].set_title("image", fontsize=8)
        for ax, word, alpha in zip(axes[1:], steps, hypothesis.attention.numpy()):
            ax.imshow(image)
            ax.imshow(np.kron(alpha.reshape(grid, grid), np.ones((image.shape[0] // grid,) * 2)), alpha=0.6,
                      cmap="magma")
            ax.set_title(word, fontsize=8)
        for ax in axes:
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(folder / "attention" / f"{n}.png")
        plt.close(fig)


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """What the gate's scores are measured on: the test captions, else the held-out training images;
    and how they are scored (the references' scheme, data.REFERENCES, and their lowercasing), so a
    model scored against references rebuilt from word ids is never compared with one scored
    against the raw captions."""
    scoring = {"references": REFERENCES, "lowercase": cfg.lowercase}
    if cfg.test_captions:
        return [cfg.test_captions], {"image_size": cfg.image_size} | scoring
    return [cfg.train_captions, cfg.dev_captions], {"dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed} | scoring
