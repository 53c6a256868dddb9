"""Recurrent language model: P(y<t> | y<1>..y<t-1>), trained with teacher forcing.

Every sequence starts with <bos> and ends with <eos>; the input at step t is the
previous target token (x<t> = y<t-1>). The output layer shares the input embedding's
vectors (tie=True: `tied_softmax`, adaptive for large word vocabularies), or has its own
weights: a full softmax, or torch's adaptive softmax (Grave et al. 2017).
"""
from __future__ import annotations

import torch
from torch import nn

from seqpipe.models.encoders import RecurrentEncoder
from seqpipe.models.tied_softmax import TiedAdaptiveSoftmax


class LanguageModel(nn.Module):
    def __init__(self, embedding: nn.Embedding, cell: str = "lstm", hidden: int = 256, layers: int = 2,
                 dropout: float = 0.2, cutoffs: list[int] | None = None, tie: bool = False):
        """cutoffs: adaptive softmax clusters (those below the vocabulary size); tie: output vectors = input's."""
        super().__init__()
        self.embedding = embedding
        vocab = embedding.num_embeddings
        self.dropout = nn.Dropout(dropout)
        self.rnn = RecurrentEncoder(embedding.embedding_dim, cell, hidden, layers, bidirectional=False,
                                    dropout=dropout)
        cutoffs = [c for c in (cutoffs or []) if 0 < c < vocab]
        self.tied = TiedAdaptiveSoftmax(embedding, hidden, cutoffs) if tie else None
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(hidden, vocab, sorted(set(cutoffs)), div_value=4.0) \
            if cutoffs and not tie else None
        self.output = None if cutoffs or tie else nn.Linear(hidden, vocab)

    def hidden_states(self, inputs, lengths=None, state=None):
        outputs, state = self.rnn(self.dropout(self.embedding(inputs)), lengths, state)
        return self.dropout(outputs), state

    def forward(self, inputs, lengths, targets) -> tuple[torch.Tensor, int]:
        """Mean negative log-likelihood of the targets (0 = padding, ignored) and their count."""
        outputs, _ = self.hidden_states(inputs, lengths)
        mask = targets != 0
        hidden, gold = outputs[mask], targets[mask]
        if self.output is None:  # tied or adaptive: both compute a tail for its targets only
            return (self.tied or self.adaptive)(hidden, gold).loss, int(mask.sum())
        return nn.functional.cross_entropy(self.output(hidden), gold), int(mask.sum())

    def log_probs(self, inputs, state=None):
        """(B, T, V) log-probabilities of the next token after each input, and the new state."""
        outputs, state = self.hidden_states(inputs, state=state)
        if self.output is None:
            flat = (self.tied or self.adaptive).log_prob(outputs.reshape(-1, outputs.size(-1)))
            return flat.reshape(*outputs.shape[:2], -1), state
        return torch.log_softmax(self.output(outputs), dim=-1), state


@torch.no_grad()
def sequence_log_prob(model: LanguageModel, ids: list[int], bos: int) -> list[float]:
    """log P(ids[t] | <bos>, ids[:t]) for every t (include <eos> in ids to score a whole sentence)."""
    model.eval()
    inputs = torch.tensor([[bos] + ids[:-1]])
    log_probs, _ = model.log_probs(inputs)
    return log_probs[0, torch.arange(len(ids)), torch.tensor(ids)].tolist()


@torch.no_grad()
def sample(model: LanguageModel, bos: int, eos: int, n: int = 1, temperature: float = 1.0,
           max_len: int = 60, generator: torch.Generator | None = None,
           banned: list[int] | None = None) -> list[list[int]]:
    """n sequences drawn token by token from P(y<t> | y<<t>)^(1/T) until <eos> (not included).

    temperature 0 takes the most probable token at every step (greedy); banned ids
    (e.g. <pad>, <unk>) are never drawn.
    """
    model.eval()
    device = next(model.parameters()).device
    token = torch.full((n, 1), bos, dtype=torch.long, device=device)
    state, out, done = None, [[] for _ in range(n)], torch.zeros(n, dtype=torch.bool, device=device)
    for _ in range(max_len):
        log_probs, state = model.log_probs(token, state)
        scores = log_probs[:, -1]
        if banned:
            scores[:, banned] = -float("inf")
        if temperature <= 0:
            token = scores.argmax(-1, keepdim=True)
        else:
            token = torch.multinomial(torch.softmax(scores / temperature, -1), 1, generator=generator)
        for row in (~done).nonzero().flatten().tolist():
            if token[row, 0].item() != eos:
                out[row].append(token[row, 0].item())
        done |= token[:, 0] == eos
        if done.all():
            break
    return out
