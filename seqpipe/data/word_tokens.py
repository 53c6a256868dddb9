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

import numba
import numpy as np
import pyarrow as pa

from seqpipe.data.code_points import decode, re2_flags, string_buffers, strings

SPACE = 32
JOINER_CHARS = "'’-.,:"


WORD, JOINER, BLANK, SYMBOL = 0, 1, 2, 3


@functools.lru_cache(maxsize=1)
def classes() -> np.ndarray:
    """The class of every code point: WORD by RE2's own Unicode tables ([\\pL\\pN\\pM_]),
    JOINER, BLANK (what RE2's \\s and Arrow's ASCII split see as space), else SYMBOL."""
    table = np.where(re2_flags((r"[\pL\pN\pM_]",)) & 1, WORD, SYMBOL).astype(np.uint8)
    table[[ord(c) for c in JOINER_CHARS]] = JOINER
    table[[9, 10, 11, 12, 13, 32]] = BLANK
    return table


def tokenize_words(texts: pa.Array) -> pa.ListArray:
    """Word tokens of each cleaned text (no nulls), as `text.tokenize(texts, "word")` gives them."""
    data, offsets = string_buffers(texts)
    if len(offsets) == 1:
        return pa.ListArray.from_arrays(pa.array([0], pa.int32()), pa.array([], pa.string()))
    out, token_ends, row_ends = _tokenize(data, offsets, classes())
    return pa.ListArray.from_arrays(pa.array(row_ends), strings(out, token_ends))


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
    # code points of a chunk as each pass leaves it; start = its byte offset (-1: an added space).
    # A chunk of n code points grows to at most 5n: pass 1 adds 2 per symbol, passes 2 and 3
    # 2 per joiner each ("-----", a reStructuredText underline, is the worst case).
    room = 5 * longest + 2
    scratch = (np.empty(room, np.int32), np.empty(room, np.int64), np.empty(room, np.int32), np.empty(room, np.int64))
    written, tokens = 0, 0
    for r in range(rows):
        i, end = offsets[r], offsets[r + 1]
        while i < end:  # chunks between ASCII spaces other than \v, which the passes see as a symbol
            b = data[i]
            if b == 32 or b == 9 or b == 10 or b == 12 or b == 13:
                i += 1
                continue
            j, plain = i, True
            while j < end:
                b = data[j]
                if b == 32 or b == 9 or b == 10 or b == 12 or b == 13:
                    break
                plain = plain and (97 <= b <= 122 or 48 <= b <= 57 or 65 <= b <= 90 or b == 95)
                j += 1
            if plain:  # ASCII word characters only: the passes leave it as one token
                out[written:written + j - i] = data[i:j]
                written += j - i
                tokens += 1
                token_ends[tokens] = written
            else:
                written, tokens = _tokenize_chunk(data, i, j, kind, scratch, out, token_ends, written, tokens)
            i = j
        if tokens == row_ends[r]:  # a blank text has one empty token, as Arrow's split gives
            tokens += 1
            token_ends[tokens] = written
        row_ends[r + 1] = tokens
    return out[:max(written, 0)], token_ends[:tokens + 1], row_ends


@numba.njit(cache=True, nogil=True)
def _tokenize_chunk(data, i, end, kind, scratch, out, token_ends, written, tokens):
    """The passes on data[i:end], a chunk without ASCII whitespace: its tokens appended to
    out and token_ends. A chunk is tokenized as a row would be: the passes never match
    across the spaces around it (a space is neither a word character nor a joiner)."""
    a_points, a_starts, b_points, b_starts = scratch
    n = 0
    while i < end:  # pass 1: decode; a space on each side of every symbol
        point, size = decode(data, i)
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
    if open_token:
        tokens += 1
        token_ends[tokens] = written
    return written, tokens
