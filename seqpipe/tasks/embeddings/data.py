"""Training data for word2vec: subsampling, skip-gram pairs, CBOW windows over the id arrays
of seqpipe.data.corpus.

A corpus is held as `ids` (int32, every sentence's in-vocabulary words, concatenated)
and `sentence` (the sentence each position belongs to; only whether two positions share
it counts, so any numbering with the same boundaries gives the same windows).
Out-of-vocabulary words are dropped before windowing, as word2vec.c and gensim do. The
functions take one chunk of a worker's share at a time (`word2vec.train_epoch`), so what
they allocate follows the chunk, not the corpus.
"""
from __future__ import annotations

import numpy as np


def subsample(ids: np.ndarray, sentence: np.ndarray, keep_prob: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Drop each occurrence of word w with probability 1 - keep_prob[w] (new draw per call)."""
    keep = rng.random(len(ids)) < keep_prob[ids]
    return ids[keep], sentence[keep]


def skipgram_pairs(ids: np.ndarray, sentence: np.ndarray, window: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(input, output) pairs: each word predicts its neighbours within a dynamic window.

    As in word2vec.c, every centre word draws its window b uniformly from 1..window and
    pairs with the words at distance <= b in its sentence; the neighbour is the input
    (its row of W_in is trained) and the centre word the output.
    """
    reach = rng.integers(1, window + 1, size=len(ids))
    inputs, outputs = [], []
    for d in range(1, min(window, len(ids) - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        left_centre = same & (reach[:-d] >= d)   # centre at i, neighbour at i + d
        right_centre = same & (reach[d:] >= d)   # centre at i + d, neighbour at i
        inputs += [ids[d:][left_centre], ids[:-d][right_centre]]
        outputs += [ids[:-d][left_centre], ids[d:][right_centre]]
    if not inputs:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(inputs), np.concatenate(outputs)


def cbow_windows(ids: np.ndarray, sentence: np.ndarray, window: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(contexts, centres): for each word, its neighbours within a dynamic window.

    contexts is (n, 2 * window) with -1 where there is no neighbour; words without any
    neighbour (one-word sentences) are left out.
    """
    n = len(ids)
    reach = rng.integers(1, window + 1, size=n)
    contexts = np.full((n, 2 * window), -1, dtype=np.int32)
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        left = np.flatnonzero(same & (reach[d:] >= d))   # centre i + d sees i on its left
        right = np.flatnonzero(same & (reach[:-d] >= d))  # centre i sees i + d on its right
        contexts[left + d, d - 1] = ids[left]
        contexts[right, window + d - 1] = ids[right + d]
    has_context = (contexts >= 0).any(axis=1)
    return contexts[has_context], ids[has_context]


def with_demo_data(cfg, state_dir: str, demo):
    """cfg itself: embeddings are trained on the pipeline's corpus (the demo corpus without sources)."""
    return cfg
