"""Word2vec on CPU threads: compiled kernels that update W_in and W_out in place (Hogwild).

The batched torch kernels of `sgns` (the GPU path) score a whole batch of shuffled
pairs from the parameters as they were before the step; these walk the corpus in
order, as word2vec.c and gensim do, and apply every update at once, so nothing is stale
and no row needs a cap. Each thread walks its own span of the corpus; threads write the
shared arrays without locks (Hogwild: collisions are rare and harmless). Numba compiles
the loops once per machine (cached beside this file), and they release the GIL.

Skip-gram with negative sampling shares one draw of `negative` words between all the
contexts of a centre word (Ji et al. 2016, "HogBatch", as in BlazingText): the centre's
output row and its negatives are copied once per window, and their updates summed over
the window and applied when it ends. CBOW and hierarchical softmax follow word2vec.c.
Every kernel takes a span of the corpus (ids, the sentence of each position), trains on
it with the learning rate falling linearly from lr_start to lr_end, and returns
(loss sum, examples): pairs for skip-gram, windows for CBOW.
"""
from __future__ import annotations

import numba
import numpy as np

SIGMOID_BOUND = 6.0     # word2vec.c's MAX_EXP: scores beyond it count as saturated
TABLE_SIZE = 1000


def sigmoid_tables() -> tuple[np.ndarray, np.ndarray]:
    """sigmoid(x) and log sigmoid(x) on TABLE_SIZE points of [-6, 6] (word2vec.c's EXP_TABLE)."""
    x = (np.arange(TABLE_SIZE, dtype=np.float64) / TABLE_SIZE * 2 - 1) * SIGMOID_BOUND
    return (1 / (1 + np.exp(-x))).astype(np.float32), (-np.logaddexp(0, -x)).astype(np.float32)


@numba.njit(inline="always")
def _next(state):
    """word2vec.c's linear congruential generator (64 bits)."""
    return state * np.uint64(25214903917) + np.uint64(11)


@numba.njit(inline="always")
def _seeded(seed):
    """A generator state from a seed (Knuth's multiplicative hash spreads nearby seeds)."""
    return np.uint64(seed) * np.uint64(2654435761) + np.uint64(1)


@numba.njit(inline="always")
def _uniform(state):
    """A float32 in [0, 1) from the generator's high bits."""
    return np.float32((state >> np.uint64(40)) & np.uint64(0xFFFFFF)) / np.float32(16777216.0)


@numba.njit(inline="always")
def _below(state, n):
    return np.int64((state >> np.uint64(16)) % np.uint64(n))


@numba.njit(inline="always")
def _draw_noise(state, prob, alias):
    """One word from the alias table: a slot uniformly, then the slot or its alias."""
    state = _next(state)
    slot = _below(state, len(prob))
    state = _next(state)
    return state, (slot if _uniform(state) < prob[slot] else np.int64(alias[slot]))


@numba.njit(inline="always")
def _kept_sentence(ids, sentence, start, keep_prob, state, buffer):
    """The words of ids[start:] up to the next sentence break that subsampling keeps, in buffer."""
    n, i = 0, start
    while i < len(ids) and sentence[i] == sentence[start]:
        state = _next(state)
        if keep_prob[ids[i]] >= _uniform(state):
            buffer[n] = ids[i]
            n += 1
        i += 1
    return state, n, i


@numba.njit(inline="always", fastmath=True)
def _dot(x, y):
    total = np.float32(0.0)
    for d in range(len(x)):
        total += x[d] * y[d]
    return total


@numba.njit(inline="always", fastmath=True)
def _axpy(a, x, y):
    for d in range(len(x)):
        y[d] += a * x[d]


@numba.njit(inline="always")
def _gradient(score, label, lr, sigmoid, log_sigmoid):
    """(lr * (label - sigmoid(score)), -log P(label)), saturating beyond +-6 as word2vec.c does."""
    if score >= SIGMOID_BOUND:
        return np.float32((label - 1.0) * lr), (0.0 if label == 1.0 else -log_sigmoid[0])
    if score <= -SIGMOID_BOUND:
        return np.float32(label * lr), (-log_sigmoid[0] if label == 1.0 else 0.0)
    slot = int((score + SIGMOID_BOUND) * (TABLE_SIZE / SIGMOID_BOUND / 2))
    own = slot if label == 1.0 else TABLE_SIZE - 1 - slot
    return np.float32((label - sigmoid[slot]) * lr), -log_sigmoid[own]


@numba.njit(inline="always")
def _reach(state, window):
    """word2vec.c's dynamic window: 1..window, uniformly."""
    state = _next(state)
    return state, window - _below(state, window)


@numba.njit(nogil=True, fastmath=True, cache=True)
def skipgram_ns(w_in, w_out, ids, sentence, keep_prob, prob, alias, sigmoid, log_sigmoid,
                window, negative, lr_start, lr_end, seed):
    """Skip-gram, negative sampling: each context's W_in row predicts the centre word.

    A window at a time, as matrix products: the scores of every (context, target) pair
    from the rows as they were, then each target row moves by sum_j g_jk x_j and each
    context row by sum_k g_jk out_k (a target that is the centre word itself is skipped).
    """
    dim, n_words = w_in.shape[1], len(ids)
    state = _seeded(seed)
    buffer = np.empty(n_words, np.int32)
    targets = np.empty(negative + 1, np.int64)
    labels = np.zeros(negative + 1, np.float32)
    labels[0] = 1.0
    live = np.ones(negative + 1, np.bool_)
    ctx_rows = np.empty(2 * window, np.int64)
    g = np.empty((2 * window, negative + 1), np.float32)
    acc = np.empty(dim, np.float32)
    out_rows = np.empty((negative + 1, dim), np.float32)
    loss, pairs, start = 0.0, 0, 0
    while start < n_words:
        lr = lr_start + (lr_end - lr_start) * start / n_words
        state, kept, start = _kept_sentence(ids, sentence, start, keep_prob, state, buffer)
        for pos in range(kept):
            state, reach = _reach(state, window)
            targets[0] = buffer[pos]
            for k in range(1, negative + 1):
                state, targets[k] = _draw_noise(state, prob, alias)
                live[k] = targets[k] != targets[0]
            c = 0
            for ctx in range(max(0, pos - reach), min(kept, pos + reach + 1)):
                if ctx != pos:
                    ctx_rows[c] = buffer[ctx]
                    c += 1
            for k in range(negative + 1):      # scores and gradients, one target row at a time
                out_rows[k] = w_out[targets[k]]
                for j in range(c):
                    if live[k]:
                        g[j, k], term = _gradient(_dot(w_in[ctx_rows[j]], out_rows[k]), labels[k], lr, sigmoid,
                                                  log_sigmoid)
                        loss += term
                    else:
                        g[j, k] = 0.0
            for k in range(negative + 1):      # each target row moves by sum_j g_jk x_j
                if live[k]:
                    acc[:] = 0.0
                    for j in range(c):
                        _axpy(g[j, k], w_in[ctx_rows[j]], acc)
                    _axpy(np.float32(1.0), acc, w_out[targets[k]])
            for j in range(c):                 # each context row by sum_k g_jk out_k (out as it was)
                acc[:] = 0.0
                for k in range(negative + 1):
                    _axpy(g[j, k], out_rows[k], acc)
                _axpy(np.float32(1.0), acc, w_in[ctx_rows[j]])
            pairs += c
    return loss, pairs


@numba.njit(inline="always", fastmath=True)
def _hs_path(x, neu1e, w_out, code, point, length, lr, sigmoid, log_sigmoid):
    """Hierarchical softmax down one word's Huffman path: updates the nodes, adds to neu1e.
    A node whose score is beyond +-6 is left alone, as word2vec.c and gensim do (its loss
    still counts); negative sampling clips such a score instead, as word2vec.c does too."""
    loss = 0.0
    for j in range(length):
        node = w_out[point[j]]
        score = _dot(x, node)
        g, term = _gradient(score, 1.0 - code[j], lr, sigmoid, log_sigmoid)
        loss += term
        if score >= SIGMOID_BOUND or score <= -SIGMOID_BOUND:
            continue
        _axpy(g, node, neu1e)
        _axpy(g, x, node)
    return loss


@numba.njit(nogil=True, fastmath=True, cache=True)
def skipgram_hs(w_in, w_out, ids, sentence, keep_prob, codes, points, lengths, sigmoid, log_sigmoid,
                window, lr_start, lr_end, seed):
    """Skip-gram, hierarchical softmax: each context's W_in row walks the centre word's path."""
    dim, n_words = w_in.shape[1], len(ids)
    state = _seeded(seed)
    buffer = np.empty(n_words, np.int32)
    neu1e = np.empty(dim, np.float32)
    loss, pairs, start = 0.0, 0, 0
    while start < n_words:
        lr = lr_start + (lr_end - lr_start) * start / n_words
        state, kept, start = _kept_sentence(ids, sentence, start, keep_prob, state, buffer)
        for pos in range(kept):
            state, reach = _reach(state, window)
            centre = buffer[pos]
            for ctx in range(max(0, pos - reach), min(kept, pos + reach + 1)):
                if ctx == pos:
                    continue
                x = w_in[buffer[ctx]]
                neu1e[:] = 0.0
                loss += _hs_path(x, neu1e, w_out, codes[centre], points[centre], lengths[centre], lr,
                                 sigmoid, log_sigmoid)
                _axpy(np.float32(1.0), neu1e, x)
                pairs += 1
    return loss, pairs


@numba.njit(nogil=True, fastmath=True, cache=True)
def cbow(w_in, w_out, ids, sentence, keep_prob, prob, alias, codes, points, lengths, sigmoid, log_sigmoid,
         window, negative, hs, lr_start, lr_end, seed):
    """CBOW: the mean of the context rows predicts the centre word, by negative sampling or
    (hs) hierarchical softmax; every context row then receives the whole gradient of the mean."""
    dim, n_words = w_in.shape[1], len(ids)
    state = _seeded(seed)
    buffer = np.empty(n_words, np.int32)
    hidden = np.empty(dim, np.float32)
    neu1e = np.empty(dim, np.float32)
    loss, windows, start = 0.0, 0, 0
    while start < n_words:
        lr = lr_start + (lr_end - lr_start) * start / n_words
        state, kept, start = _kept_sentence(ids, sentence, start, keep_prob, state, buffer)
        for pos in range(kept):
            state, reach = _reach(state, window)
            lo, hi = max(0, pos - reach), min(kept, pos + reach + 1)
            if hi - lo < 2:
                continue  # no context: a one-word sentence
            hidden[:] = 0.0
            for ctx in range(lo, hi):
                if ctx != pos:
                    _axpy(np.float32(1.0), w_in[buffer[ctx]], hidden)
            hidden /= np.float32(hi - lo - 1)
            neu1e[:] = 0.0
            centre = buffer[pos]
            if hs:
                loss += _hs_path(hidden, neu1e, w_out, codes[centre], points[centre], lengths[centre], lr,
                                 sigmoid, log_sigmoid)
            else:
                for k in range(negative + 1):
                    target = np.int64(centre)
                    if k > 0:
                        state, target = _draw_noise(state, prob, alias)
                        if target == centre:
                            continue
                    g, term = _gradient(_dot(hidden, w_out[target]), 1.0 if k == 0 else 0.0, lr, sigmoid, log_sigmoid)
                    loss += term
                    _axpy(g, w_out[target], neu1e)
                    _axpy(g, hidden, w_out[target])
            for ctx in range(lo, hi):
                if ctx != pos:
                    _axpy(np.float32(1.0), neu1e, w_in[buffer[ctx]])
            windows += 1
    return loss, windows


def span_trainer(w_in: np.ndarray, w_out: np.ndarray, cfg, keep_prob: np.ndarray, noise, tree):
    """train(ids, sentence, lr_start, lr_end, seed) -> (loss sum, examples) on the arrays, for cfg.algo and cfg.loss.

    noise is the alias table of negative sampling (prob, alias), tree the Huffman codes,
    points and lengths of hierarchical softmax; either may be None when unused.
    """
    sigmoid, log_sigmoid = sigmoid_tables()
    keep = np.ascontiguousarray(keep_prob, dtype=np.float32)
    prob, alias = (np.zeros(1, np.float32), np.zeros(1, np.int64)) if noise is None else noise
    codes, points, lengths = (np.zeros((1, 1), np.int8), np.zeros((1, 1), np.int64),
                              np.zeros(1, np.int64)) if tree is None else tree
    hs = cfg.loss == "hs"

    def train(ids, sentence, lr_start, lr_end, seed):
        if cfg.algo == "cbow":
            return cbow(w_in, w_out, ids, sentence, keep, prob, alias, codes, points, lengths, sigmoid, log_sigmoid,
                        cfg.window, cfg.negative, hs, lr_start, lr_end, seed)
        if hs:
            return skipgram_hs(w_in, w_out, ids, sentence, keep, codes, points, lengths, sigmoid, log_sigmoid,
                               cfg.window, lr_start, lr_end, seed)
        return skipgram_ns(w_in, w_out, ids, sentence, keep, prob, alias, sigmoid, log_sigmoid,
                           cfg.window, cfg.negative, lr_start, lr_end, seed)

    return train
