"""Sequence tagger: word (+ character, + casing) features -> bidirectional RNN -> softmax or CRF.

The shape of Lample et al. (2016): each word is its (pretrained) word vector, the final
states of a character BiLSTM over its letters and a small casing embedding; a
bidirectional LSTM/GRU reads the sentence; a linear layer scores the tags, decoded per
token (softmax) or jointly with a CRF (Viterbi).
"""
from __future__ import annotations

import torch
from torch import nn

from seqpipe.models.crf import CRF
from seqpipe.models.encoders import RecurrentEncoder

CASINGS = ["<pad>", "lower", "upper", "title", "digits", "has_digit", "mixed", "other"]


def casing(word: str) -> int:
    """Index in CASINGS of a word's shape: lowercase, UPPER, Title, 1984, A4, iPhone, ..."""
    if word.isdigit():
        return 4
    if any(c.isdigit() for c in word):
        return 5
    if word.islower():
        return 1
    if word.isupper():
        return 2
    if word[:1].isupper() and word[1:].islower():
        return 3
    return 6 if any(c.isalpha() for c in word) else 7


class CharFeatures(nn.Module):
    """Characters of each word (B, T, C) -> the final states of a BiLSTM over them (B, T, 2H)."""

    def __init__(self, num_chars: int, dim: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(num_chars, dim, padding_idx=0)
        self.encoder = RecurrentEncoder(dim, "lstm", hidden, bidirectional=True)
        self.output_size = self.encoder.output_size

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        batch, time, width = chars.shape
        flat = chars.reshape(batch * time, width)
        lengths = (flat != 0).sum(1)
        out = flat.new_zeros(batch * time, self.output_size, dtype=self.embed.weight.dtype)
        real = lengths > 0
        if real.any():
            _, state = self.encoder(self.embed(flat[real]), lengths[real])
            out[real] = self.encoder.final_hidden(state)
        return out.reshape(batch, time, self.output_size)


class Tagger(nn.Module):
    def __init__(self, words: nn.Embedding, num_tags: int, num_chars: int = 0, char_dim: int = 25,
                 char_hidden: int = 25, cell: str = "lstm", hidden: int = 256, layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.3, crf: bool = True,
                 allowed: tuple | None = None):
        """num_chars = 0: no character features; allowed: CRF transition constraints (see CRF)."""
        super().__init__()
        self.words = words
        self.chars = CharFeatures(num_chars, char_dim, char_hidden) if num_chars else None
        self.casing = nn.Embedding(len(CASINGS), 4, padding_idx=0)
        size = words.embedding_dim + 4 + (self.chars.output_size if self.chars else 0)
        self.dropout = nn.Dropout(dropout)
        self.encoder = RecurrentEncoder(size, cell, hidden, layers, bidirectional, dropout)
        self.scores = nn.Linear(self.encoder.output_size, num_tags)
        self.crf = CRF(num_tags, allowed) if crf else None

    def emissions(self, words, casing, lengths, chars=None) -> torch.Tensor:
        """(B, T, num_tags) tag scores per token."""
        features = [self.words(words), self.casing(casing)]
        if self.chars is not None:
            features.append(self.chars(chars))
        outputs, _ = self.encoder(self.dropout(torch.cat(features, dim=-1)), lengths)
        return self.scores(self.dropout(outputs))

    def forward(self, words, casing, lengths, tags, chars=None) -> tuple[torch.Tensor, int]:
        """Mean negative log-likelihood per token (CRF: of the whole tag sequence), and token count."""
        emissions = self.emissions(words, casing, lengths, chars)
        mask = words != 0
        tokens = int(mask.sum())
        if self.crf is not None:
            return -self.crf.log_likelihood(emissions, tags, mask).sum() / tokens, tokens
        return nn.functional.cross_entropy(emissions[mask], tags[mask]), tokens

    @torch.no_grad()
    def decode(self, words, casing, lengths, chars=None) -> list[list[int]]:
        """The best tag ids of each sentence (Viterbi with a CRF, else the argmax per token)."""
        emissions = self.emissions(words, casing, lengths, chars)
        mask = words != 0
        if self.crf is not None:
            return self.crf.decode(emissions, mask)
        best = emissions.argmax(-1)
        return [best[i, : int(n)].tolist() for i, n in enumerate(lengths)]
