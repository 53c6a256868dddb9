"""Word embedding layers initialised from pretrained vectors.

`align_pretrained` maps a model's vocabulary onto pretrained vectors (exact form first,
then lowercased); rows without a pretrained vector are drawn with the pretrained
vectors' own scale, so they neither dominate nor vanish, and the padding row is zero.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def align_pretrained(tokens: list[str], pretrained_tokens: list[str], pretrained: np.ndarray,
                     seed: int = 0, padding_idx: int | None = 0) -> tuple[np.ndarray, dict]:
    """(V, D) initial rows for `tokens` and coverage counts (exact, lowercased, missing)."""
    index = {t: i for i, t in enumerate(pretrained_tokens)}
    rng = np.random.default_rng(seed)
    scale = float(pretrained.std()) if pretrained.size else 0.1
    matrix = rng.normal(0.0, scale, (len(tokens), pretrained.shape[1])).astype(np.float32)
    exact = lower = 0
    for row, token in enumerate(tokens):
        if token in index:
            matrix[row], exact = pretrained[index[token]], exact + 1
        elif token.lower() in index:
            matrix[row], lower = pretrained[index[token.lower()]], lower + 1
    if padding_idx is not None:
        matrix[padding_idx] = 0.0
    found = exact + lower
    coverage = {"words": len(tokens), "pretrained_exact": exact, "pretrained_lowercased": lower,
                "missing": len(tokens) - found, "coverage": found / max(len(tokens), 1)}
    return matrix, coverage


def word_embedding(num_words: int, dim: int, initial: np.ndarray | None = None, freeze: bool = False,
                   padding_idx: int = 0) -> nn.Embedding:
    """An embedding table, from `initial` rows when given (frozen or fine-tuned)."""
    if initial is None:
        return nn.Embedding(num_words, dim, padding_idx=padding_idx)
    return nn.Embedding.from_pretrained(torch.from_numpy(initial), freeze=freeze, padding_idx=padding_idx)
