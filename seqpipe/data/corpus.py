"""A corpus folder read back: its Parquet shards as id arrays.

A corpus is held as `ids` (int32, every sentence's in-vocabulary words, concatenated)
and `sentence` (the sentence each position belongs to: only equality between positions
means anything). Out-of-vocabulary words are dropped, as word2vec.c and gensim do.

Two readers:
- `load_ids`: the given shards, whole, in memory (GloVe counts one shard at a time);
- `read_share`: one worker's contiguous range of the corpus's in-vocabulary words,
  streamed a batch of rows at a time into memory-mapped .npy files on local disk, so a
  worker's memory does not grow with the corpus (the page cache holds what fits).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seqpipe.core.artifacts import read_json

MAX_SENTENCE = 10_000   # tokens; a longer sentence is cut into pieces (word2vec.c: 1000, gensim: 10000)
BATCH_ROWS = 16_384     # rows encoded at a time by read_share (ingest's row groups hold as many)


def shard_paths(corpus_uri: str) -> list[str]:
    manifest = read_json(Path(corpus_uri) / "manifest.json")
    return [str(Path(corpus_uri) / s["path"]) for s in manifest["shards"]]


def load_ids(paths: list[str], tokens: list[str], first_word: int,
             max_sentence: int = MAX_SENTENCE) -> tuple[np.ndarray, np.ndarray]:
    """(ids, sentence) of the corpus shards; ids below first_word (specials) are dropped.

    sentence is int64: (row << 20) + piece, the row counted over all the shards, so a
    sentence longer than max_sentence tokens still has windows, one per piece.
    """
    value_set = pa.array(tokens, pa.string())
    all_ids, all_sentences, rows_before = [], [], 0
    for path in paths:
        lists = pq.read_table(path, columns=["tokens"]).column("tokens").combine_chunks()
        ids, sentence = _encode_rows(lists, value_set, first_word, max_sentence, rows_before)
        all_ids.append(ids)
        all_sentences.append(sentence)
        rows_before += len(lists)
    if not all_ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.concatenate(all_ids), np.concatenate(all_sentences)


def shard_words(corpus_uri: str, tokens: list[str], first_word: int) -> list[int]:
    """In-vocabulary words of each shard, which tell a worker which shards hold its share.

    Read from the per-shard token counts ingest writes (counts/<shard>, one row per
    distinct token: cheap), or, for a shard without them, by encoding the shard.
    """
    value_set = pa.array(tokens, pa.string())
    words = []
    for path in shard_paths(corpus_uri):
        counts_file = Path(corpus_uri) / "counts" / Path(path).name
        if counts_file.exists():
            counts = pq.read_table(counts_file, columns=["token", "count"])
            ids = pc.index_in(counts.column("token"), value_set=value_set).fill_null(-1).to_numpy()
            words.append(int(counts.column("count").to_numpy()[ids >= first_word].sum()))
        else:
            words.append(sum(len(ids) for ids, _ in _shard_batches(path, value_set, first_word, MAX_SENTENCE)))
    return words


def read_share(corpus_uri: str, tokens: list[str], first_word: int, start: int, stop: int, folder: str | Path,
               words_per_shard: list[int] | None = None, max_sentence: int = MAX_SENTENCE,
               batch_rows: int = BATCH_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """(ids, sentence) of the corpus's in-vocabulary words start..stop-1: load_ids(all shards)[start:stop].

    Both int32 and memory-mapped from .npy files in `folder` (local disk), which are
    unlinked once mapped: their space comes back when the arrays go, even after a crash.
    sentence numbers the sentence pieces from the share's first word; it has the same
    boundaries as load_ids' keys (a number that wraps past 2**31 stays unequal to its
    neighbours', all that is ever compared). Only the shards that overlap the range are read.
    """
    words_per_shard = words_per_shard if words_per_shard is not None else shard_words(corpus_uri, tokens, first_word)
    ids_out, sentence_out = _mapped(Path(folder), "ids", stop - start), _mapped(Path(folder), "sentence", stop - start)
    value_set = pa.array(tokens, pa.string())
    filled, last_sentence = 0, -1
    shard_end = np.cumsum(words_per_shard, dtype=np.int64)
    for path, end, count in zip(shard_paths(corpus_uri), shard_end, words_per_shard):
        position = int(end - count)  # corpus index of the shard's next word
        if end <= start or position >= stop:
            continue
        for ids, keys in _shard_batches(path, value_set, first_word, max_sentence, batch_rows):
            lo, hi = max(start - position, 0), min(stop - position, len(ids))
            position += len(ids)
            if lo < hi:
                new_sentence = np.ones(hi - lo, np.int64)
                new_sentence[1:] = keys[lo + 1:hi] != keys[lo:hi - 1]  # a batch starts a new row
                numbers = last_sentence + np.cumsum(new_sentence)
                ids_out[filled:filled + hi - lo] = ids[lo:hi]
                sentence_out[filled:filled + hi - lo] = numbers.astype(np.int32)  # wraps, harmlessly
                filled, last_sentence = filled + hi - lo, int(numbers[-1])
            if position >= stop:
                break
    if filled != stop - start:
        raise ValueError(f"{corpus_uri}: read {filled:,} in-vocabulary words of the {stop - start:,} expected "
                         f"from {start:,}; do its counts/ match its shards?")
    return ids_out, sentence_out


def _encode_rows(lists: pa.ListArray, value_set: pa.Array, first_word: int, max_sentence: int,
                 rows_before: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids int32, sentence keys int64) of some rows of token lists, specials and OOV dropped."""
    ids = pc.index_in(pc.list_flatten(lists), value_set=value_set).fill_null(-1).to_numpy()
    offsets = lists.offsets.to_numpy()
    starts, lengths = offsets[:-1], np.diff(offsets)
    row = np.repeat(np.arange(len(lists), dtype=np.int64) + rows_before, lengths)
    position = np.arange(len(ids)) - np.repeat(starts - starts[:1], lengths)
    sentence = (row << 20) + position // max_sentence  # each piece of a cut sentence: its own key
    keep = ids >= first_word
    return ids[keep].astype(np.int32), sentence[keep]


def _shard_batches(path: str, value_set: pa.Array, first_word: int, max_sentence: int,
                   batch_rows: int = BATCH_ROWS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """_encode_rows of one shard, batch_rows rows at a time (never the whole shard in memory)."""
    rows_before = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=["tokens"]):
        lists = batch.column(0)
        yield _encode_rows(lists, value_set, first_word, max_sentence, rows_before)
        rows_before += len(lists)


def _mapped(folder: Path, name: str, length: int) -> np.ndarray:
    """A writable int32 array of `length` in a new .npy file in folder, the file already unlinked."""
    if length <= 0:  # nothing to map
        return np.zeros(0, np.int32)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{os.getpid()}.npy"
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.int32, shape=(length,))
    path.unlink()
    return array
