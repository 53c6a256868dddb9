import copy
from collections import defaultdict

import numpy as np
import pytest
import torch

from seqpipe.tasks.embeddings.glove import (
    _chunk_bounds, cooccurrence, glove_gradients, glove_loss, glove_step, glove_vectors, glove_weight,
    epoch_order, glove_epoch, init_glove,
)


def brute_force(sentences, window, symmetric):
    """X as a dict {(i, j): value} by a plain double loop."""
    x = defaultdict(float)
    for sentence in sentences:
        for k, i in enumerate(sentence):
            for d in range(1, window + 1):
                if k + d >= len(sentence) or i < 0 or sentence[k + d] < 0:
                    continue
                j = sentence[k + d]
                x[i, j] += 1.0 / d
                if symmetric:
                    x[j, i] += 1.0 / d
    return dict(x)


def flatten(sentences):
    ids = np.array([t for s in sentences for t in s], dtype=np.int32)
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in sentences]))).astype(np.int64)
    return ids, offsets


def as_dict(rows, cols, values):
    return {(int(r), int(c)): float(v) for r, c, v in zip(rows, cols, values)}


def assert_sorted_unique(rows, cols):
    keys = rows.astype(np.int64) * 10**6 + cols
    assert np.all(np.diff(keys) > 0), "entries merged and sorted by (row, col)"


@pytest.mark.parametrize("symmetric", [True, False])
def test_cooccurrence_matches_brute_force_with_oov_and_sentence_bounds(symmetric):
    sentences = [[0, 1, -1, 2, 1], [2, 3, 0]]
    ids, offsets = flatten(sentences)
    rows, cols, values = cooccurrence(ids, offsets, vocab_size=4, window=2, symmetric=symmetric)
    assert rows.dtype == np.int32 and cols.dtype == np.int32 and values.dtype == np.float32
    assert_sorted_unique(rows, cols)
    got, want = as_dict(rows, cols, values), brute_force(sentences, 2, symmetric)
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(want[k]) for k in want)
    # hand-checked: the OOV between 1 and 2 puts them at distance 2; (2, 1) is at distance 1;
    # 1 ending sentence 0 next to 2 starting sentence 1 adds nothing
    assert got[1, 2] == pytest.approx(0.5 + (1.0 if symmetric else 0.0))
    assert (1, 3) not in got and (2, 2) not in got, "no pair across sentences"


def test_symmetric_self_pair_counts_both_directions():
    ids, offsets = flatten([[5, 5]])
    assert as_dict(*cooccurrence(ids, offsets, 6, window=3)) == {(5, 5): 2.0}


def test_chunked_equals_unchunked_on_random_corpus():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 31, size=130)
    ids = rng.integers(0, 40, size=lengths.sum()).astype(np.int64)
    ids[rng.random(len(ids)) < 0.05] = -1
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    for symmetric in (True, False):
        big = cooccurrence(ids, offsets, 40, window=5, symmetric=symmetric, chunk_tokens=10**7)
        small = cooccurrence(ids, offsets, 40, window=5, symmetric=symmetric, chunk_tokens=3)
        np.testing.assert_array_equal(big[0], small[0])
        np.testing.assert_array_equal(big[1], small[1])
        np.testing.assert_allclose(big[2], small[2], rtol=1e-6)
        sentences = [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])]
        want = brute_force(sentences, 5, symmetric)
        got = as_dict(*small)
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-5)


def test_long_sentence_split_across_chunks_and_empty_sentences():
    rng = np.random.default_rng(1)
    sentences = [rng.integers(0, 7, 50).tolist(), [], [3], rng.integers(0, 7, 9).tolist()]
    ids, offsets = flatten(sentences)
    want = brute_force(sentences, 4, True)
    for chunk in (1, 7, 1000):
        got = as_dict(*cooccurrence(ids, offsets, 7, window=4, chunk_tokens=chunk))
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-5)


def test_chunks_cut_at_sentence_starts_unless_a_sentence_is_too_long():
    offsets = np.array([0, 2, 4, 5, 15, 16])
    assert _chunk_bounds(offsets, 3) == [(0, 2), (2, 5), (5, 8), (8, 11), (11, 14), (14, 16)]
    assert _chunk_bounds(offsets, 100) == [(0, 16)]


def test_glove_weight_numpy_and_torch():
    x = np.array([50.0, 100.0, 200.0])
    np.testing.assert_allclose(glove_weight(x, 100.0, 0.75), [0.5 ** 0.75, 1.0, 1.0])
    t = glove_weight(torch.tensor(x), 100.0, 0.75)
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), [0.5 ** 0.75, 1.0, 1.0])


def tiny_problem(seed=0, vocab=7, dim=4):
    gen = torch.Generator().manual_seed(seed)
    params = init_glove(vocab, dim, seed=seed)
    for name in ("w", "w_ctx"):
        getattr(params, name).copy_(torch.randn(vocab, dim, generator=gen) * 0.5)
    params.b.copy_(torch.randn(vocab, generator=gen))
    params.b_ctx.copy_(torch.randn(vocab, generator=gen))
    rows = torch.tensor([0, 3, 3, 5, 0, 6])          # rows 0 and 3 repeat
    cols = torch.tensor([1, 2, 4, 2, 6, 1])          # cols 1 and 2 repeat
    values = torch.tensor([0.5, 3.0, 150.0, 20.0, 1.0, 99.0])
    return params, rows, cols, values


def test_hand_gradients_equal_autograd_of_loss():
    params, rows, cols, values = tiny_problem()
    leaves = {n: getattr(params, n).double().requires_grad_() for n in ("w", "w_ctx", "b", "b_ctx")}
    for n, t in leaves.items():
        setattr(params, n, t)
    loss = glove_loss(params, rows, cols, values.double(), x_max=100.0, alpha=0.75)
    auto = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))
    with torch.no_grad():
        g = glove_gradients(params, rows, cols, values.double(), x_max=100.0, alpha=0.75)
    assert float(g["cost"]) == pytest.approx(float(loss.detach()))
    for name, index in (("w", g["rows"]), ("b", g["rows"]), ("w_ctx", g["cols"]), ("b_ctx", g["cols"])):
        dense = torch.zeros_like(auto[name])
        dense[index] = g[name]
        torch.testing.assert_close(dense, auto[name])
    assert g["rows"].tolist() == [0, 3, 5, 6]


def test_step_is_adagrad_with_old_gradsq_then_accumulate():
    params, rows, cols, values = tiny_problem()
    params.gradsq_w.fill_(4.0)
    before = copy.deepcopy(params)
    g = glove_gradients(before, rows, cols, values)
    cost = glove_step(params, rows, cols, values, lr=0.1)
    assert cost == pytest.approx(float(g["cost"]))
    r = g["rows"]
    torch.testing.assert_close(params.w[r], before.w[r] - 0.1 * g["w"] / 2.0)
    torch.testing.assert_close(params.gradsq_w[r], 4.0 + (0.1 * g["w"]) ** 2)  # glove.c accumulates (lr * g)^2
    torch.testing.assert_close(params.b[r], before.b[r] - 0.1 * g["b"])
    untouched = torch.ones(7, dtype=torch.bool)
    untouched[r] = False
    torch.testing.assert_close(params.w[untouched], before.w[untouched])


def test_step_skips_non_finite_entries_but_keeps_their_rows_other_entries():
    params, rows, cols, values = tiny_problem()
    values = values.clone()
    values[1] = 0.0                                   # log 0 = -inf
    params.w_ctx[1, 0] = float("inf")                 # entries 0 and 5 (col 1) get a non-finite diff
    clean = copy.deepcopy(params)
    cost = glove_step(params, rows, cols, values)
    assert np.isfinite(cost)
    for name in ("w", "b", "b_ctx", "gradsq_w", "gradsq_b", "gradsq_w_ctx"):
        assert torch.isfinite(getattr(params, name)).all(), name
    assert not torch.equal(params.w[0], clean.w[0]), "row 0 still learns from its finite entry 4"
    keep = torch.tensor([False, False, True, True, True, False])
    glove_step(clean, rows[keep], cols[keep], values[keep])
    for name in ("w", "b", "w_ctx", "b_ctx", "gradsq_w", "gradsq_b_ctx"):
        torch.testing.assert_close(getattr(params, name), getattr(clean, name))


def planted_cooccurrences(vocab=60, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(0, 0.7, (vocab, dim)), rng.normal(0, 0.7, (vocab, dim))
    x = np.exp(u @ v.T + 2.0 + rng.normal(0, 0.05, (vocab, vocab)))
    x = np.maximum(x, 1e-2)
    rows, cols = np.divmod(np.arange(vocab * vocab), vocab)
    return rows, cols, x.reshape(-1).astype(np.float32)


def train(rows, cols, values, vocab, dim, epochs, batch_size, lr=0.05, seed=0, costs=None):
    """GloVe on one process: glove_epoch over epoch_order, the worker loop's own parts."""
    params = init_glove(vocab, dim, seed=seed)
    entries = [torch.as_tensor(rows), torch.as_tensor(cols), torch.as_tensor(values)]
    for epoch in range(epochs):
        cost = glove_epoch(params, *entries, epoch_order(len(values), seed, 0, epoch), batch_size, lr)
        if costs is not None:
            costs.append(cost)
    return glove_vectors(params)


def test_training_on_planted_low_rank_structure_reduces_cost():
    rows, cols, values = planted_cooccurrences()
    costs = []
    vectors = train(rows, cols, values, 60, dim=5, epochs=50, lr=0.1, batch_size=256, costs=costs)
    assert vectors.shape == (60, 5) and vectors.dtype == np.float32
    assert len(costs) == 50
    assert costs[-1] < 0.1 * costs[0], (costs[0], costs[-1])


def test_each_epoch_has_its_own_order_drawn_from_seed_rank_and_epoch():
    orders = [epoch_order(100, 1, 0, epoch) for epoch in range(3)]
    assert all(sorted(o.tolist()) == list(range(100)) for o in orders)
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[1], orders[2])
    assert torch.equal(epoch_order(100, 1, 0, 2), orders[2])  # a resumed epoch 2 repeats it
    assert not torch.equal(epoch_order(100, 1, 1, 0), orders[0]) and not torch.equal(epoch_order(100, 2, 0, 0), orders[0])


def test_same_seed_same_vectors_other_seed_differs():
    rows, cols, values = planted_cooccurrences(vocab=20)
    run = lambda seed: train(rows, cols, values, 20, dim=5, epochs=3, batch_size=64, seed=seed)
    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_init_and_vectors():
    params = init_glove(50, 10, seed=1)
    assert params.w.abs().max() <= 0.05 and params.w_ctx.abs().max() <= 0.05
    assert not torch.equal(params.w, params.w_ctx)
    assert torch.equal(init_glove(50, 10, seed=1).w, params.w)
    assert not torch.equal(init_glove(50, 10, seed=2).w, params.w)
    assert (params.b == 0).all() and (params.gradsq_w == 1).all() and (params.gradsq_b_ctx == 1).all()
    np.testing.assert_allclose(glove_vectors(params), (params.w + params.w_ctx).numpy())
