"""Word tokenisation of cleaned text in one compiled pass over Arrow's UTF-8 buffers.

The rule is `seqpipe.data.text`'s three RE2 passes, which stay the reference
(`text.tokenize_by_regex`); this module replays them on code points: (1) every symbol
gets a space on each side; (2) a joiner after the start or after a non-word character
gets spaces around it; (3) a joiner before a non-word character or the end gets spaces
around it; then the text is split at spaces. Each pass scans left to right and consumes
what it matched, exactly as a global RE2 replacement does, so the tokens are the same
(tests/unit/test_word_tokens.py checks both on random text). Word characters are the
ones RE2 puts in [\\pL\\pN\\pM_], asked of RE2 itself once per process.

Five times faster than the regex passes, which took two thirds of ingestion's time.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SPACE = 32
JOINER_CHARS = "'’-.,:"


WORD, JOINER, BLANK, SYMBOL = 0, 1, 2, 3


@functools.lru_cache(maxsize=1)
def classes() -> np.ndarray:
    """The class of every code point: WORD by RE2's own Unicode tables ([\pL\pN\pM_]),
    JOINER, BLANK (what RE2's \s and Arrow's ASCII split see as space), else SYMBOL.
    Asking RE2 takes 0.4 s, so the table is kept beside the compiled kernels, per pyarrow version."""
    cached = Path(os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).parent / "__pycache__") / \
        f"word_classes-pyarrow{pa.__version__}.npy"
    try:
        return np.load(cached)
    except (OSError, ValueError):
        table = _ask_re2()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.npy")
        np.save(temporary, table)
        os.replace(temporary, cached)  # whole or not at all, whichever process writes it
    except OSError:  # a read-only install: ask RE2 in every process
        pass
    return table


def _ask_re2() -> np.ndarray:
    points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)])
    sizes = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)  # UTF-8 bytes of each
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    data = "".join(map(chr, points)).encode("utf-8")
    chars = pa.StringArray.from_buffers(len(points), pa.py_buffer(offsets), pa.py_buffer(data))
    table = np.full(0x110000, SYMBOL, np.uint8)
    table[points[pc.match_substring_regex(chars, r"^[\pL\pN\pM_]$").to_numpy(zero_copy_only=False)]] = WORD
    table[[ord(c) for c in JOINER_CHARS]] = JOINER
    table[[9, 10, 11, 12, 13, 32]] = BLANK
    return table


def tokenize_words(texts: pa.Array) -> pa.ListArray:
    """Word tokens of each cleaned text (no nulls), as `text.tokenize(texts, "word")` gives them."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if texts.type == pa.large_string():
        texts = texts.cast(pa.string())
    _, offset_buffer, data_buffer = texts.buffers()
    if offset_buffer is None or len(texts) == 0:
        return pa.ListArray.from_arrays(pa.array([0], pa.int32()), pa.array([], pa.string()))
    offsets = np.frombuffer(offset_buffer, np.int32)[texts.offset:texts.offset + len(texts) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    out, token_ends, row_ends = _tokenize(data, offsets, classes())
    strings = pa.StringArray.from_buffers(len(token_ends) - 1, pa.py_buffer(token_ends), pa.py_buffer(out))
    return pa.ListArray.from_arrays(pa.array(row_ends), strings)


@numba.njit(inline="always")
def _decode(data, i):
    """(code point, bytes) of the UTF-8 sequence at data[i] (Arrow strings are valid UTF-8)."""
    b = data[i]
    if b < 0x80:
        return np.int32(b), 1
    if b < 0xE0:
        return np.int32(((b & 0x1F) << 6) | (data[i + 1] & 0x3F)), 2
    if b < 0xF0:
        return np.int32(((b & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)), 3
    return np.int32(((b & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                    | (data[i + 3] & 0x3F)), 4


@numba.njit(inline="always")
def _put(points, starts, n, point, start):
    points[n] = point
    starts[n] = start
    return n + 1


@numba.njit(cache=True, nogil=True)
def _tokenize(data, offsets, kind):
    rows = len(offsets) - 1
    out = np.empty(max(1, offsets[-1] - offsets[0]), np.uint8)
    token_ends = np.zeros(offsets[-1] - offsets[0] + rows + 1, np.int32)
    row_ends = np.zeros(rows + 1, np.int32)
    longest = 0
    for r in range(rows):
        longest = max(longest, offsets[r + 1] - offsets[r])
    # code points of the row as each pass leaves it; start = its byte offset (-1: an added space).
    # A row of n code points grows to at most 5n: pass 1 adds 2 per symbol, passes 2 and 3
    # 2 per joiner each ("-----", a reStructuredText underline, is the worst case).
    room = 5 * longest + 2
    a_points, a_starts = np.empty(room, np.int32), np.empty(room, np.int64)
    b_points, b_starts = np.empty(room, np.int32), np.empty(room, np.int64)
    written, tokens = 0, 0
    for r in range(rows):
        n, i = 0, offsets[r]
        while i < offsets[r + 1]:  # pass 1: decode; a space on each side of every symbol
            point, size = _decode(data, i)
            symbol = kind[point] == SYMBOL or point == 11  # RE2's \s leaves out \v
            if symbol:
                n = _put(a_points, a_starts, n, SPACE, -1)
            n = _put(a_points, a_starts, n, point, i)
            if symbol:
                n = _put(a_points, a_starts, n, SPACE, -1)
            i += size
        m, k = 0, 0
        while k < n:  # pass 2: (^|[^W])([J]) -> "\1 \2 "
            if k == 0 and kind[a_points[0]] == JOINER:
                m = _put(b_points, b_starts, m, SPACE, -1)
                m = _put(b_points, b_starts, m, a_points[0], a_starts[0])
                m = _put(b_points, b_starts, m, SPACE, -1)
                k = 1
            elif k + 1 < n and kind[a_points[k]] != WORD and kind[a_points[k + 1]] == JOINER:
                m = _put(b_points, b_starts, m, a_points[k], a_starts[k])
                m = _put(b_points, b_starts, m, SPACE, -1)
                m = _put(b_points, b_starts, m, a_points[k + 1], a_starts[k + 1])
                m = _put(b_points, b_starts, m, SPACE, -1)
                k += 2
            else:
                m = _put(b_points, b_starts, m, a_points[k], a_starts[k])
                k += 1
        n, k = 0, 0
        while k < m:  # pass 3: ([J])([^W]|$) -> " \1 \2"
            if kind[b_points[k]] == JOINER and (k + 1 == m or kind[b_points[k + 1]] != WORD):
                n = _put(a_points, a_starts, n, SPACE, -1)
                n = _put(a_points, a_starts, n, b_points[k], b_starts[k])
                n = _put(a_points, a_starts, n, SPACE, -1)
                if k + 1 < m:
                    n = _put(a_points, a_starts, n, b_points[k + 1], b_starts[k + 1])
                k += 2
            else:
                n = _put(a_points, a_starts, n, b_points[k], b_starts[k])
                k += 1
        open_token = False
        for k in range(n):  # split at ASCII whitespace; copy each token's bytes
            point = a_points[k]
            if kind[point] == BLANK:
                if open_token:
                    tokens += 1
                    token_ends[tokens] = written
                    open_token = False
                continue
            start = a_starts[k]
            size = 1 if point < 0x80 else (2 if point < 0x800 else (3 if point < 0x10000 else 4))
            for j in range(size):
                out[written + j] = data[start + j]
            written += size
            open_token = True
        if open_token or tokens == row_ends[r]:  # a blank text has one empty token, as Arrow's split gives
            tokens += 1
            token_ends[tokens] = written
        row_ends[r + 1] = tokens
    return out[:max(written, 0)], token_ends[:tokens + 1], row_ends
