"""Word embedding layers, initialised from pretrained rows when given
(seqpipe.data.vectors.write_embedding_init aligns them to a model's vocabulary)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def word_embedding(num_words: int, dim: int, initial: np.ndarray | None = None, freeze: bool = False,
                   padding_idx: int = 0) -> nn.Embedding:
    """An embedding table, from `initial` rows when given (frozen or fine-tuned)."""
    if initial is None:
        return nn.Embedding(num_words, dim, padding_idx=padding_idx)
    return nn.Embedding.from_pretrained(torch.from_numpy(initial), freeze=freeze, padding_idx=padding_idx)
