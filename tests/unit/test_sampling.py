"""Subsampling and the negative-sampling distribution, checked against their definitions."""
import math

import numpy as np
import pytest
from scipy import stats

from seqpipe.sampling import AliasSampler, keep_probabilities, noise_distribution


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


def test_alias_sampler_matches_the_distribution_by_chi_square():
    rng = np.random.default_rng(0)
    counts = np.concatenate([[0, 0], rng.zipf(1.3, size=500).clip(max=10_000)])
    probs = noise_distribution(counts, 0.75)
    draws = AliasSampler(probs).sample(1_000_000, rng)
    observed = np.bincount(draws, minlength=len(probs))
    assert observed[:2].sum() == 0, "zero-probability entries are never drawn"
    expected = probs * len(draws)
    keep = expected > 0
    # Pool the rarest cells so that every expected count is >= 5, as the test requires.
    order = np.argsort(expected[keep])
    obs, exp = observed[keep][order], expected[keep][order]
    small = np.cumsum(exp) < 5 * 20
    pooled_obs = np.append(obs[~small], obs[small].sum())
    pooled_exp = np.append(exp[~small], exp[small].sum())
    p_value = stats.chisquare(pooled_obs, pooled_exp).pvalue
    assert p_value > 1e-3


def test_alias_sampler_rejects_a_biased_distribution():
    """The chi-square check above has power: a sampler off by 2% on one word fails it."""
    rng = np.random.default_rng(1)
    probs = np.array([0.5, 0.3, 0.2])
    biased = AliasSampler(np.array([0.51, 0.29, 0.2])).sample(1_000_000, rng)
    observed = np.bincount(biased, minlength=3)
    assert stats.chisquare(observed, probs * len(biased)).pvalue < 1e-6
