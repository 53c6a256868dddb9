"""An output layer that shares the input embedding's vectors: adaptive softmax with tied weights.

The score of word w after hidden state h is p(h) · E[w] + b[w], where E is the input
embedding table (initialised from the pretrained vectors) and p a learnt projection of h
to the embedding's size (Press & Wolf 2017). A word the model rarely sees as a target
still has the vector word2vec learnt from all its occurrences, so "pear" after "the
apple and" scores like the fruit it is, not like a word the model has hardly seen.

Words are ordered by frequency. With cutoffs (c1 < c2 < ...), the head softmax covers
the words below c1 plus one entry per tail cluster [c1, c2), [c2, ...), and a word in a
tail is P(cluster | h) · P(word | cluster, h) (Grave et al. 2017): training computes a
tail only for the targets in it. One projection serves every cluster, so what the model
learns of a frequent word's context carries to rare words whose vectors resemble it.
Without cutoffs it is one full softmax over the vocabulary.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class SoftmaxOutput(NamedTuple):
    output: torch.Tensor  # log P(target) per row
    loss: torch.Tensor    # their mean negative


class TiedAdaptiveSoftmax(nn.Module):
    def __init__(self, embedding: nn.Embedding, in_features: int, cutoffs: list[int] | None = None):
        super().__init__()
        self.shared = [embedding]  # a list, not a submodule: the input layer owns (and saves) the table
        vocab, dim = embedding.num_embeddings, embedding.embedding_dim
        self.bounds = [0, *sorted({c for c in cutoffs or [] if 0 < c < vocab}), vocab]
        clusters = len(self.bounds) - 2
        self.projection = nn.Linear(in_features, dim)
        self.cluster_logits = nn.Linear(in_features, clusters) if clusters else None
        self.bias = nn.Parameter(torch.zeros(vocab))

    def _scores(self, query: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        return query @ self.shared[0].weight[lo:hi].t() + self.bias[lo:hi]

    def _head_log_probs(self, hidden: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        scores = self._scores(query, 0, self.bounds[1])
        if self.cluster_logits is not None:
            scores = torch.cat([scores, self.cluster_logits(hidden)], dim=-1)
        return torch.log_softmax(scores, dim=-1)

    def forward(self, hidden: torch.Tensor, target: torch.Tensor) -> SoftmaxOutput:
        """hidden (N, in_features), target (N,) word ids: log P(target | hidden) and its mean negative."""
        query = self.projection(hidden)
        head = self._head_log_probs(hidden, query)
        in_head = target < self.bounds[1]
        out = torch.zeros(len(target), dtype=head.dtype, device=head.device)
        out[in_head] = head[in_head].gather(1, target[in_head, None]).squeeze(1)
        for i, (lo, hi) in enumerate(zip(self.bounds[1:-1], self.bounds[2:])):
            rows = ((target >= lo) & (target < hi)).nonzero().squeeze(1)
            if len(rows):
                tail = torch.log_softmax(self._scores(query[rows], lo, hi), dim=-1)
                word = tail.gather(1, (target[rows] - lo)[:, None]).squeeze(1)
                out[rows] = head[rows, self.bounds[1] + i] + word
        return SoftmaxOutput(out, -out.mean())

    def log_prob(self, hidden: torch.Tensor) -> torch.Tensor:
        """(N, vocab) log-probabilities of every word."""
        query = self.projection(hidden)
        head = self._head_log_probs(hidden, query)
        parts = [head[:, : self.bounds[1]]]
        for i, (lo, hi) in enumerate(zip(self.bounds[1:-1], self.bounds[2:])):
            parts.append(head[:, self.bounds[1] + i, None] + torch.log_softmax(self._scores(query, lo, hi), dim=-1))
        return torch.cat(parts, dim=-1)
