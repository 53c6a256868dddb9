"""Attention over the encoder's annotations: additive (Bahdanau) and multiplicative (Luong).

For a decoder query q and annotations a<1..S>, the energies e<t'> score how much each
source position matters; alpha = softmax(e) over the real (unpadded) positions, and the
context is c = sum_t' alpha<t'> a<t'>. Queries come one per sentence (B, Q), or one per
target step (B, T, Q) when every step's query is known in advance (teacher forcing).
"""
from __future__ import annotations

import torch
from torch import nn

ADDITIVE_CHUNK = 1 << 24  # elements of the (B, T, S, K) tanh input computed at once (bounds memory)


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
        """query (B, Q) or (B, T, Q), keys (B, S, K), memory (B, S, M), mask (B, S) True = real
        -> context (B, M) or (B, T, M), alpha (B, S) or (B, T, S)."""
        single = query.dim() == 2
        queries = query.unsqueeze(1) if single else query
        if self.kind == "additive":
            steps = max(1, ADDITIVE_CHUNK // max(keys.numel(), 1))
            energies = torch.cat([self.energy(torch.tanh(keys.unsqueeze(1) + self.query(q).unsqueeze(2))).squeeze(-1)
                                  for q in queries.split(steps, dim=1)], dim=1)
        else:
            energies = torch.bmm(queries, keys.transpose(1, 2))
        alpha = torch.softmax(energies.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)
        context = torch.bmm(alpha, memory)
        return (context.squeeze(1), alpha.squeeze(1)) if single else (context, alpha)
