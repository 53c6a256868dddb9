"""Format readers: each turns one piece of one source into batches of (record number, text).

A reader never raises on a bad record: it rejects it with the record's line (or row)
number, the reason and the raw bytes, so accepted + rejected = read. It raises
`InputError` only when the whole source is unusable (a missing column, say).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import lzma
import zlib
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard
from fsspec.compression import compr

from seqpipe.core.dataset import PARQUET_ERRORS
from seqpipe.core.errors import InputError
from seqpipe.data.sources import Piece, Source, load_hf, open_binary, open_raw

BLOCK = 8 << 20
BATCH_RECORDS = 20_000
SMALL_FILE = 1 << 20  # stored bytes: a file this small is read whole
RAW_KEEP = 4096  # bytes of a rejected record kept in rejects/ (the reason says how long it was)
UTF8_BOM = b"\xef\xbb\xbf"
# What a truncated or corrupt .gz/.bz2/.xz/.zst file raises part way through (gzip's BadGzipFile is an OSError).
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


@dataclass
class Reject:
    line: int
    reason: str
    raw: bytes = b""


@dataclass
class Batch:
    records: np.ndarray  # int64 line (or row) numbers, 1-based
    texts: pa.Array      # string, same length as records
    rejects: list[Reject] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.records) + len(self.rejects)


def read_piece(source: Source, piece: Piece, cfg) -> Iterator[Batch]:
    """Dispatch on the source's format; `cfg` is the IngestConfig."""
    try:
        yield from _read_format(source, piece, cfg)
    except DECOMPRESSION_ERRORS as err:
        if source.compression is None:
            raise
        raise InputError(f"{source.uri}: cannot be decompressed as {source.compression}: {err}") from None


def _read_format(source: Source, piece: Piece, cfg) -> Iterator[Batch]:
    if source.format == "txt" and cfg.txt_unit == "file":
        yield from read_text_file(source, cfg.encoding)
    elif source.format == "txt":
        yield from read_text_lines(source, piece, cfg.encoding)
    elif source.format in ("jsonl", "json"):
        yield from read_json(source, piece, cfg)
    elif source.format in ("csv", "tsv"):
        yield from read_csv(source, cfg)
    elif source.format == "parquet":
        yield from read_arrow_batches(source, _parquet_batches(source, cfg.text_field), cfg.text_field)
    elif source.format == "hf":
        dataset = load_hf(source.uri, cfg.hf_split)
        batches = (t for t in dataset.with_format("arrow").iter(batch_size=BATCH_RECORDS))
        _require_column(source, dataset.column_names, cfg.text_field)
        yield from read_arrow_batches(source, batches, cfg.text_field)
    else:
        raise InputError(f"{source.uri}: unsupported format {source.format!r}")


def read_text_lines(source: Source, piece: Piece, encoding: str) -> Iterator[Batch]:
    line = piece.first_line
    with _small_file(source, piece) or open_binary(source) as f:
        f.seek(piece.start)
        for block in _line_blocks(f, piece):
            if line == 1:
                block = block.removeprefix(UTF8_BOM)
            batch = _decode_lines(block, line, encoding)
            line += batch.read
            yield batch


def _small_file(source: Source, piece: Piece) -> io.BytesIO | None:
    """A whole small file's content, read and decompressed in one call each (a stream's
    buffered reads cost more than the work on a file of a few kilobytes), else None."""
    if source.size > SMALL_FILE or piece.start or piece.end is not None:
        return None
    with open_raw(source.uri) as f:
        raw = f.read()
    if source.compression == "gzip":
        return io.BytesIO(gzip.decompress(raw))
    if source.compression:
        with compr[source.compression](io.BytesIO(raw), mode="rb") as f:
            return io.BytesIO(f.read())
    return io.BytesIO(raw)


def read_text_file(source: Source, encoding: str) -> Iterator[Batch]:
    with open_binary(source) as f:
        raw = f.read().removeprefix(UTF8_BOM)
    try:
        yield Batch(np.array([1]), pa.array([raw.decode(encoding)], pa.string()))
    except UnicodeDecodeError as err:
        yield Batch(np.array([], np.int64), pa.array([], pa.string()),
                    [Reject(1, _decode_reason(err, encoding, raw), raw[:RAW_KEEP])])


def read_json(source: Source, piece: Piece, cfg) -> Iterator[Batch]:
    """JSON Lines, or a .json file holding one array of objects."""
    with open_binary(source) as f:
        f.seek(piece.start)
        head = f.read(64).removeprefix(UTF8_BOM).lstrip()
        f.seek(piece.start)
        if source.format == "json" and head.startswith(b"["):
            yield from _read_json_array(source, f, cfg)
            return
        records, texts, rejects = [], [], []
        line = piece.first_line
        for block in _line_blocks(f, piece):
            for raw in block.split(b"\n")[: block.count(b"\n") + (not block.endswith(b"\n"))]:
                raw = raw.removeprefix(UTF8_BOM) if line == 1 else raw
                text, reason = _json_text(raw, cfg.encoding, cfg.text_field)
                if reason:
                    rejects.append(Reject(line, reason, raw[:RAW_KEEP]))
                else:
                    records.append(line)
                    texts.append(text)
                line += 1
            yield Batch(np.array(records, np.int64), pa.array(texts, pa.string()), rejects)
            records, texts, rejects = [], [], []


def read_csv(source: Source, cfg) -> Iterator[Batch]:
    """CSV (RFC 4180 quoting) or TSV (no quoting); the text column is named by text_field."""
    delimiter, quoting = ("\t", csv.QUOTE_NONE) if source.format == "tsv" else (",", csv.QUOTE_MINIMAL)
    state = {"line": 0}
    rejects: list[Reject] = []
    with open_binary(source) as f:
        reader = csv.reader(_decoded_lines(f, cfg.encoding, state, rejects), delimiter=delimiter, quoting=quoting)
        try:
            header = next(reader, None)
        except csv.Error as err:
            raise InputError(f"{source.uri}:1: cannot read the CSV header ({err})") from None
        if rejects:  # an undecodable line before or at the header: no row can be trusted
            raise InputError(f"{source.uri}:{rejects[0].line}: cannot read the CSV header ({rejects[0].reason})")
        if header is None:
            yield Batch(np.array([], np.int64), pa.array([], pa.string()))
            return
        column = _require_column(source, header, cfg.text_field)
        records, texts = [], []
        while True:
            state["start"] = None  # the line the next row starts on (undecodable lines are skipped)
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                row = None
                rejects.append(Reject(state["start"] or state["line"], f"malformed CSV: {err}"))
            start = state["start"] or state["line"]
            if row is not None and row and len(row) != len(header):
                raw = delimiter.join(row).encode()[:RAW_KEEP]
                rejects.append(Reject(start, f"expected {len(header)} fields, got {len(row)}", raw))
            elif row is not None:
                records.append(start)
                texts.append(row[column] if row else "")
            if len(records) + len(rejects) >= BATCH_RECORDS:
                yield Batch(np.array(records, np.int64), pa.array(texts, pa.string()), rejects[:])
                records, texts = [], []
                rejects.clear()
        yield Batch(np.array(records, np.int64), pa.array(texts, pa.string()), rejects[:])


def read_arrow_batches(source: Source, batches, text_field: str) -> Iterator[Batch]:
    """Parquet row groups or HF dataset slices: rows with a null text are rejected."""
    row = 1
    for table in batches:
        column = table.column(text_field)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise InputError(f"{source.uri}: column {text_field!r} holds {column.type}, not text")
        column = pc.cast(column.combine_chunks(), pa.string())
        numbers = np.arange(row, row + len(column), dtype=np.int64)
        missing = pc.is_null(column).to_numpy(zero_copy_only=False)
        rejects = [Reject(int(n), f"missing field {text_field!r}") for n in numbers[missing]]
        yield Batch(numbers[~missing], column.filter(pc.invert(pc.is_null(column))), rejects)
        row += len(column)


def _parquet_batches(source: Source, text_field: str):
    with open_binary(source) as f:
        try:
            parquet = pq.ParquetFile(f)
            names = parquet.schema_arrow.names
        except PARQUET_ERRORS as err:
            raise InputError(f"{source.uri}: not a readable Parquet file: {err}") from None
        _require_column(source, names, text_field)
        batches = parquet.iter_batches(batch_size=BATCH_RECORDS, columns=[text_field])
        while True:
            try:
                batch = next(batches, None)
            except PARQUET_ERRORS as err:  # a corrupt page
                raise InputError(f"{source.uri}: not a readable Parquet file: {err}") from None
            if batch is None:
                return
            yield pa.Table.from_batches([batch])


def _require_column(source: Source, names: list[str], name: str) -> int:
    if name in names:
        return names.index(name)
    raise InputError(f"{source.uri}: no column {name!r} (columns: {', '.join(map(str, names))}); "
                     f"set ingest.text_field")


def _line_blocks(f, piece: Piece) -> Iterator[bytes]:
    """Blocks of whole lines from the piece's byte range (the last may lack its newline)."""
    remaining = None if piece.end is None else piece.end - piece.start
    carry = b""
    while remaining is None or remaining > 0:
        block = f.read(BLOCK if remaining is None else min(BLOCK, remaining))
        if not block:
            break
        if remaining is not None:
            remaining -= len(block)
        block = carry + block
        cut = block.rfind(b"\n") + 1
        carry = block[cut:]
        if cut:
            yield block[:cut]
    if carry:
        yield carry


def _decode_lines(block: bytes, first_line: int, encoding: str) -> Batch:
    """Lines of a block as one Arrow string array built over the block's own bytes."""
    try:
        utf8 = block if _is_utf8(encoding) and block.decode("utf-8") is not None else block.decode(encoding).encode()
    except UnicodeDecodeError:
        return _decode_lines_one_by_one(block, first_line, encoding)
    ends = np.flatnonzero(np.frombuffer(utf8, np.uint8) == 10) + 1  # line i ends with its newline
    if not utf8.endswith(b"\n"):
        ends = np.append(ends, len(utf8))
    offsets = np.concatenate([[0], ends]).astype(np.int32)
    lines = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(utf8))
    return Batch(np.arange(first_line, first_line + len(ends), dtype=np.int64), pc.utf8_rtrim(lines, "\r\n"))


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")


def _decode_lines_one_by_one(block: bytes, first_line: int, encoding: str) -> Batch:
    records, texts, rejects = [], [], []
    raws = block.split(b"\n")
    if block.endswith(b"\n"):
        raws.pop()
    for i, raw in enumerate(raws):
        try:
            texts.append(raw.decode(encoding))
            records.append(first_line + i)
        except UnicodeDecodeError as err:
            rejects.append(Reject(first_line + i, _decode_reason(err, encoding, raw), raw[:RAW_KEEP]))
    return Batch(np.array(records, np.int64), pa.array(texts, pa.string()), rejects)


def _decoded_lines(f, encoding: str, state: dict, rejects: list[Reject]) -> Iterator[str]:
    for number, raw in enumerate(f, 1):
        state["line"] = number
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as err:
            rejects.append(Reject(number, _decode_reason(err, encoding, raw), raw[:RAW_KEEP]))
            continue
        if state.get("start") is None:
            state["start"] = number
        yield text.removeprefix("\ufeff")


def _json_text(raw: bytes, encoding: str, text_field: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, reason) for one JSON line."""
    if not raw.strip():
        return "", None  # a blank line: rejected later as empty, like in any text source
    try:
        value = json.loads(raw.decode(encoding))
    except UnicodeDecodeError as err:
        return None, _decode_reason(err, encoding, raw)
    except json.JSONDecodeError as err:
        return None, f"malformed JSON: {err.msg} at column {err.colno}"
    except RecursionError:
        return None, "malformed JSON: nested too deeply"
    return _field_text(value, text_field)


def _field_text(value, text_field: str) -> tuple[str | None, str | None]:
    for key in text_field.split("."):
        if not isinstance(value, dict):
            return None, f"expected a JSON object with field {text_field!r}, got {type(value).__name__}"
        if key not in value or value[key] is None:
            return None, f"missing field {text_field!r}"
        value = value[key]
    if not isinstance(value, str):
        return None, f"field {text_field!r} is {type(value).__name__}, not text"
    return value, None


def _read_json_array(source: Source, f, cfg) -> Iterator[Batch]:
    try:
        items = json.loads(f.read().removeprefix(UTF8_BOM).decode(cfg.encoding))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise InputError(f"{source.uri}: not a valid JSON array ({err})") from None
    records, texts, rejects = [], [], []
    for i, item in enumerate(items, 1):
        text, reason = _field_text(item, cfg.text_field)
        if reason:
            rejects.append(Reject(i, f"item {i}: {reason}", json.dumps(item).encode()[:RAW_KEEP]))
        else:
            records.append(i)
            texts.append(text)
    yield Batch(np.array(records, np.int64), pa.array(texts, pa.string()), rejects)


def _decode_reason(err: UnicodeDecodeError, encoding: str, raw: bytes) -> str:
    return f"undecodable as {encoding}: byte 0x{raw[err.start]:02x} at offset {err.start}"
