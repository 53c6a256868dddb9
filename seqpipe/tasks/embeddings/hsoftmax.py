"""Hierarchical softmax for word2vec: the Huffman tree and hand-written, batched kernels.

The tree is built as word2vec.c's CreateBinaryTree builds it: words sorted by count
(descending), then the two-pointer merge over the sorted leaves and the (already sorted)
inner nodes. Inner nodes are numbered 0..V-2 in creation order, so the root is V-2.
For each word, ``codes[w, j]`` is the bit taken at depth j and ``points[w, j]`` the inner
node that decides it (``points[w, 0]`` is always the root); both are padded with 0 past
``lengths[w]``.

Conventions (word2vec.c): with f = sigmoid(h . w_point), the probability of bit c is
sigmoid((1 - 2c) h . w_point), and the gradient coefficient is g = 1 - c - f.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _merge_sorted(sorted_counts: list[int]) -> np.ndarray:
    """word2vec.c's two-pointer merge over descending counts; children (V-1, 2) of each inner node.

    Nodes 0..V-1 are the sorted leaves, node V + a is inner node a; column 0 is the
    smaller child (bit 0), column 1 the other (bit 1). Ties go to the inner node, as in C.
    """
    n_words = len(sorted_counts)
    count = sorted_counts + [sum(sorted_counts) + 1] * (n_words - 1)  # sentinel: never picked
    children = [0] * (2 * (n_words - 1))
    pos1, pos2 = n_words - 1, n_words
    for node in range(n_words, 2 * n_words - 1):
        slot = 2 * (node - n_words)
        for bit in (0, 1):
            if pos1 >= 0 and count[pos1] < count[pos2]:
                children[slot + bit], pos1 = pos1, pos1 - 1
            else:
                children[slot + bit], pos2 = pos2, pos2 + 1
        count[node] = count[children[slot]] + count[children[slot + 1]]
    return np.asarray(children, dtype=np.int64).reshape(-1, 2)


def _leaf_depths(children: np.ndarray, n_words: int) -> np.ndarray:
    """Depth of every leaf, by a level-by-level walk down from the root (node 2V-2)."""
    depths = np.zeros(n_words, dtype=np.int64)
    frontier, depth = np.array([2 * n_words - 2]), 0
    while frontier.size:
        is_leaf = frontier < n_words
        depths[frontier[is_leaf]] = depth
        frontier = children[frontier[~is_leaf] - n_words].ravel()
        depth += 1
    return depths


def _leaf_paths(children: np.ndarray, depths: np.ndarray, order: np.ndarray):
    """Codes and points from root to leaf, filled from the leaf end up; leaf i is word order[i]."""
    n_words = len(depths)
    parent = np.zeros(2 * n_words - 1, dtype=np.int64)
    parent[children.ravel()] = np.repeat(np.arange(n_words, 2 * n_words - 1), 2)
    binary = np.zeros(2 * n_words - 1, dtype=np.int8)
    binary[children[:, 1]] = 1
    width = int(depths.max())
    codes = np.zeros((n_words, width), dtype=np.int8)
    points = np.zeros((n_words, width), dtype=np.int64)
    rows, current, slot = order, np.arange(n_words), depths - 1
    while rows.size:
        live = slot >= 0
        rows, current, slot = rows[live], current[live], slot[live]
        up = parent[current]
        codes[rows, slot] = binary[current]
        points[rows, slot] = up - n_words
        current, slot = up, slot - 1
    return codes, points


def huffman_tree(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Huffman codes (V, L) int8, inner-node points (V, L) int64 and code lengths (V,) int64.

    Counts below 1 (e.g. special tokens) are treated as 1 so every word gets a code.
    V = 1 gives a single word with an empty code (L = 0, probability 1, no inner nodes).
    """
    counts = np.maximum(np.asarray(counts, dtype=np.int64).ravel(), 1)
    n_words = len(counts)
    if n_words == 0:
        raise ValueError("huffman_tree needs at least one word")
    order = np.argsort(-counts, kind="stable")
    children = _merge_sorted(counts[order].tolist())
    depths = _leaf_depths(children, n_words)
    codes, points = _leaf_paths(children, depths, order)
    lengths = np.empty_like(depths)
    lengths[order] = depths
    return codes, points, lengths


def to_tensors(
    codes: np.ndarray, points: np.ndarray, lengths: np.ndarray, device="cpu"
) -> tuple[Tensor, Tensor, Tensor]:
    """The tree as torch tensors (codes int8, points int64, lengths int64) on ``device``."""
    return (
        torch.as_tensor(codes, dtype=torch.int8, device=device),
        torch.as_tensor(points, dtype=torch.int64, device=device),
        torch.as_tensor(lengths, dtype=torch.int64, device=device),
    )


def _path_logits(hidden, w_out, targets, codes_t, points_t, lengths_t):
    """Per target path: signs (1 - 2 code), points, valid-position mask, node rows and h . w."""
    points = points_t[targets]
    width = points.shape[1]
    mask = torch.arange(width, device=points.device) < lengths_t[targets].unsqueeze(1)
    signs = 1.0 - 2.0 * codes_t[targets].to(hidden.dtype)
    rows = w_out[points]  # (B, L, D)
    dots = torch.bmm(rows, hidden.unsqueeze(2)).squeeze(2)  # (B, L)
    return signs, points, mask, rows, dots


def hs_log_prob(
    hidden: Tensor, w_out: Tensor, targets: Tensor,
    codes_t: Tensor, points_t: Tensor, lengths_t: Tensor,
) -> Tensor:
    """log P(target | hidden) = sum_j log sigmoid((1 - 2 code_j) h . w_point_j), shape (B,)."""
    signs, _, mask, _, dots = _path_logits(hidden, w_out, targets, codes_t, points_t, lengths_t)
    return (F.logsigmoid(signs * dots) * mask).sum(dim=1)


def hs_gradients(
    hidden: Tensor, w_out: Tensor, targets: Tensor,
    codes_t: Tensor, points_t: Tensor, lengths_t: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Loss, d loss/d hidden (B, D), touched inner nodes (N,) and their gradient rows (N, D).

    Touched nodes are listed pair by pair, root first; padding is dropped, so N = sum of the
    targets' code lengths. Works in (B, L, D) memory, L the longest code.
    """
    with torch.no_grad():
        signs, points, mask, rows, dots = _path_logits(
            hidden, w_out, targets, codes_t, points_t, lengths_t
        )
        loss = -(F.logsigmoid(signs * dots) * mask).sum()
        code = (1.0 - signs) / 2.0
        coef = (torch.sigmoid(dots) + code - 1.0) * mask  # d loss / d dot = -g = -(1 - code - f)
        grad_hidden = torch.bmm(coef.unsqueeze(1), rows).squeeze(1)
        touched = points[mask]
        grad_rows = coef[mask].unsqueeze(1) * hidden.unsqueeze(1).expand_as(rows)[mask]
    return loss, grad_hidden, touched, grad_rows


def hs_step(
    w_in: Tensor, w_out: Tensor, inputs: Tensor, targets: Tensor,
    codes_t: Tensor, points_t: Tensor, lengths_t: Tensor, lr: float,
) -> float:
    """One SGD step on skip-gram pairs (input -> target); updates w_in, w_out in place.

    The loss is summed, not averaged, over pairs, as word2vec.c's per-pair updates are; a row
    updated by n pairs of the batch moves as far as at most MAX_SHARED_UPDATES of them would
    (`sgns.shared_row_scale`): the root lies on every path, the nodes near it on most.
    """
    from seqpipe.tasks.embeddings.sgns import shared_row_scale

    with torch.no_grad():
        hidden = w_in[inputs]
        loss, grad_hidden, touched, grad_rows = hs_gradients(
            hidden, w_out, targets, codes_t, points_t, lengths_t
        )
        w_out.index_add_(0, touched, grad_rows * shared_row_scale(touched, len(w_out))[:, None], alpha=-lr)
        w_in.index_add_(0, inputs, grad_hidden * shared_row_scale(inputs, len(w_in))[:, None], alpha=-lr)
    return float(loss)
