"""Word2vec's sampling rules: frequent-word subsampling and the f^0.75 noise distribution."""
from __future__ import annotations

import numpy as np


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word, as word2vec.c computes it.

    With f = count / total and threshold t = sample: keep = (sqrt(f / t) + 1) * t / f,
    capped at 1 (Mikolov et al. 2013, as implemented in word2vec.c and gensim).
    Words with count 0 (special tokens) are always kept; sample = 0 disables subsampling.
    """
    counts = np.asarray(counts, dtype=np.float64)
    keep = np.ones_like(counts)
    if sample <= 0 or counts.sum() == 0:
        return keep
    threshold = sample * counts.sum()
    seen = counts > 0
    keep[seen] = (np.sqrt(counts[seen] / threshold) + 1) * threshold / counts[seen]
    return np.minimum(keep, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """P(w) = count(w)^power / sum_v count(v)^power; words with count 0 are never drawn."""
    weights = np.where(np.asarray(counts) > 0, np.asarray(counts, dtype=np.float64) ** power, 0.0)
    total = weights.sum()
    if total == 0:
        raise ValueError("noise distribution over an empty vocabulary")
    return weights / total


class AliasSampler:
    """The Walker alias table of a discrete distribution (Vose's construction): a draw picks a
    slot i uniformly and gives i with probability prob[i], else alias[i] — O(1) per draw.

    Two arrays of V entries replace word2vec.c's 10^8-entry unigram table, and every
    probability is represented exactly rather than rounded to a table slot. The vocabulary
    stage saves the table (unigram.npz); training draws from it on its device
    (seqpipe.tasks.embeddings.sgns.NoiseSampler).
    """

    def __init__(self, probs: np.ndarray):
        probs = np.asarray(probs, dtype=np.float64)
        n = len(probs)
        scaled = probs * n / probs.sum()
        self.prob = np.ones(n, dtype=np.float64)
        self.alias = np.arange(n, dtype=np.int64)
        small = [i for i in range(n) if scaled[i] < 1.0]
        large = [i for i in range(n) if scaled[i] >= 1.0]
        while small and large:
            s, g = small.pop(), large.pop()
            self.prob[s], self.alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        # Whatever is left is 1 up to rounding error: it keeps itself (prob 1, alias self).
