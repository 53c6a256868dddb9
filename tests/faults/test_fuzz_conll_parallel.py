"""The CoNLL and parallel-text readers on bad bytes: every record accepted or rejected with its line."""
from __future__ import annotations

import bz2
import gzip
import json
import lzma

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqpipe.tasks.ner.conll import read_conll
from seqpipe.tasks.translation.parallel_text import read_parallel

from .fuzzing import (attempt, bad_inputs, check_rejects, fuzz, line_count, parquet_bytes, plain_words,
                      ragged_rows, read_ok, words)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

COMPRESSORS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
tokens = st.text("abcXYZ,.-'#0", min_size=1, max_size=8)
tags = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "E-LOC", "S-ORG", "I-MISC"])
conll_files = st.lists(st.lists(st.tuples(tokens, tags), min_size=1, max_size=6), max_size=6).map(
    lambda sentences: "\n\n".join("\n".join(f"{t} {g}" for t, g in s) for s in sentences).encode())


def compressed(data: bytes, suffix: str) -> st.SearchStrategy[bytes]:
    """`data` compressed, then (often) cut short or with a byte changed: a broken archive."""
    packed = COMPRESSORS[suffix](data)
    cut = st.integers(0, len(packed)).map(lambda n: packed[:n])
    flipped = st.tuples(st.integers(0, len(packed) - 1), st.integers(0, 255)).map(
        lambda f: packed[:f[0]] + bytes([f[1]]) + packed[f[0] + 1:])
    return st.one_of(st.just(packed), cut, flipped)


@fuzz(600)
@given(data=bad_inputs(conll_files), encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
       scheme=st.sampled_from(["auto", "iob2", "bioes"]))
def test_conll(tmp_path_factory, data, encoding, scheme):
    path = tmp_path_factory.getbasetemp() / "bad.conll"
    path.write_bytes(data)
    result = attempt("CoNLL", [path], lambda: read_conll(path, scheme=scheme, encoding=encoding, max_reject_rate=1.0))
    if read_ok(result):
        assert result.read == len(result.sentences) + len(result.rejects) > 0
        check_rejects(result.rejects, [path], data, origin="source")
        assert all(len(s.tokens) == len(s.tags) > 0 for s in result.sentences)


@fuzz(200)
@given(suffix=st.sampled_from(sorted(COMPRESSORS)), packed=st.data())
def test_compressed_conll_and_parallel(tmp_path_factory, suffix, packed):
    """Truncated or corrupt .gz/.bz2/.xz files: one clear error, or what decompressed is read."""
    data = packed.draw(conll_files.flatmap(lambda d: compressed(d, suffix)))
    conll, table = (tmp_path_factory.getbasetemp() / name for name in (f"bad.conll{suffix}", f"bad.tsv{suffix}"))
    conll.write_bytes(data)
    table.write_bytes(data)
    attempt("CoNLL", [conll], lambda: read_conll(conll, max_reject_rate=1.0))
    attempt("parallel tables", [table], lambda: read_parallel(table=table, max_reject_rate=1.0))


def tsv_pairs(rows: list[tuple[str, str]]) -> bytes:
    return "".join(f"{s}\t{t}\n" for s, t in rows).encode()


def parallel_tables() -> st.SearchStrategy[tuple[str, bytes]]:
    pairs = st.lists(st.tuples(words, words), max_size=8)
    records = pairs.map(lambda rows: [{"source": s, "target": t} for s, t in rows])
    return st.one_of(
        pairs.map(lambda rows: ("tsv", tsv_pairs(rows))),
        records.map(lambda rows: ("jsonl", "\n".join(json.dumps(r) for r in rows).encode())),
        pairs.map(lambda rows: ("csv", ("source,target\n" + "".join(f'"{s}","{t}"\n' for s, t in rows)).encode())),
        records.map(lambda rows: ("parquet", parquet_bytes(pa.Table.from_pylist(
            rows, schema=pa.schema([("source", pa.string()), ("target", pa.string())]))))))


@fuzz(800)
@given(table=parallel_tables().flatmap(lambda t: st.tuples(st.just(t[0]), bad_inputs(st.just(t[1])))),
       encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_parallel_tables(tmp_path_factory, table, encoding):
    fmt, data = table
    path = tmp_path_factory.getbasetemp() / f"bad.{fmt}"
    path.write_bytes(data)
    result = attempt("parallel tables", [path], lambda: read_parallel(table=path, encoding=encoding,
                                                                      max_reject_rate=1.0))
    if read_ok(result):
        assert result.read == len(result.pairs) + len(result.rejects) > 0
        check_rejects(result.rejects, [path], data if fmt != "parquet" else None)


@fuzz(200)
@given(rows=ragged_rows(), fmt=st.sampled_from(["csv", "tsv"]), huge=st.sampled_from([0, 200_000]))
def test_parallel_ragged_rows_are_each_counted(tmp_path_factory, rows, fmt, huge):
    """Wrong field counts and a field over csv's size limit: every non-blank row is read."""
    separator = "," if fmt == "csv" else "\t"
    lines = ["source" + separator + "target", *(separator.join(r) for r in rows)]
    if huge:
        lines.insert(len(lines) // 2 + 1, "x" + separator + "y" * huge)
    path = tmp_path_factory.getbasetemp() / f"ragged.{fmt}"
    path.write_text("".join(line + "\n" for line in lines))
    result = attempt("parallel tables", [path], lambda: read_parallel(table=path, max_reject_rate=1.0))
    expected = sum(1 for line in lines[1:] if line.strip())
    if read_ok(result):
        assert result.read == expected
    else:  # every pair rejected, or none found
        message = str(result)
        assert f"all {expected} pairs rejected" in message or "no sentence pairs found" in message and not expected


@fuzz(400)
@given(source=bad_inputs(st.lists(plain_words, max_size=8).map(lambda lines: "\n".join(lines).encode())),
       encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]))
def test_aligned_files(tmp_path_factory, source, encoding):
    """A broken source file beside a target file with as many lines."""
    folder = tmp_path_factory.getbasetemp()
    source_path, target_path = folder / "bad.src", folder / "good.tgt"
    source_path.write_bytes(source)
    target_path.write_text("".join(f"target {i}\n" for i in range(line_count(source))), encoding=encoding)
    result = attempt("parallel aligned files", [source_path, target_path],
                     lambda: read_parallel(source_path, target_path, encoding=encoding, max_reject_rate=1.0))
    if read_ok(result):
        assert result.read == len(result.pairs) + len(result.rejects) > 0
        check_rejects(result.rejects, [source_path, target_path], source)
