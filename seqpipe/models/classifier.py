"""A many-to-one sequence classifier: word vectors -> a recurrent encoder -> one vector per
text (its final states, attention pooling over its words, or both) -> label scores."""
from __future__ import annotations

import torch
from torch import nn

from seqpipe.models.encoders import RecurrentEncoder

POOLINGS = ("last", "attention", "both")


class SequenceClassifier(nn.Module):
    def __init__(self, words: nn.Embedding, num_labels: int, cell: str = "lstm", hidden: int = 128, layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.3, pooling: str = "both"):
        """pooling: "last" (the final states, both directions), "attention" (a learned weighted
        mean of the encoder's outputs) or "both" (the two concatenated)."""
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
        self.words, self.pooling = words, pooling
        self.dropout = nn.Dropout(dropout)
        self.encoder = RecurrentEncoder(words.embedding_dim, cell, hidden, layers, bidirectional, dropout)
        size = self.encoder.output_size
        self.attention = nn.Linear(size, 1) if pooling != "last" else None
        self.output = nn.Linear(size * (2 if pooling == "both" else 1), num_labels)

    def pooled(self, words: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, features) for each text, and the attention weights over its words (B, T) or None."""
        outputs, state = self.encoder(self.dropout(self.words(words)), lengths)
        parts, weights = [], None
        if self.pooling != "attention":
            parts.append(self.encoder.final_hidden(state))
        if self.attention is not None:
            scores = self.attention(outputs).squeeze(-1).masked_fill(words == 0, float("-inf"))
            weights = scores.softmax(dim=-1)
            parts.append((weights.unsqueeze(-1) * outputs).sum(dim=1))
        return torch.cat(parts, dim=-1), weights

    def logits(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(self.pooled(words, lengths)[0]))

    def forward(self, words: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over the batch, and the number of texts."""
        return nn.functional.cross_entropy(self.logits(words, lengths), labels), len(labels)

    @torch.no_grad()
    def probabilities(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, num_labels): each text's label distribution."""
        return self.logits(words, lengths).softmax(dim=-1)
