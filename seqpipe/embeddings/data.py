"""Training data for word2vec: corpus shards as id arrays, subsampling, windows.

A corpus is held as `ids` (int32, every sentence's in-vocabulary words, concatenated)
and `sentence` (int32, the sentence each position belongs to). Out-of-vocabulary words
are dropped before windowing, as word2vec.c and gensim do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seqpipe.artifacts import read_json


def shard_paths(corpus_uri: str) -> list[str]:
    manifest = read_json(Path(corpus_uri) / "manifest.json")
    return [str(Path(corpus_uri) / s["path"]) for s in manifest["shards"]]


def load_ids(paths: list[str], tokens: list[str], first_word: int,
             max_sentence: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """(ids, sentence) of the corpus shards; ids below first_word (specials) are dropped.

    Sentences longer than max_sentence tokens are cut into pieces (word2vec.c's limit
    is 1000, gensim's 10000), so a corpus without sentence breaks still has windows.
    """
    value_set = pa.array(tokens, pa.string())
    all_ids, all_sentences, rows_before = [], [], 0
    for path in paths:
        lists = pq.read_table(path, columns=["tokens"]).column("tokens").combine_chunks()
        ids = pc.index_in(pc.list_flatten(lists), value_set=value_set).fill_null(-1).to_numpy()
        starts, lengths = lists.offsets.to_numpy()[:-1], np.diff(lists.offsets.to_numpy())
        row = np.repeat(np.arange(len(lists), dtype=np.int64) + rows_before, lengths)
        position = np.arange(len(ids)) - np.repeat(starts - starts[:1], lengths)
        sentence = (row << 20) + position // max_sentence  # each piece of a cut sentence: its own key
        keep = ids >= first_word
        all_ids.append(ids[keep].astype(np.int32))
        all_sentences.append(sentence[keep])
        rows_before += len(lists)
    if not all_ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.concatenate(all_ids), np.concatenate(all_sentences)


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
