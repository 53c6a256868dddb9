"""What the compiled text kernels share: Arrow strings as numpy buffers, UTF-8 decoding, and
tables of code-point classes asked of RE2 itself, so that a kernel sees \\pL or \\s exactly
as the regular expression it replays does."""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def string_buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes, int64 offsets of each row into them) of a string array, without copying the bytes."""
    texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
    if texts.type == pa.large_string():
        texts = texts.cast(pa.string())
    _, offset_buffer, data_buffer = texts.buffers()
    if offset_buffer is None or len(texts) == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    offsets = np.frombuffer(offset_buffer, np.int32)[texts.offset:texts.offset + len(texts) + 1].astype(np.int64)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return data, offsets


def strings(data: np.ndarray, ends: np.ndarray) -> pa.StringArray:
    """The string array of valid UTF-8 `data` cut at `ends` (int32, starting with 0)."""
    return pa.StringArray.from_buffers(len(ends) - 1, pa.py_buffer(ends), pa.py_buffer(data))


@functools.lru_cache(maxsize=None)
def re2_flags(patterns: tuple[str, ...]) -> np.ndarray:
    """A uint8 per code point with bit k set where the one-character class patterns[k]
    (for example r"[\\pL\\pN]") matches it in RE2. Asking RE2 takes 0.4 s per pattern, so the
    table is kept beside the compiled kernels, per pyarrow version and patterns."""
    key = hashlib.sha256("\n".join(patterns).encode()).hexdigest()[:12]
    cached = Path(os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).parent / "__pycache__") / \
        f"re2_classes-{key}-pyarrow{pa.__version__}.npy"
    try:
        return np.load(cached)
    except (OSError, ValueError):
        table = _ask_re2(patterns)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temporary = cached.with_suffix(f".{os.getpid()}.npy")
        np.save(temporary, table)
        os.replace(temporary, cached)  # whole or not at all, whichever process writes it
    except OSError:  # a read-only install: ask RE2 in every process
        pass
    return table


def _ask_re2(patterns: tuple[str, ...]) -> np.ndarray:
    points = np.concatenate([np.arange(0xD800), np.arange(0xE000, 0x110000)])
    sizes = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)  # UTF-8 bytes of each
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    data = "".join(map(chr, points)).encode("utf-8")
    chars = pa.StringArray.from_buffers(len(points), pa.py_buffer(offsets), pa.py_buffer(data))
    table = np.zeros(0x110000, np.uint8)
    for bit, pattern in enumerate(patterns):
        matches = pc.match_substring_regex(chars, f"^{pattern}$").to_numpy(zero_copy_only=False)
        table[points[matches]] |= np.uint8(1 << bit)
    return table


@numba.njit(inline="always")
def decode(data, i):
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
