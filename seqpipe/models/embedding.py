"""Word embedding layers, initialised from pretrained rows when given
(seqpipe.data.vectors.write_embedding_init aligns them to a model's vocabulary).

A tagger's vocabulary is its training words followed by pretrained words it never saw in
training (so that it still has vectors for them at test time). Those extra rows never get a
gradient, so they are kept out of the optimiser, the gradient clipping and the workers'
all-reduce: `tuned_rows` splits the table into a trained part and a fixed part.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class SplitEmbedding(nn.Module):
    """Rows [0, tuned_rows) are trained; the rows after them stay as initialised (a buffer)."""

    def __init__(self, initial: np.ndarray, tuned_rows: int, padding_idx: int = 0):
        super().__init__()
        rows = torch.from_numpy(np.ascontiguousarray(initial))
        self.weight = nn.Parameter(rows[:tuned_rows].clone())
        self.register_buffer("fixed", rows[tuned_rows:].clone())
        self.tuned_rows, self.padding_idx = tuned_rows, padding_idx
        self.num_embeddings, self.embedding_dim = rows.shape

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        tuned = F.embedding(ids.clamp(max=self.tuned_rows - 1), self.weight, self.padding_idx)
        extra = ids >= self.tuned_rows
        if not extra.any():  # every training batch: its words are the tuned rows, one look-up
            return tuned
        fixed = F.embedding((ids - self.tuned_rows).clamp(min=0), self.fixed)
        return torch.where(extra.unsqueeze(-1), fixed, tuned)


def word_embedding(num_words: int, dim: int, initial: np.ndarray | None = None, freeze: bool = False,
                   padding_idx: int = 0, tuned_rows: int | None = None) -> nn.Module:
    """An embedding table, from `initial` rows when given (frozen, fine-tuned, or fine-tuned
    only in its first `tuned_rows` rows)."""
    if not freeze and tuned_rows is not None and tuned_rows < num_words:  # no initial: a checkpoint fills it
        rows = initial if initial is not None else np.zeros((num_words, dim), np.float32)
        return SplitEmbedding(rows, tuned_rows, padding_idx)
    if initial is None:
        return nn.Embedding(num_words, dim, padding_idx=padding_idx)
    return nn.Embedding.from_pretrained(torch.from_numpy(initial), freeze=freeze, padding_idx=padding_idx)


def pad_ids(rows: list[list[int]]) -> torch.Tensor:
    """(len(rows), longest) token ids, padded with 0 (the embeddings' padding index)."""
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out
