"""Hierarchical softmax: the Huffman tree against its definition, the kernels against autograd."""
import heapq
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqpipe.tasks.embeddings.hsoftmax import (
    hs_gradients,
    hs_log_prob,
    hs_step,
    huffman_tree,
    to_tensors,
)


def optimal_huffman_cost(counts) -> int:
    """Classic result: the optimal weighted code length is the sum of all merged weights."""
    heap = [int(c) for c in counts]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


def code_strings(codes, lengths) -> list[str]:
    return ["".join(str(b) for b in row[:n]) for row, n in zip(codes, lengths)]


def reference_loss(hidden, w_out, targets, codes, points, lengths):
    """The loss written pair by pair from its definition, for autograd to differentiate."""
    terms = []
    for b, word in enumerate(targets.tolist()):
        for j in range(int(lengths[word])):
            sign = 1.0 - 2.0 * float(codes[word, j])
            terms.append(F.logsigmoid(sign * (hidden[b] @ w_out[int(points[word, j])])))
    return -torch.stack(terms).sum()


def test_textbook_code_lengths():
    codes, points, lengths = huffman_tree(np.array([5, 9, 12, 13, 16, 45]))
    assert lengths.tolist() == [4, 4, 3, 3, 3, 1]
    assert codes.shape == points.shape == (6, 4)
    assert codes.dtype == np.int8 and points.dtype == np.int64 and lengths.dtype == np.int64
    assert (points[:, 0] == 4).all()  # every path starts at the root, inner node V-2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tree_is_complete_prefix_free_and_optimal(seed):
    rng = np.random.default_rng(seed)
    counts = np.concatenate([[0, 0, 7, 7, 7], rng.integers(1, 1000, size=60)])
    rng.shuffle(counts)
    codes, points, lengths = huffman_tree(counts)
    words = code_strings(codes, lengths)
    assert (lengths >= 1).all()
    assert len(set(words)) == len(words)
    assert not any(a != b and b.startswith(a) for a in words for b in words)
    assert sum(2.0 ** -lengths) == pytest.approx(1.0)  # a full binary tree
    effective = np.maximum(counts, 1)
    assert int((effective * lengths).sum()) == optimal_huffman_cost(effective)
    assert (codes[np.arange(codes.shape[1]) >= lengths[:, None]] == 0).all()
    assert (points[np.arange(points.shape[1]) >= lengths[:, None]] == 0).all()


def test_points_name_the_inner_node_of_each_code_prefix():
    counts = np.random.default_rng(3).integers(1, 50, size=40)
    codes, points, lengths = huffman_tree(counts)
    node_of_prefix = {}
    for word, code in enumerate(code_strings(codes, lengths)):
        for j in range(lengths[word]):
            assert node_of_prefix.setdefault(code[:j], points[word, j]) == points[word, j]
    assert sorted(int(p) for p in node_of_prefix.values()) == list(range(len(counts) - 1))


def test_one_and_two_words():
    codes, points, lengths = huffman_tree(np.array([3]))
    assert codes.shape == (1, 0) and lengths.tolist() == [0]
    tree = to_tensors(codes, points, lengths)
    log_p = hs_log_prob(torch.randn(2, 4), torch.zeros(0, 4), torch.tensor([0, 0]), *tree)
    assert log_p.tolist() == [0.0, 0.0]
    codes, points, lengths = huffman_tree(np.array([3, 0]))
    assert lengths.tolist() == [1, 1] and points.tolist() == [[0], [0]]
    assert sorted(codes[:, 0].tolist()) == [0, 1]


def test_probabilities_over_all_words_sum_to_one():
    torch.manual_seed(0)
    counts = np.random.default_rng(4).integers(0, 100, size=37)
    tree = to_tensors(*huffman_tree(counts))
    vocab, dim = len(counts), 6
    w_out = torch.randn(vocab - 1, dim, dtype=torch.float64)
    for hidden in torch.randn(5, dim, dtype=torch.float64):
        log_p = hs_log_prob(hidden.expand(vocab, dim), w_out, torch.arange(vocab), *tree)
        assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-5)


@pytest.fixture
def tiny_problem():
    torch.manual_seed(1)
    counts = np.array([30, 1, 4, 9, 2, 15, 7, 7, 3, 20, 5])
    tree_np = huffman_tree(counts)
    inputs = torch.tensor([0, 3, 3, 7, 1, 0])  # repeated inputs 0 and 3
    targets = torch.tensor([5, 2, 9, 5, 10, 1])  # repeated target 5
    w_in = torch.randn(len(counts), 5, dtype=torch.float64)
    w_out = torch.randn(len(counts) - 1, 5, dtype=torch.float64)
    return tree_np, to_tensors(*tree_np), inputs, targets, w_in, w_out


def autograd_grads(tree_np, inputs, targets, w_in, w_out):
    w_in, w_out = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    hidden = w_in[inputs]
    hidden.retain_grad()
    loss = reference_loss(hidden, w_out, targets, *tree_np)
    loss.backward()
    return loss.detach(), hidden.grad, w_in.grad, w_out.grad


def test_hs_gradients_match_autograd(tiny_problem):
    tree_np, tree, inputs, targets, w_in, w_out = tiny_problem
    loss_ref, g_hidden_ref, _, g_out_ref = autograd_grads(tree_np, inputs, targets, w_in, w_out)
    loss, g_hidden, touched, rows = hs_gradients(w_in[inputs], w_out, targets, *tree)
    assert touched.shape == (int(tree_np[2][targets.numpy()].sum()),)
    g_out = torch.zeros_like(w_out).index_add_(0, touched, rows)
    torch.testing.assert_close(loss, loss_ref)
    torch.testing.assert_close(g_hidden, g_hidden_ref)
    torch.testing.assert_close(g_out, g_out_ref)


def test_hs_step_is_sgd_on_the_pre_update_gradients(tiny_problem):
    tree_np, tree, inputs, targets, w_in, w_out = tiny_problem
    loss_ref, _, g_in_ref, g_out_ref = autograd_grads(tree_np, inputs, targets, w_in, w_out)
    new_in, new_out, lr = w_in.clone(), w_out.clone(), 0.05
    loss = hs_step(new_in, new_out, inputs, targets, *tree, lr=lr)
    assert loss == pytest.approx(loss_ref.item())
    torch.testing.assert_close(new_in, w_in - lr * g_in_ref)
    torch.testing.assert_close(new_out, w_out - lr * g_out_ref)


def test_small_step_decreases_the_loss(tiny_problem):
    _, tree, inputs, targets, w_in, w_out = tiny_problem
    before = -hs_log_prob(w_in[inputs], w_out, targets, *tree).sum().item()
    assert hs_step(w_in, w_out, inputs, targets, *tree, lr=1e-3) == pytest.approx(before)
    after = -hs_log_prob(w_in[inputs], w_out, targets, *tree).sum().item()
    assert after < before


def test_toy_skip_gram_learns_the_pairing():
    torch.manual_seed(2)
    vocab, dim = 8, 8
    tree = to_tensors(*huffman_tree(np.array([50, 40, 30, 20, 10, 5, 3, 1])))
    inputs, targets = torch.tensor([0, 1, 2, 3]), torch.tensor([6, 4, 7, 5])
    w_in = (torch.rand(vocab, dim) - 0.5) / dim  # word2vec.c's initialisation
    w_out = torch.zeros(vocab - 1, dim)
    losses = [hs_step(w_in, w_out, inputs, targets, *tree, lr=0.5) for _ in range(200)]
    assert losses[-1] < 0.1 * losses[0]
    for word, target in zip(inputs.tolist(), targets.tolist()):
        log_p = hs_log_prob(w_in[word].expand(vocab, dim), w_out, torch.arange(vocab), *tree)
        assert log_p.argmax().item() == target


def test_huffman_tree_is_fast_for_a_large_vocabulary():
    counts = np.random.default_rng(5).zipf(1.3, size=200_000).clip(max=10**9)
    start = time.perf_counter()
    codes, _, lengths = huffman_tree(counts)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0
    assert codes.shape == (200_000, lengths.max()) and sum(2.0 ** -lengths) == pytest.approx(1.0)


def test_the_root_on_every_path_moves_as_far_as_the_capped_number_of_pair_updates():
    from seqpipe.tasks.embeddings.sgns import MAX_SHARED_UPDATES

    counts = np.arange(1, 21)
    codes, points, lengths = to_tensors(*huffman_tree(counts))
    torch.manual_seed(0)
    w_in, w_out = torch.randn(20, 4) * 0.1, torch.randn(19, 4) * 0.1
    pairs = 2 * MAX_SHARED_UPDATES
    inputs, targets = torch.randint(0, 20, (pairs,)), torch.randint(0, 20, (pairs,))
    root = 18  # inner nodes 0..V-2 in creation order: the root is the last
    assert (points[targets, 0] == root).all()
    _, _, touched, grad_rows = hs_gradients(w_in[inputs], w_out, targets, codes, points, lengths)
    before, lr = w_out[root].clone(), 0.05
    hs_step(w_in, w_out, inputs, targets, codes, points, lengths, lr)
    full = -lr * grad_rows[touched == root].sum(0)
    assert torch.allclose(w_out[root] - before, full * 0.5, atol=1e-7)
