"""Bad inputs for every reader: hypothesis strategies and the invariant each reader must keep.

A reader given bad bytes either raises a `SeqpipeError` whose message names the file, or
returns what it read with every record accepted or rejected (a reject names its file and
line). Anything else escaping is a crash; a hang fails on the test's timeout.
"""
from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Callable, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from seqpipe.core.errors import SeqpipeError

from .conftest import COUNTS, READERS

T = TypeVar("T")
UTF8_BOM = b"\xef\xbb\xbf"
# Bytes that trip readers: NUL, control and separator characters, invalid or partial UTF-8
# (a lone continuation byte, truncated sequences, an encoded surrogate), quotes and brackets.
ODD_BYTES = [b"\x00", b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\r", b"\n", b"\r\n",
             b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1e", "\u0085".encode(), "\u00a0".encode(), "\u2028".encode(),
             UTF8_BOM, b'"', b"'", b",", b"{", b"}", b"[", b"\\", b"#", b" ", b"~", b"&", b"*", b"!!"]
ENCODINGS = ["latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]
HUGE = [140_000, 1_050_000]  # over csv's field limit (131072); over ingest's max_record_chars (10**6)

FUZZ = settings(deadline=timedelta(seconds=20), derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example, HealthCheck.filter_too_much])


def fuzz(max_examples: int) -> settings:
    """FUZZ with this test's number of examples (sized so the whole run takes about a minute)."""
    return settings(FUZZ, max_examples=max_examples)


words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
plain_words = st.text("abcdefghij klmnop'", min_size=1, max_size=12)


def attempt(reader: str, files: list[Path | str], read: Callable[[], T]) -> T | SeqpipeError:
    """read() on a bad input: its result, or the clear error (one that names one of `files`) it raised."""
    COUNTS["bad inputs tried"] += 1
    READERS.add(reader)
    try:
        return read()
    except SeqpipeError as err:
        assert any(str(f) in str(err) for f in files), f"{reader}: the error does not name the file: {err}"
        return err
    except BaseException:
        COUNTS["crashes"] += 1
        raise


def read_ok(result) -> bool:
    """Whether `attempt` returned what was read (not a clear error)."""
    return not isinstance(result, SeqpipeError)


def check_rejects(rejects, files: list[Path | str], data: bytes | None, origin: str = "origin") -> None:
    """Each reject gives a reason and names one of `files` and a line of `data` (None: any line)."""
    names = {str(f) for f in files}
    lines = max(line_count(data), len(data.splitlines())) if data is not None else None  # "\r" ends a line too
    for r in rejects:
        assert getattr(r, origin) in names and r.reason, r
        assert 1 <= r.line and (lines is None or r.line <= lines), (r, lines)


def line_count(data: bytes) -> int:
    """Lines of a file: a last line without its newline counts, an empty file has none."""
    return data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))


# ----------------------------------------------------------------------------- ways to break a file


def sprinkled(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` with odd bytes (NUL, control characters, invalid UTF-8, quotes) inserted."""
    inserts = st.lists(st.tuples(st.integers(0, len(data)), st.sampled_from(ODD_BYTES)), min_size=1, max_size=8)
    return inserts.map(lambda items: _insert(data, items))


def truncated(data: bytes) -> st.SearchStrategy[bytes]:
    return st.integers(0, max(len(data) - 1, 0)).map(lambda n: data[:n])


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` with a few bytes overwritten by random ones."""
    if not data:
        return st.binary(min_size=1, max_size=16)
    flips = st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=6)
    return flips.map(lambda items: _flip(data, items))


def reencoded(data: bytes) -> st.SearchStrategy[bytes]:
    """The text of `data` in another encoding (latin-1, cp1252, UTF-16/32 with or without a BOM)."""
    text = data.decode("utf-8", errors="replace")
    return st.sampled_from(ENCODINGS).map(lambda encoding: text.encode(encoding, errors="replace"))


def with_huge_line(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` with one enormous line (or field) inserted at a line boundary or anywhere."""
    cut = st.sampled_from(sorted({0, len(data), *(i + 1 for i, b in enumerate(data) if b == 10)}))
    return st.tuples(cut, st.sampled_from([b"x", b"\xe9", b"a,", b"\t", b'"']), st.sampled_from(HUGE)).map(
        lambda t: data[:t[0]] + t[1] * (t[2] // len(t[1])) + b"\n" + data[t[0]:])


def bad_inputs(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, or a valid file broken in one of the ways above."""
    return st.one_of(st.binary(max_size=512), valid.flatmap(sprinkled), valid.flatmap(truncated),
                     valid.flatmap(mutated), valid.flatmap(reencoded), valid.flatmap(with_huge_line))


def ragged_rows(cells: st.SearchStrategy[str] = plain_words) -> st.SearchStrategy[list[list[str]]]:
    """Rows with 0 to 5 cells each: a table whose rows disagree on the column count."""
    return st.lists(st.lists(cells, max_size=5), min_size=1, max_size=12)


def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _insert(data: bytes, items: list[tuple[int, bytes]]) -> bytes:
    for offset, odd in sorted(items, reverse=True):
        data = data[:offset] + odd + data[offset:]
    return data


def _flip(data: bytes, items: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for offset, value in items:
        out[offset] = value
    return bytes(out)
