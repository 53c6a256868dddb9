"""Whitespace collapsing and sentence splitting in compiled passes over Arrow's UTF-8 buffers.

The rules are `seqpipe.data.text`'s RE2 replacements, which stay the reference
(`text.clean_by_regex`, `text.split_sentences_by_regex`); each pass here scans left to
right and consumes what a match would, so the output is the same (tests/unit/test_text_kernels.py
checks both on random text). Character classes come from RE2 itself (`code_points.re2_flags`).

- Collapsing: the regex replaces a run of two or more [\\s\\pZ\\p{Cc}], or one of them other
  than a plain space, by a space: every maximal run becomes one space.
- Splitting: a sentence ends at [.!?…]+ and closing quotes or brackets followed by
  whitespace, opening quotes or brackets and a capital or digit; the whitespace goes. Where
  that whitespace follows an abbreviation (`\\bMr.`), it becomes one space instead. A NUL
  already in the text splits too, as the regex's split mark would.
"""
from __future__ import annotations

import functools

import numba
import numpy as np
import pyarrow as pa

from seqpipe.data.code_points import decode, re2_flags, string_buffers, strings

SPACE_BIT, CAPITAL_BIT, COLLAPSE_BIT = 1, 2, 4
ENDS = np.array([ord(c) for c in ".!?…"], np.int32)
CLOSERS = np.array([ord(c) for c in "\"'”’)]"], np.int32)
OPENERS = np.array([ord(c) for c in "\"'“‘(["], np.int32)


@functools.lru_cache(maxsize=1)
def flags() -> np.ndarray:
    return re2_flags((r"[\s\pZ]", r"[\p{Lu}\pN]", r"[\s\pZ\p{Cc}]"))


def collapse_whitespace(texts: pa.Array) -> pa.Array:
    """Every run of whitespace or control characters as one plain space."""
    data, offsets = string_buffers(texts)
    if len(offsets) == 1:
        return pa.array([], pa.string())
    out, ends = _collapse(data, offsets, flags())
    return strings(out, ends)


def split_sentences(texts: pa.Array, abbreviations: list[str]) -> pa.ListArray:
    """The sentences of each text (at least one, maybe empty), as the regex split gives them."""
    data, offsets = string_buffers(texts)
    if len(offsets) == 1:
        return pa.ListArray.from_arrays(pa.array([0], pa.int32()), pa.array([], pa.string()))
    words = [a.encode() for a in abbreviations]
    word_bytes = np.frombuffer(b"".join(words), np.uint8) if words else np.zeros(0, np.uint8)
    word_ends = np.cumsum([0] + [len(w) for w in words]).astype(np.int64)
    out, sentence_ends, row_ends = _split(data, offsets, flags(), word_bytes, word_ends)
    return pa.ListArray.from_arrays(pa.array(row_ends), strings(out, sentence_ends))


@numba.njit(cache=True, nogil=True)
def _collapse(data, offsets, flag):
    rows = len(offsets) - 1
    out = np.empty(max(1, offsets[-1] - offsets[0]), np.uint8)  # never longer than the input
    ends = np.zeros(rows + 1, np.int32)
    w = 0
    for r in range(rows):
        i = offsets[r]
        while i < offsets[r + 1]:
            b = data[i]
            if 0x20 < b < 0x7F or 0x80 <= b < 0xC0:  # no space or control character starts here
                out[w] = b
                w += 1
                i += 1
                continue
            point, size = decode(data, i)
            if flag[point] & COLLAPSE_BIT:
                i += size
                while i < offsets[r + 1]:
                    point, size = decode(data, i)
                    if not flag[point] & COLLAPSE_BIT:
                        break
                    i += size
                out[w] = 32
                w += 1
                continue
            for j in range(size):
                out[w + j] = data[i + j]
            w += size
            i += size
        ends[r + 1] = w
    return out[:w], ends


@numba.njit(inline="always")
def _is_in(point, points):
    for p in points:
        if p == point:
            return True
    return False


@numba.njit(inline="always")
def _skip(data, i, end, points):
    """The index after the run of `points` starting at data[i]."""
    while i < end:
        point, size = decode(data, i)
        if not _is_in(point, points):
            break
        i += size
    return i


@numba.njit(inline="always")
def _after_abbreviation(data, start, stop, word_bytes, word_ends):
    """Whether data[start:stop] ends with '.' after an abbreviation that starts a word
    (RE2's ASCII \\b: the byte before it is not [0-9A-Za-z_])."""
    if stop - start < 2 or data[stop - 1] != 46:
        return False
    for k in range(len(word_ends) - 1):
        size = word_ends[k + 1] - word_ends[k]
        at = stop - 1 - size
        if at < start:
            continue
        same = True
        for j in range(size):
            if data[at + j] != word_bytes[word_ends[k] + j]:
                same = False
                break
        if not same:
            continue
        if at == start:
            return True
        b = data[at - 1]
        if not ((48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b == 95):
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _split(data, offsets, flag, word_bytes, word_ends):
    rows = len(offsets) - 1
    out = np.empty(max(1, offsets[-1] - offsets[0]), np.uint8)  # never longer than the input
    sentence_ends = np.zeros(offsets[-1] - offsets[0] + rows + 1, np.int32)
    row_ends = np.zeros(rows + 1, np.int32)
    w, n = 0, 0
    for r in range(rows):
        start, end = offsets[r], offsets[r + 1]
        i = start
        while i < end:
            b = data[i]
            if b != 46 and b != 33 and b != 63 and b != 0 and b != 0xE2:  # not . ! ? NUL or …
                out[w] = b
                w += 1
                i += 1
                continue
            point, size = decode(data, i)
            cut = -1  # the bytes [cut, resume) are a candidate sentence break
            keep = i + size  # copy data[i:keep], then go on at `keep` (or at `resume` after a break)
            if point == 0:
                cut, keep, resume = i, i, i + 1
            elif _is_in(point, ENDS):
                run_end = _skip(data, i, end, ENDS)
                space = _skip(data, run_end, end, CLOSERS)
                after = space
                while after < end:
                    p, s = decode(data, after)
                    if not flag[p] & SPACE_BIT:
                        break
                    after += s
                keep = run_end
                if after > space:
                    capital = _skip(data, after, end, OPENERS)
                    if capital < end:
                        p, s = decode(data, capital)
                        if flag[p] & CAPITAL_BIT:
                            cut, keep, resume = space, space, after
            for j in range(i, keep):
                out[w] = data[j]
                w += 1
            if cut < 0:
                i = keep
                continue
            if _after_abbreviation(data, start, cut, word_bytes, word_ends):
                out[w] = 32
                w += 1
            else:
                n += 1
                sentence_ends[n] = w
            i = resume
        n += 1
        sentence_ends[n] = w
        row_ends[r + 1] = n
    return out[:w], sentence_ends[:n + 1], row_ends
