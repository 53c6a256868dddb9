"""The corpus readers (text lines, JSON/JSONL, CSV/TSV, Parquet) on bad bytes.

Each line (or row) read is accepted or rejected exactly once, under its own number, also
when a file is cut into many small pieces; a file that cannot be read at all is one
`InputError` naming it.
"""
from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqpipe.config import IngestConfig, RuntimeConfig
from seqpipe.data.ingest import run_ingest
from seqpipe.data.readers import read_piece
from seqpipe.data.sources import plan_sources

from .fuzzing import attempt, bad_inputs, fuzz, line_count, parquet_bytes, ragged_rows, read_ok, words

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

text_files = st.lists(words, max_size=15).map(lambda lines: "\n".join(lines).encode())
json_objects = st.one_of(st.fixed_dictionaries({"text": words}), st.dictionaries(words, words, max_size=2))
jsonl_files = st.lists(json_objects, max_size=10).map(
    lambda rows: "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode())
piece_sizes = st.sampled_from([1, 7, 64, 32 << 20])


def table_file(rows: list[list[str]], fmt: str) -> bytes:
    """CSV with RFC 4180 quoting, or TSV (no quoting: a tab or newline in a cell breaks the row)."""
    if fmt == "tsv":
        return "".join("\t".join(row) + "\n" for row in [["id", "text"], *rows]).encode()
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["id", "text"], *rows])
    return out.getvalue().encode()


two_cell_rows = st.lists(st.lists(words, min_size=2, max_size=2), max_size=10)
csv_files = two_cell_rows.map(lambda rows: table_file(rows, "csv"))


def read_all(path, cfg: IngestConfig, piece_bytes: int = 32 << 20) -> list:
    """Every batch of every piece of the file, as ingest reads them."""
    sources, _ = plan_sources([str(path)], cfg.format, piece_bytes, cfg.txt_unit)
    return [batch for s in sources for piece in s.pieces for batch in read_piece(s, piece, cfg)]


def numbers(batches) -> list[int]:
    """Line (or row) numbers of everything read, accepted or rejected."""
    for b in batches:
        assert len(b.records) == len(b.texts)
    return sorted([int(n) for b in batches for n in b.records] + [r.line for b in batches for r in b.rejects])


def fuzz_read(reader: str, path, data: bytes, cfg: IngestConfig, piece_bytes: int = 32 << 20):
    path.write_bytes(data)
    batches = attempt(reader, [path], lambda: read_all(path, cfg, piece_bytes))
    if not read_ok(batches):
        return None
    for reject in [r for b in batches for r in b.rejects]:
        assert reject.reason and reject.line >= 1
    return batches


@fuzz(600)
@given(data=bad_inputs(text_files), piece_bytes=piece_sizes, encoding=st.sampled_from(["utf-8", "latin-1"]))
def test_text_lines_are_each_read_once(tmp_path_factory, data, piece_bytes, encoding):
    path = _path(tmp_path_factory, "bad.txt")
    batches = fuzz_read("text lines", path, data, IngestConfig(encoding=encoding), piece_bytes)
    assert batches is not None, "a text file is never unreadable as a whole"
    assert numbers(batches) == list(range(1, line_count(data) + 1))


@fuzz(150)
@given(data=bad_inputs(text_files), encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_text_file_is_one_document(tmp_path_factory, data, encoding):
    path = _path(tmp_path_factory, "bad.txt")
    batches = fuzz_read("text files", path, data, IngestConfig(txt_unit="file", encoding=encoding))
    assert numbers(batches) == [1]


@fuzz(600)
@given(data=bad_inputs(jsonl_files), piece_bytes=piece_sizes)
def test_jsonl_lines_are_each_read_once(tmp_path_factory, data, piece_bytes):
    path = _path(tmp_path_factory, "bad.jsonl")
    batches = fuzz_read("JSON lines", path, data, IngestConfig(), piece_bytes)
    assert numbers(batches) == list(range(1, line_count(data) + 1))


@fuzz(300)
@given(data=bad_inputs(st.lists(st.fixed_dictionaries({"text": words}), max_size=8).map(
    lambda rows: json.dumps(rows, ensure_ascii=False).encode())))
def test_json_arrays(tmp_path_factory, data):
    path = _path(tmp_path_factory, "bad.json")
    batches = fuzz_read("JSON arrays", path, data, IngestConfig())
    if batches is not None:
        found = numbers(batches)
        assert len(found) == len(set(found))


@fuzz(600)
@given(table=st.sampled_from(["csv", "tsv"]).flatmap(lambda fmt: st.tuples(
    st.just(fmt), bad_inputs(two_cell_rows.map(lambda rows: table_file(rows, fmt))))))
def test_csv_and_tsv_rows_are_each_read_once(tmp_path_factory, table):
    fmt, data = table
    path = _path(tmp_path_factory, f"bad.{fmt}")
    batches = fuzz_read("CSV/TSV", path, data, IngestConfig())
    if batches is not None:
        found = numbers(batches)
        assert len(found) == len(set(found)) and all(2 <= n <= line_count(data) for n in found)


@fuzz(200)
@given(rows=ragged_rows(), fmt=st.sampled_from(["csv", "tsv"]), huge=st.sampled_from([0, 200_000]))
def test_ragged_rows_are_rejected_and_counted(tmp_path_factory, rows, fmt, huge):
    """Rows with the wrong number of fields (and one huge field): every line after the header is read."""
    separator = "," if fmt == "csv" else "\t"
    lines = ["id" + separator + "text", *(separator.join(r) for r in rows)]
    if huge:
        lines.insert(len(lines) // 2 + 1, "1" + separator + "y" * huge)
    data = "".join(line + "\n" for line in lines).encode()
    path = _path(tmp_path_factory, f"ragged.{fmt}")
    batches = fuzz_read("CSV/TSV", path, data, IngestConfig())
    assert numbers(batches) == list(range(2, len(lines) + 1))


def _parquet_files() -> st.SearchStrategy[bytes]:
    text = st.lists(st.one_of(st.none(), words), max_size=8)
    int64 = st.lists(st.integers(-2**63, 2**63 - 1), max_size=5)
    return st.one_of(text.map(lambda t: parquet_bytes(pa.table({"text": pa.array(t, pa.string())}))),
                     int64.map(lambda v: parquet_bytes(pa.table({"text": v}))),  # a column that is not text
                     text.map(lambda t: parquet_bytes(pa.table({"body": pa.array(t, pa.string())}))))


@fuzz(400)
@given(data=bad_inputs(_parquet_files()))
def test_parquet(tmp_path_factory, data):
    path = _path(tmp_path_factory, "bad.parquet")
    batches = fuzz_read("Parquet", path, data, IngestConfig())
    if batches is not None:
        assert numbers(batches) == list(range(1, len(numbers(batches)) + 1))


@fuzz(60)
@given(txt=bad_inputs(text_files), jsonl=bad_inputs(jsonl_files), table=bad_inputs(csv_files))
def test_ingest_counts_every_record(tmp_path_factory, txt, jsonl, table):
    """The whole stage (in-process): documents + rejected = read, over all three files at once."""
    folder = tmp_path_factory.mktemp("ingest")
    files = [folder / "a.txt", folder / "b.jsonl", folder / "c.csv"]
    for path, data in zip(files, (txt, jsonl, table)):
        path.write_bytes(data)
    cfg = IngestConfig(sources=[str(folder)], out=str(folder / "out"), max_reject_rate=1.0)
    runtime = RuntimeConfig(executor="local", state_dir=str(folder / "state"))
    result = attempt("ingest stage", [folder, *files], lambda: run_ingest(cfg, runtime))
    if read_ok(result):
        counts = result.counts
        assert counts["documents"] + counts["rejected"] == counts["read"]
        assert counts["read"] >= line_count(txt) + line_count(jsonl)


def _path(factory, name: str):
    """A file in the session's temporary folder (rewritten by each example: hypothesis cannot use tmp_path)."""
    folder = factory.getbasetemp() / "fuzz"
    folder.mkdir(exist_ok=True)
    return folder / name
