"""Attention over the encoder's annotations: additive (Bahdanau) and multiplicative (Luong).

For a decoder query q and annotations a<1..S>, the energies e<t'> score how much each
source position matters; alpha = softmax(e) over the real (unpadded) positions, and the
context is c = sum_t' alpha<t'> a<t'>.
"""
from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, query_size: int, memory_size: int, kind: str = "additive", hidden: int = 128):
        """kind: "additive" e = v . tanh(W_q q + W_a a); "multiplicative" e = q . (W a)."""
        super().__init__()
        self.kind = kind
        if kind == "additive":
            self.keys = nn.Linear(memory_size, hidden, bias=False)
            self.query = nn.Linear(query_size, hidden)
            self.energy = nn.Linear(hidden, 1, bias=False)
        elif kind == "multiplicative":
            self.keys = nn.Linear(memory_size, query_size, bias=False)
        else:
            raise ValueError(f"unknown attention {kind!r}: additive or multiplicative")

    def project(self, memory: torch.Tensor) -> torch.Tensor:
        """The annotations' key projection (B, S, K), computed once per source batch."""
        return self.keys(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Q), keys (B, S, K), memory (B, S, M), mask (B, S) True = real -> context (B, M), alpha (B, S)."""
        if self.kind == "additive":
            energies = self.energy(torch.tanh(keys + self.query(query).unsqueeze(1))).squeeze(-1)
        else:
            energies = torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)
        alpha = torch.softmax(energies.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.bmm(alpha.unsqueeze(1), memory).squeeze(1), alpha
