"""Subsampling and the negative-sampling distribution, checked against their definitions."""
import math

import numpy as np
import pytest

from seqpipe.data.sampling import AliasSampler, keep_probabilities, noise_distribution


def word2vec_c_keep(count: int, train_words: int, sample: float) -> float:
    """word2vec.c, TrainModelThread: ran = (sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn."""
    ran = (math.sqrt(count / (sample * train_words)) + 1) * (sample * train_words) / count
    return min(ran, 1.0)


def test_keep_probability_matches_word2vec_c():
    counts = np.array([0, 50_000, 10_000, 1_000, 100, 5])
    keep = keep_probabilities(counts, 1e-3)
    total = counts.sum()
    assert keep[0] == 1.0
    for count, p in zip(counts[1:], keep[1:]):
        assert p == pytest.approx(word2vec_c_keep(int(count), int(total), 1e-3))
    assert keep[1] < keep[2] < keep[3] < 1.0 and keep[5] == 1.0


def test_sample_zero_keeps_everything():
    assert keep_probabilities(np.array([10, 1000]), 0.0).tolist() == [1.0, 1.0]


def test_noise_distribution_is_count_to_the_three_quarters():
    p = noise_distribution(np.array([0, 16, 1]), 0.75)
    assert p[0] == 0 and p[1] / p[2] == pytest.approx(16 ** 0.75) and p.sum() == pytest.approx(1)


def table_distribution(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """What a draw from an alias table follows: slot i (chance 1/n) gives i with prob[i], else alias[i]."""
    return (prob + np.bincount(alias, weights=1 - prob, minlength=len(prob))) / len(prob)


def test_alias_table_represents_the_distribution_exactly():
    rng = np.random.default_rng(0)
    counts = np.concatenate([[0, 0], rng.zipf(1.3, size=500).clip(max=10_000)])
    probs = noise_distribution(counts, 0.75)
    table = AliasSampler(probs)
    assert ((table.prob >= 0) & (table.prob <= 1)).all() and table.alias.dtype == np.int64
    implied = table_distribution(table.prob, table.alias)
    assert implied[:2].tolist() == [0.0, 0.0], "zero-probability entries are never drawn"
    np.testing.assert_allclose(implied, probs, rtol=1e-9, atol=1e-15)


def test_alias_table_of_a_uniform_and_a_one_point_distribution():
    uniform = AliasSampler(np.full(4, 0.25))
    assert uniform.prob.tolist() == [1.0] * 4 and uniform.alias.tolist() == [0, 1, 2, 3]
    point = AliasSampler(np.array([0.0, 1.0, 0.0]))
    assert table_distribution(point.prob, point.alias).tolist() == [0.0, 1.0, 0.0]
