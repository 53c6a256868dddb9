"""Negative-sampling kernels for skip-gram and CBOW, on batches of pairs, by hand.

Every step gathers rows, scores them with batched products and scatters the SGD
updates back with index_add_, all from the parameters as they were before the step
(no autograd: the gradients are two lines each). A group of `group` consecutive pairs
shares its k negatives, which turns the negative scores into one batched matrix
product (the HogBatch scheme of Ji et al. 2016, used by BlazingText).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Pair updates a row may sum in one batch (shared_row_scale). Measured on the 20M-word book
# corpus of bench/data.md (skip-gram 100d, 5 epochs, 2 workers averaging): 32 gave 34.8% analogy
# accuracy / WordSim353 0.439, 256 gave 36.5% / 0.475, 1024 36.5% / 0.472; but 256 made the
# demo corpus (software documentation, runs of '=' in tables) diverge to NaN, so 32, the limit
# positive rows always had. (Counting index entries, as before, let a shared negative sum up
# to 32 x 32 pair updates.)
MAX_SHARED_UPDATES = 32


class NoiseSampler:
    """Walker alias table on the training device: O(1) draws from P(w) ~ count(w)^0.75."""

    def __init__(self, prob, alias, device: str | torch.device = "cpu"):
        self.prob = torch.as_tensor(prob, dtype=torch.float32, device=device)
        self.alias = torch.as_tensor(alias, dtype=torch.int64, device=device)

    def sample(self, shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
        slots = torch.randint(len(self.prob), shape, device=self.prob.device, generator=generator)
        coin = torch.rand(shape, device=self.prob.device, generator=generator)
        return torch.where(coin < self.prob[slots], slots, self.alias[slots])


def negative_sampling_grads(hidden: torch.Tensor, w_out: torch.Tensor, outputs: torch.Tensor,
                            negatives: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Loss and gradients of -log s(h.o) - sum_k log s(-h.n_k) for pairs sharing negatives.

    hidden (B, D), outputs (B,), negatives (B // G, K). Returns (loss, d_hidden (B, D),
    d_out (B, D), d_negatives (B // G * K, D)): gradients of the loss (to be descended).
    A negative that happens to be the pair's own output is ignored, as in word2vec.c.
    """
    batch, dim = hidden.shape
    groups, k = negatives.shape
    pos = w_out.index_select(0, outputs)
    neg = w_out.index_select(0, negatives.reshape(-1)).view(groups, k, dim)
    h = hidden.view(groups, batch // groups, dim)
    pos_score = (hidden * pos).sum(1)
    neg_score = torch.bmm(h, neg.transpose(1, 2))                      # (groups, G, k)
    own = negatives.view(groups, 1, k) == outputs.view(groups, -1, 1)
    g_pos = torch.sigmoid(pos_score) - 1                               # d loss / d pos_score
    g_neg = torch.sigmoid(neg_score).masked_fill(own, 0.0)             # d loss / d neg_score
    loss = -F.logsigmoid(pos_score).sum() - F.logsigmoid(-neg_score).masked_fill(own, 0.0).sum()
    d_hidden = g_pos[:, None] * pos + torch.bmm(g_neg, neg).view(batch, dim)
    d_out = g_pos[:, None] * hidden
    d_neg = torch.bmm(g_neg.transpose(1, 2), h).reshape(-1, dim)
    return loss, d_hidden, d_out, d_neg


def shared_row_scale(index: torch.Tensor, rows: int, pairs: torch.Tensor | None = None) -> torch.Tensor:
    """min(1, MAX_SHARED_UPDATES / n) for each entry, n = the pair updates its row gets in the batch.

    Every pair's gradient in a batch comes from the same parameters, so a row that gets n
    pair updates gets n stale gradients at once; word2vec.c applies them one after the
    other, each smaller as the scores saturate. Summing a few is what sequential SGD does
    at small learning rates; summing hundreds (a run of '=' tokens in a table, a frequent
    noise word) overshoots and diverges, so a row moves at most as far as
    MAX_SHARED_UPDATES pair updates would. `pairs` is how many pair updates each entry
    already sums (a shared negative's entry sums its whole group's); default 1 each.
    """
    weights = None if pairs is None else pairs.to(torch.float32)
    counts = torch.bincount(index, weights=weights, minlength=rows).to(torch.float32)
    return (MAX_SHARED_UPDATES / counts.index_select(0, index)).clamp_(max=1.0)


def skipgram_step(w_in: torch.Tensor, w_out: torch.Tensor, inputs: torch.Tensor, outputs: torch.Tensor,
                  negatives: torch.Tensor, lr: float) -> float:
    """One SGD step on skip-gram pairs (input word predicts output word); returns the loss."""
    hidden = w_in.index_select(0, inputs)
    loss, d_hidden, d_out, d_neg = negative_sampling_grads(hidden, w_out, outputs, negatives)
    w_in.index_add_(0, inputs, d_hidden * shared_row_scale(inputs, len(w_in))[:, None], alpha=-lr)
    _update_outputs(w_out, outputs, negatives, d_out, d_neg, lr)
    return float(loss)


def _update_outputs(w_out, outputs, negatives, d_out, d_neg, lr) -> None:
    """Positive rows carry one pair update each, a shared negative's row its group's `group`."""
    rows = torch.cat([outputs, negatives.reshape(-1)])
    group = len(outputs) // len(negatives)
    pairs = torch.cat([torch.ones_like(outputs), torch.full_like(negatives.reshape(-1), group)])
    scale = shared_row_scale(rows, len(w_out), pairs)
    w_out.index_add_(0, rows, torch.cat([d_out, d_neg]) * scale[:, None], alpha=-lr)


def cbow_hidden(w_in: torch.Tensor, contexts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of the context rows (contexts (B, C) with -1 for none) and the presence mask."""
    mask = contexts >= 0
    rows = w_in.index_select(0, contexts.clamp(min=0).reshape(-1)).view(*contexts.shape, -1)
    count = mask.sum(1, keepdim=True).clamp(min=1)
    return (rows * mask.unsqueeze(-1)).sum(1) / count, mask


def cbow_step(w_in: torch.Tensor, w_out: torch.Tensor, contexts: torch.Tensor, outputs: torch.Tensor,
              negatives: torch.Tensor, lr: float) -> float:
    """One SGD step of CBOW: the mean of the context predicts the centre word.

    As in word2vec.c, every context word receives the full gradient of the mean.
    """
    hidden, mask = cbow_hidden(w_in, contexts)
    loss, d_hidden, d_out, d_neg = negative_sampling_grads(hidden, w_out, outputs, negatives)
    rows, slot = mask.nonzero(as_tuple=True)
    words = contexts[rows, slot]
    w_in.index_add_(0, words, d_hidden[rows] * shared_row_scale(words, len(w_in))[:, None], alpha=-lr)
    _update_outputs(w_out, outputs, negatives, d_out, d_neg, lr)
    return float(loss)


def init_vectors(vocab_size: int, dim: int, seed: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """word2vec's initialisation: W_in uniform in [-0.5/dim, 0.5/dim], W_out zeros."""
    generator = torch.Generator().manual_seed(seed)
    w_in = (torch.rand(vocab_size, dim, generator=generator) - 0.5) / dim
    return w_in.to(device), torch.zeros(vocab_size, dim, device=device)
