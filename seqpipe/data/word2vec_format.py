"""Word vectors in the word2vec C format (text or binary), the one gensim and most tools read.

Header `"<count> <dim>\\n"`, then one entry per word: text `word v1 v2 ...\\n`; binary
`word` + b" " + dim little-endian float32 + b"\\n". Files are written beside their
destination and renamed into place, so a reader never sees a half-written file.
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np

from seqpipe.core.errors import InputError

TEXT_FLOAT = "%.9g"  # 9 significant digits: every float32 reads back exactly
_WHITESPACE = re.compile(r"\s")


def save_word2vec(path: str | Path, tokens: Sequence[str], vectors: np.ndarray, binary: bool = False) -> None:
    """Write `tokens` and their `vectors` as a word2vec C-format file (atomically)."""
    tokens = list(tokens)
    vectors = np.asarray(vectors, dtype=np.float32)
    _check_writable(tokens, vectors)
    write = _write_binary if binary else _write_text
    _write_atomically(Path(path), lambda fh: write(fh, tokens, vectors))


def load_word2vec(path: str | Path, binary: bool = False) -> tuple[list[str], np.ndarray]:
    """Read a word2vec C-format file (text or binary) as `(tokens, float32 vectors)`.

    Text files without the `<count> <dim>` header (GloVe's format) are read too.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    first = data[: data.find(b"\n")].split()
    if not binary and len(first) > 2:  # GloVe: no header line
        count = sum(1 for line in data.split(b"\n") if line.strip())
        return _read_text_entries(path, data, 0, count, len(first) - 1, first_line=1)
    count, dim, start = _parse_header(path, data)
    read = _read_binary_entries if binary else _read_text_entries
    return read(path, data, start, count, dim)


# ---------------------------------------------------------------- writing

def _check_writable(tokens: list[str], vectors: np.ndarray) -> None:
    """Raise ValueError unless every token is one non-empty word and shapes agree."""
    if vectors.ndim != 2 or vectors.shape[1] < 1:
        raise ValueError(f"vectors must be a 2-d array with at least one column, got shape {vectors.shape}")
    if vectors.shape[0] != len(tokens):
        raise ValueError(f"{len(tokens)} tokens but {vectors.shape[0]} vectors")
    bad = next((t for t in tokens if not isinstance(t, str) or not t or _WHITESPACE.search(t)), None)
    if bad is not None:
        raise ValueError(f"token {bad!r} cannot be written in word2vec format "
                         "(tokens must be non-empty and contain no spaces or other whitespace)")


def _write_text(fh: BinaryIO, tokens: list[str], vectors: np.ndarray) -> None:
    row_format = " ".join([TEXT_FLOAT] * vectors.shape[1])
    fh.write(f"{vectors.shape[0]} {vectors.shape[1]}\n".encode())
    fh.writelines(f"{token} {row_format % tuple(row)}\n".encode("utf-8")
                  for token, row in zip(tokens, vectors.tolist()))


def _write_binary(fh: BinaryIO, tokens: list[str], vectors: np.ndarray) -> None:
    rows = vectors.astype("<f4", copy=False)
    fh.write(f"{rows.shape[0]} {rows.shape[1]}\n".encode())
    fh.writelines(token.encode("utf-8") + b" " + row.tobytes() + b"\n" for token, row in zip(tokens, rows))


def _write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Run `write` on a temporary file beside `path`, then rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "xb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- reading

def _parse_header(path: str | Path, data: bytes) -> tuple[int, int, int]:
    """(count, dim, offset of the first entry) from the `"<count> <dim>\\n"` line."""
    end = data.find(b"\n")
    line = data[: end if end >= 0 else len(data)]
    fields = line.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields) or int(fields[1]) < 1:
        raise InputError(f"{path}:1: expected a header `<count> <dim>`, found {line[:80]!r}")
    return int(fields[0]), int(fields[1]), (end + 1 if end >= 0 else len(data))


def _read_text_entries(path: str | Path, data: bytes, start: int, count: int,
                       dim: int, first_line: int = 2) -> tuple[list[str], np.ndarray]:
    """Entries `word v1 ... v_dim` one per line, from line first_line on."""
    try:
        lines = data[start:].decode("utf-8").split("\n")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != count:
        raise InputError(f"{path}:{len(lines) + first_line - 1}: the header announces {count} vectors, the file holds {len(lines)}")
    tokens, vectors = [], np.empty((count, dim), dtype=np.float32)
    for i, line in enumerate(lines):
        parts = line.rstrip().split(" ")
        if len(parts) != dim + 1 or not parts[0]:
            raise InputError(f"{path}:{i + first_line}: expected a word and {dim} values, found {line[:80]!r}")
        try:
            vectors[i] = parts[1:]
        except ValueError:
            raise InputError(f"{path}:{i + first_line}: a value is not a number in {line[:80]!r}") from None
        tokens.append(parts[0])
    return tokens, vectors


def _read_binary_entries(path: str | Path, data: bytes, start: int, count: int,
                         dim: int) -> tuple[list[str], np.ndarray]:
    """Entries `word` b" " dim float32 (b"\\n" optional), the n-th one reported as line n + 1."""
    tokens, vectors = [], np.empty((count, dim), dtype=np.float32)
    width, pos = 4 * dim, start
    for i in range(count):
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise InputError(f"{path}:{i + 2}: truncated at vector {i + 1} of {count} (byte {pos})")
        tokens.append(_decode_word(path, i + 2, data[pos:space].lstrip(b"\n")))
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    if data[pos:].strip(b"\n"):
        raise InputError(f"{path}:{count + 2}: data after the {count} vectors the header announces")
    return tokens, vectors


def _decode_word(path: str | Path, lineno: int, raw: bytes) -> str:
    try:
        word = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}:{lineno}: the word {raw[:40]!r} is not UTF-8") from None
    if not word:
        raise InputError(f"{path}:{lineno}: empty word")
    return word
