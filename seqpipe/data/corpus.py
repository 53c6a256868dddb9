"""A corpus folder read back: its Parquet shards as id arrays.

A corpus is held as `ids` (int32, every sentence's in-vocabulary words, concatenated)
and `sentence` (int64, the sentence each position belongs to). Out-of-vocabulary words
are dropped, as word2vec.c and gensim do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seqpipe.core.artifacts import read_json


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
