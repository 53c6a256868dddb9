"""GloVe (Pennington, Socher & Manning 2014): co-occurrence counts and AdaGrad training.

Follows the reference C code (cooccur.c, glove.c) with these choices:
- a pair of words at distance d adds 1/d; pairs never cross a sentence; an id of -1
  (out of vocabulary) makes no pair but occupies its position (cooccur.c drops OOV
  words before windowing, so there they do not count towards distances);
- the objective is 0.5 * J, J = sum f(X_ij) (w_i.w~_j + b_i + b~_j - log X_ij)^2, as
  glove.c minimises and reports it; glove_loss, glove_gradients and glove_step agree;
- AdaGrad accumulators start at 1.0; a step moves each parameter by
  lr * g / sqrt(gradsq) with the OLD gradsq, then adds (lr * g)^2, both as glove.c
  does. Unlike glove.c, which is per-entry Hogwild, a step is a mini-batch: g sums the
  batch's gradients for that row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


# ---------------------------------------------------------------- co-occurrence counts

def _chunk_bounds(offsets: np.ndarray, chunk_tokens: int) -> list[tuple[int, int]]:
    """Token ranges [a, b) of about chunk_tokens each, cut at sentence starts where possible."""
    start, end, bounds = int(offsets[0]), int(offsets[-1]), []
    while start < end:
        limit = min(start + chunk_tokens, end)
        cut = int(offsets[np.searchsorted(offsets, limit, side="right") - 1])
        stop = cut if cut > start else limit  # one sentence longer than a chunk: hard cut
        bounds.append((start, stop))
        start = stop
    return bounds


def _tokens_left_in_sentence(offsets: np.ndarray, a: int, e: int) -> np.ndarray:
    """For positions a..e-1: how many tokens follow in the same sentence (end - k - 1)."""
    first = np.searchsorted(offsets, a, side="right") - 1
    last = np.searchsorted(offsets, e - 1, side="right") - 1
    ends = np.clip(offsets[first + 1:last + 2], a, e)
    starts = np.clip(offsets[first:last + 1], a, e)
    sentence_end = np.repeat(offsets[first + 1:last + 2], ends - starts)
    return (sentence_end - np.arange(a, e)).astype(np.int64) - 1


def _chunk_pairs(ids: np.ndarray, offsets: np.ndarray, a: int, b: int, vocab_size: int,
                 window: int, symmetric: bool, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Merged (keys, values) of the pairs whose left word lies in [a, b), keys sorted."""
    e = min(b + window, int(offsets[-1]))          # the right word may lie past b
    view = ids[a:e].astype(np.int64)
    if len(view) and (view.max() >= vocab_size or view.min() < -1):
        raise ValueError(f"ids must lie in [-1, {vocab_size}), got {view.min()}..{view.max()}")
    room = _tokens_left_in_sentence(offsets, a, e)
    room[view < 0] = 0                             # an OOV left word pairs with nothing
    as_row, as_col = (view * vocab_size) << bits, view << bits   # key = (row * V + col) << bits | d
    packed = np.empty(window * (b - a) * (2 if symmetric else 1), np.int64)
    filled = 0
    for d in range(1, window + 1):
        n_left = min(b - a, len(view) - d)
        if n_left <= 0:
            break
        keep = np.flatnonzero((room[:n_left] >= d) & (view[d:d + n_left] >= 0))
        directions = ((as_row, as_col), (as_col, as_row)) if symmetric else ((as_row, as_col),)
        for left_part, right_part in directions:
            out = packed[filled:filled + len(keep)]
            np.add(left_part[keep], right_part[keep + d], out=out)
            out |= d
            filled += len(keep)
    packed = packed[:filled]
    packed.sort()
    inverse_d = 1.0 / np.maximum(np.arange(1 << bits, dtype=np.float64), 1.0)
    return _reduce_sorted(packed >> bits, inverse_d[packed & ((1 << bits) - 1)])


def _reduce_sorted(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum the weights of equal keys in a sorted key array: (unique keys, sums)."""
    if len(keys) == 0:
        return keys, weights
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(weights, starts)


def _merge_into(keys: np.ndarray, values: np.ndarray, new_keys: np.ndarray,
                new_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge sorted unique (new_keys, new_values) into sorted unique (keys, values)."""
    if len(keys) < len(new_keys):
        keys, values, new_keys, new_values = new_keys, new_values, keys, values
    if len(new_keys) == 0:
        return keys, values
    at = np.searchsorted(keys, new_keys)
    found = at < len(keys)
    found[found] = keys[at[found]] == new_keys[found]
    values[at[found]] += new_values[found]
    fresh = ~found
    return np.insert(keys, at[fresh], new_keys[fresh]), np.insert(values, at[fresh], new_values[fresh])


def _push_run(runs: list, keys: np.ndarray, values: np.ndarray) -> None:
    """Append a sorted run, merging while the previous run is under twice its size.

    Run sizes then shrink geometrically, so all runs together hold under twice the
    distinct pairs, and each entry is merged O(log chunks) times.
    """
    runs.append((keys, values))
    while len(runs) > 1 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
        small, big = runs.pop(), runs.pop()
        runs.append(_merge_into(*big, *small))


def cooccurrence(ids: np.ndarray, offsets: np.ndarray, vocab_size: int, window: int = 10,
                 symmetric: bool = True, chunk_tokens: int = 2_000_000
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse GloVe co-occurrences (rows, cols, values), merged and sorted by (row, col).

    X[i, j] += 1/d for word i left of word j at distance 1 <= d <= window in one sentence
    (and X[j, i] too if symmetric, so a word next to itself adds 2/d to X[i, i]). Peak
    memory is about 16 * window * chunk_tokens (x2 if symmetric) bytes for a chunk, plus
    16 bytes per distinct pair for the running total.
    """
    ids, offsets = np.asarray(ids), np.asarray(offsets, dtype=np.int64)
    if window < 1 or chunk_tokens < 1:
        raise ValueError(f"window and chunk_tokens must be >= 1, got {window}, {chunk_tokens}")
    bits = int(window).bit_length()
    if vocab_size > 1 and (vocab_size ** 2) << bits >= 1 << 63:
        raise ValueError(f"vocab_size {vocab_size} too large for int64 pair keys")
    runs = [(np.empty(0, np.int64), np.empty(0, np.float64))]
    for a, b in _chunk_bounds(offsets, chunk_tokens) if len(offsets) > 1 else []:
        _push_run(runs, *_chunk_pairs(ids, offsets, a, b, vocab_size, window, symmetric, bits))
    while len(runs) > 1:
        small, big = runs.pop(), runs.pop()
        runs.append(_merge_into(*big, *small))
    keys, values = runs[0]
    rows, cols = np.divmod(keys, vocab_size)
    return rows.astype(np.int32), cols.astype(np.int32), values.astype(np.float32)


# ---------------------------------------------------------------- model and AdaGrad

def glove_weight(x, x_max: float = 100.0, alpha: float = 0.75):
    """f(x) = (x / x_max)^alpha below x_max, 1 from x_max on (numpy arrays or torch tensors)."""
    if isinstance(x, torch.Tensor):
        return torch.where(x < x_max, (x / x_max).clamp(min=0) ** alpha, torch.ones_like(x))
    x = np.asarray(x)
    return np.where(x < x_max, np.clip(x / x_max, 0, None) ** alpha, 1.0)


@dataclass
class GloveParams:
    """Word and context vectors, biases, and their AdaGrad accumulators (gradsq_*)."""

    w: torch.Tensor
    w_ctx: torch.Tensor
    b: torch.Tensor
    b_ctx: torch.Tensor
    gradsq_w: torch.Tensor
    gradsq_w_ctx: torch.Tensor
    gradsq_b: torch.Tensor
    gradsq_b_ctx: torch.Tensor

    def tensors(self) -> list[torch.Tensor]:
        """Every tensor, in field order: what a checkpoint saves and workers merge."""
        return [self.w, self.w_ctx, self.b, self.b_ctx, self.gradsq_w, self.gradsq_w_ctx, self.gradsq_b,
                self.gradsq_b_ctx]


def init_glove(vocab_size: int, dim: int, seed: int = 0, device: str | torch.device = "cpu") -> GloveParams:
    """Vectors uniform in [-0.5/dim, 0.5/dim] as glove.c's (rand - 0.5)/dim, biases 0, gradsq 1."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    w, w_ctx = (((torch.rand(vocab_size, dim, generator=gen) - 0.5) / dim).to(device) for _ in range(2))
    zeros = torch.zeros(vocab_size, device=device)
    ones, ones_vec = torch.ones(vocab_size, device=device), torch.ones(vocab_size, dim, device=device)
    return GloveParams(w, w_ctx, zeros, zeros.clone(),
                       ones_vec, ones_vec.clone(), ones, ones.clone())


def _residuals(params: GloveParams, rows, cols, values, x_max, alpha):
    """Per-entry diff = w_i.w~_j + b_i + b~_j - log x and fdiff = f(x) * diff."""
    wi, wj = params.w.index_select(0, rows), params.w_ctx.index_select(0, cols)
    diff = (wi * wj).sum(1) + params.b[rows] + params.b_ctx[cols] - torch.log(values)
    return wi, wj, diff, glove_weight(values, x_max, alpha) * diff


def glove_loss(params: GloveParams, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
               x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """0.5 * J = 0.5 * sum f(X_ij)(w_i.w~_j + b_i + b~_j - log X_ij)^2 (glove.c's objective)."""
    _, _, diff, fdiff = _residuals(params, rows, cols, values, x_max, alpha)
    return 0.5 * (fdiff * diff).sum()


def glove_gradients(params: GloveParams, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
                    x_max: float = 100.0, alpha: float = 0.75) -> dict[str, torch.Tensor]:
    """Gradients of glove_loss by hand, summed per distinct row / col of the batch.

    Returns rows and cols (the distinct indices, sorted), w and b (gradients for those rows),
    w_ctx and b_ctx (for those cols) and cost (0.5 * sum f * diff^2). Entries whose diff is
    not finite (e.g. x <= 0) are left out of everything.
    """
    wi, wj, diff, fdiff = _residuals(params, rows, cols, values, x_max, alpha)
    ok = torch.isfinite(diff) & torch.isfinite(fdiff)
    fdiff, diff = torch.where(ok, fdiff, 0.0), torch.where(ok, diff, 0.0)
    out = {"cost": 0.5 * (fdiff * diff).sum()}
    for name, index, other in (("", rows, wj), ("_ctx", cols, wi)):
        distinct, slot = torch.unique(index, return_inverse=True)
        grad_w = torch.zeros(len(distinct), wi.shape[1], dtype=wi.dtype, device=wi.device)
        grad_b = torch.zeros(len(distinct), dtype=wi.dtype, device=wi.device)
        out["rows" if not name else "cols"] = distinct
        out["w" + name] = grad_w.index_add_(0, slot, torch.where(ok[:, None], fdiff[:, None] * other, 0.0))
        out["b" + name] = grad_b.index_add_(0, slot, fdiff)
    return out


def _adagrad(param: torch.Tensor, gradsq: torch.Tensor, index: torch.Tensor, grad: torch.Tensor,
             lr: float) -> None:
    """param[index] -= lr * grad / sqrt(gradsq[index]) with the old gradsq, then gradsq += (lr * grad)^2."""
    update = lr * grad / gradsq[index].sqrt()
    # a vector's update is skipped if its sum is not finite, as glove.c does
    finite = torch.isfinite(update if update.dim() == 1 else update.sum(1, keepdim=True))
    if not bool(finite.all()):
        update, grad = torch.where(finite, update, 0.0), torch.where(finite, grad, 0.0)
    param.index_add_(0, index, -update)
    gradsq.index_add_(0, index, (lr * grad) ** 2)


def glove_step(params: GloveParams, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
               lr: float = 0.05, x_max: float = 100.0, alpha: float = 0.75) -> float:
    """One AdaGrad step on a batch of entries, in place; returns the batch's 0.5 * sum f diff^2."""
    g = glove_gradients(params, rows, cols, values, x_max, alpha)
    # glove.c's order: move with the old gradsq, then accumulate (inside _adagrad).
    _adagrad(params.w, params.gradsq_w, g["rows"], g["w"], lr)
    _adagrad(params.b, params.gradsq_b, g["rows"], g["b"], lr)
    _adagrad(params.w_ctx, params.gradsq_w_ctx, g["cols"], g["w_ctx"], lr)
    _adagrad(params.b_ctx, params.gradsq_b_ctx, g["cols"], g["b_ctx"], lr)
    return float(g["cost"])


def glove_vectors(params: GloveParams) -> np.ndarray:
    """Final embeddings W + W~ as float32 numpy (V, D), as glove.c's default output."""
    return (params.w + params.w_ctx).detach().to("cpu", torch.float32).numpy()


def epoch_order(n: int, seed: int, rank: int, epoch: int) -> torch.Tensor:
    """The shuffled order of a worker's n entries in one epoch: a function of (seed, rank, epoch)
    only, so a run resumed at epoch k visits the entries as the uninterrupted run did."""
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, rank, epoch]).generate_state(1)[0]))
    return torch.randperm(n, generator=generator)


def glove_epoch(params: GloveParams, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor,
                order: torch.Tensor, batch_size: int, lr: float = 0.05, x_max: float = 100.0,
                alpha: float = 0.75) -> float:
    """AdaGrad mini-batches over the entries in `order`; returns their summed 0.5 * f * diff^2."""
    cost = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size].to(rows.device)
        cost += glove_step(params, rows[batch], cols[batch], values[batch], lr, x_max, alpha)
    return cost
