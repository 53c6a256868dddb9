"""Read and write parallel text: pairs of a source sentence and its translation.

Two layouts are read:

* two aligned text files (`source`, `target`): line i of one translates line i of the
  other. Files with different numbers of lines are an error (never truncated). A line
  blank on both sides (a paragraph break in Europarl-style corpora) is skipped and not
  counted as read; a line blank on one side only is rejected.
* one table (`table`): `.tsv` (two columns source<TAB>target, or a header row naming
  `source_field` and `target_field`), `.jsonl` (one object per line), `.csv` (a header
  row) or `.parquet` (columns). Blank lines of text tables are skipped.

.gz, .bz2 and .xz files are decompressed; a UTF-8 BOM and CRLF line endings are fine.
Every text is normalised to NFC, stripped, and its internal runs of whitespace collapsed
to one space.

A pair that cannot be used (an empty side, a side over `max_chars` characters, bytes
that are not valid in the encoding, a TSV line without the expected number of fields, a
JSONL line that is not an object or lacks a text field) is rejected with its file, line
(or row) and reason; the reject policy (`max_reject_rate`) decides whether rejects are
an error, as for the CoNLL reader: `read == len(pairs) + len(rejects)`.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from seqpipe.core.errors import InputError
from seqpipe.core.dataset import (OPENERS, PARQUET_ERRORS, Reject, enforce_reject_policy, open_for_writing,
                                  read_bytes)

UTF8_BOM = b"\xef\xbb\xbf"
TABLE_FORMATS = {".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
SETTING = "translation.max_reject_rate"

WORD_PATTERN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")
_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]}])")
_SPACE_AFTER = re.compile(r"([(\[{]) ")
LEVELS = ("char", "word")


@dataclass
class Pair:
    source: str
    target: str
    origin: str            # file path (the source file for aligned files)
    line: int              # 1-based line (or row for Parquet)




@dataclass
class ParallelData:
    pairs: list[Pair]
    rejects: list[Reject]
    read: int              # pairs read = len(pairs) + len(rejects)
    files: list[str]


def read_parallel(source: str | Path | None = None, target: str | Path | None = None,
                  table: str | Path | None = None, source_field: str = "source", target_field: str = "target",
                  max_chars: int = 1000, max_reject_rate: float = 0.0, encoding: str = "utf-8") -> ParallelData:
    """Read two aligned text files (`source`, `target`) or one `table` into cleaned pairs."""
    _check_arguments(source, target, table, source_field, target_field, max_chars, encoding)
    if table is not None:
        path = _existing(table)
        records = _table_records(path, source_field, target_field, encoding)
        files = [str(path)]
    else:
        source_path, target_path = _existing(source), _existing(target)
        records = _aligned_records(source_path, target_path, encoding)
        files = [str(source_path), str(target_path)]
    pairs: list[Pair] = []
    rejects: list[Reject] = []
    for record in records:
        result = record if isinstance(record, Reject) else _check_pair(record, max_chars)
        (rejects if isinstance(result, Reject) else pairs).append(result)
    data = ParallelData(pairs, rejects, len(pairs) + len(rejects), files)
    enforce_reject_policy([(f"{r.origin}:{r.line}", r.reason) for r in data.rejects], data.read, max_reject_rate,
                          "pairs", SETTING, data.files, long_unit="sentence pairs")
    return data


def clean_text(text: str) -> str:
    """NFC, stripped, internal whitespace runs collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


# ----------------------------------------------------------------------------- checks


@dataclass
class _Raw:
    """A record before cleaning: where each side comes from and its raw text."""
    source: str
    target: str
    origin: str
    line: int
    target_origin: str     # differs from origin for aligned files
    raw: str


def _check_arguments(source, target, table, source_field, target_field, max_chars, encoding) -> None:
    if table is not None and (source is not None or target is not None):
        raise InputError("give either a table or a source and a target file, not both")
    if table is None and (source is None or target is None):
        missing = "target file" if source is not None else "source file" if target is not None else "input"
        raise InputError(f"no {missing} given: parallel data is a source and a target file, or one table")
    if not source_field or not target_field or source_field == target_field:
        raise InputError(f"the source and target fields must be two different names, "
                         f"got {source_field!r} and {target_field!r}")
    if max_chars < 1:
        raise InputError(f"max_chars must be at least 1, got {max_chars}")
    try:
        "\n".encode(encoding)
    except LookupError:
        raise InputError(f"unknown text encoding {encoding!r}") from None


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path


def _check_pair(record: _Raw, max_chars: int) -> Pair | Reject:
    source, target = clean_text(record.source), clean_text(record.target)
    for side, text, origin in (("source", source, record.origin), ("target", target, record.target_origin)):
        if not text:
            return Reject.of(origin, record.line, f"empty {side}", record.raw)
        if len(text) > max_chars:
            return Reject.of(origin, record.line, f"{side} is {len(text)} characters, over max_chars {max_chars}",
                           record.raw)
    return Pair(source, target, record.origin, record.line)



# ----------------------------------------------------------------------------- bytes and lines




def _decoded_lines(path: Path, encoding: str) -> list[tuple[str, str]]:
    """(text, problem) per line; problem names the first undecodable byte ("" when none).

    A final newline does not start another line; "\\r" before "\\n" is dropped."""
    data = read_bytes(path).removeprefix(UTF8_BOM)
    newline = "\n".encode(encoding)
    if newline != b"\n":  # UTF-16 and the like: decode the whole file
        try:
            data = data.decode(encoding).encode("utf-8").removeprefix(UTF8_BOM)
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not valid {encoding} at byte {err.start}") from None
        encoding = "utf-8"
    if not data:
        return []
    raw_lines = data.split(b"\n")
    if data.endswith(b"\n"):
        raw_lines.pop()
    lines = []
    for raw in raw_lines:
        raw = raw.removesuffix(b"\r")
        try:
            lines.append((raw.decode(encoding), ""))
        except UnicodeDecodeError as err:
            problem = f"not valid {encoding} at byte {err.start + 1} of the line (0x{raw[err.start]:02x})"
            lines.append((raw.decode(encoding, errors="replace"), problem))
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ----------------------------------------------------------------------------- aligned files


def _aligned_records(source: Path, target: Path, encoding: str) -> Iterator[_Raw | Reject]:
    source_lines = _decoded_lines(source, encoding)
    target_lines = _decoded_lines(target, encoding)
    if len(source_lines) != len(target_lines):
        raise InputError(f"{source} has {_count(len(source_lines), 'line')}, {target} has "
                         f"{_count(len(target_lines), 'line')}: the files are not aligned")
    for number, ((src, src_problem), (tgt, tgt_problem)) in enumerate(zip(source_lines, target_lines), start=1):
        raw = f"{src}\t{tgt}"
        if src_problem or tgt_problem:
            origin, side, problem = (source, "source", src_problem) if src_problem else (target, "target", tgt_problem)
            yield Reject.of(str(origin), number, f"{side} {problem}", raw)
        elif src.strip() or tgt.strip():
            yield _Raw(src, tgt, str(source), number, str(target), raw)


# ----------------------------------------------------------------------------- tables


def table_format(path: str | Path) -> str:
    """"tsv", "jsonl", "csv" or "parquet" from the file name (a compression suffix is looked through)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in OPENERS:
        suffixes.pop()
    fmt = TABLE_FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise InputError(f"{path}: unknown table format: expected a .tsv, .jsonl, .csv or .parquet file "
                         f"(or give aligned source and target files)")
    return fmt


def _table_records(path: Path, source_field: str, target_field: str, encoding: str) -> Iterator[_Raw | Reject]:
    fmt = table_format(path)
    if fmt == "parquet":
        return _parquet_records(path, source_field, target_field)
    if fmt == "csv":
        return _csv_records(path, source_field, target_field, encoding)
    lines = _decoded_lines(path, encoding)
    if fmt == "jsonl":
        return _jsonl_records(path, lines, source_field, target_field)
    return _tsv_records(path, lines, source_field, target_field)


def _tsv_records(path: Path, lines: list[tuple[str, str]], source_field: str,
                 target_field: str) -> Iterator[_Raw | Reject]:
    columns, expected, start = (0, 1), 2, 0
    first = next((i for i, (text, _) in enumerate(lines) if text.strip()), None)
    if first is not None and not lines[first][1]:
        header = [name.strip() for name in lines[first][0].split("\t")]
        if source_field in header and target_field in header:
            columns, expected, start = (header.index(source_field), header.index(target_field)), len(header), first + 1
    for index in range(start, len(lines)):
        text, problem = lines[index]
        number = index + 1
        if problem:
            yield Reject.of(str(path), number, problem, text)
            continue
        if not text.strip():
            continue
        fields = text.split("\t")
        if len(fields) != expected:
            yield Reject.of(str(path), number, f"{_count(len(fields), 'field')}, expected {expected} "
                                             f"(tab-separated)", text)
            continue
        yield _Raw(fields[columns[0]], fields[columns[1]], str(path), number, str(path), text)


def _jsonl_records(path: Path, lines: list[tuple[str, str]], source_field: str,
                   target_field: str) -> Iterator[_Raw | Reject]:
    for number, (text, problem) in enumerate(lines, start=1):
        if problem:
            yield Reject.of(str(path), number, problem, text)
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            yield Reject.of(str(path), number, f"not valid JSON: {err.msg} at column {err.colno}", text)
            continue
        except RecursionError:
            yield Reject.of(str(path), number, "not valid JSON: nested too deeply", text)
            continue
        if not isinstance(obj, dict):
            yield Reject.of(str(path), number, f"not a JSON object ({_json_type(obj)})", text)
            continue
        problem = _field_problem(obj, source_field) or _field_problem(obj, target_field)
        if problem:
            yield Reject.of(str(path), number, problem, text)
        else:
            yield _Raw(obj[source_field], obj[target_field], str(path), number, str(path), text)


def _field_problem(obj: dict, field: str) -> str:
    if field not in obj:
        return f"no {field!r} field"
    if not isinstance(obj[field], str):
        return f"field {field!r} is {_json_type(obj[field])}, expected a string"
    return ""


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _csv_records(path: Path, source_field: str, target_field: str, encoding: str) -> Iterator[_Raw | Reject]:
    data = read_bytes(path)
    if encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig"):
        data = data.removeprefix(UTF8_BOM)
    text = data.decode(encoding, errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except csv.Error as err:
        raise InputError(f"{path}: not a readable CSV file: {err}") from None
    if header is None:
        return
    header = [name.strip() for name in header]
    missing = [field for field in (source_field, target_field) if field not in header]
    if missing:
        raise InputError(f"{path}: no {' or '.join(map(repr, missing))} column in the CSV header "
                         f"(columns: {', '.join(header)})")
    columns = header.index(source_field), header.index(target_field)
    while True:
        number = reader.line_num + 1  # a quoted field may span lines: a record is named by its first
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # a field over the size limit, or the end inside quotes: read on
            yield Reject.of(str(path), number, f"not readable as CSV: {err}", "")
            continue
        raw = ",".join(row).encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
        if not row or not any(cell.strip() for cell in row):
            continue
        bad = next((c for cell in row for c in cell if "\udc80" <= c <= "\udcff"), None)
        if bad is not None:
            yield Reject.of(str(path), number, f"not valid {encoding} (byte 0x{ord(bad) - 0xdc00:02x})", raw)
        elif len(row) != len(header):
            yield Reject.of(str(path), number, f"{_count(len(row), 'field')}, expected {len(header)}", raw)
        else:
            yield _Raw(row[columns[0]], row[columns[1]], str(path), number, str(path), raw)


def _parquet_records(path: Path, source_field: str, target_field: str) -> Iterator[_Raw | Reject]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        names = schema.names
    except PARQUET_ERRORS as err:
        raise InputError(f"{path}: not a readable Parquet file: {err}") from None
    missing = [field for field in (source_field, target_field) if field not in names]
    if missing:
        raise InputError(f"{path}: no {' or '.join(map(repr, missing))} column (columns: {', '.join(names)})")
    for field in (source_field, target_field):
        kind = schema.field(field).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise InputError(f"{path}: column {field!r} holds {kind}, expected strings")
    try:
        table = pq.read_table(path, columns=[source_field, target_field])
    except PARQUET_ERRORS as err:  # a sound footer over corrupt pages
        raise InputError(f"{path}: not a readable Parquet file: {err}") from None
    sources = table.column(source_field).to_pylist()
    targets = table.column(target_field).to_pylist()
    for number, (src, tgt) in enumerate(zip(sources, targets), start=1):
        raw = f"{src}\t{tgt}"
        if src is None or tgt is None:
            side = "source" if src is None else "target"
            yield Reject.of(str(path), number, f"empty {side} (null)", raw)
        else:
            yield _Raw(src, tgt, str(path), number, str(path), raw)


# ----------------------------------------------------------------------------- splitting, writing


def split_pairs(pairs: list, dev_fraction: float, seed: int) -> tuple[list, list]:
    """(train, dev): a seeded random `dev_fraction` of the pairs (at least one when the fraction
    is positive and there are two or more pairs), both kept in their original order."""
    if not 0 <= dev_fraction < 1:
        raise ValueError(f"dev_fraction must be in [0, 1), got {dev_fraction}")
    pairs = list(pairs)
    dev_count = round(len(pairs) * dev_fraction)
    if dev_fraction > 0 and len(pairs) >= 2:
        dev_count = min(max(dev_count, 1), len(pairs) - 1)
    chosen = set(random.Random(seed).sample(range(len(pairs)), dev_count))
    train = [p for i, p in enumerate(pairs) if i not in chosen]
    dev = [p for i, p in enumerate(pairs) if i in chosen]
    return train, dev


def write_parallel_tsv(path: str | Path, pairs: Iterable) -> Path:
    """Write (source, target) pairs (or Pair objects) as "source<TAB>target" lines, no header."""
    path = Path(path)
    with open_for_writing(path) as f:
        for number, item in enumerate(pairs, start=1):
            source, target = (item.source, item.target) if isinstance(item, Pair) else item
            for side, text in (("source", source), ("target", target)):
                if not isinstance(text, str) or any(c in text for c in "\t\n\r"):
                    raise ValueError(f"pair {number}: the {side} {text!r} is not text without tabs and newlines")
            f.write(f"{source}\t{target}\n")
    return path


# ----------------------------------------------------------------------------- tokens


def tokenize(text: str, level: str = "char") -> list[str]:
    """Characters (spaces included as " "), or words and punctuation marks."""
    if level == "char":
        return list(text)
    if level == "word":
        return WORD_PATTERN.findall(text)
    raise ValueError(f"unknown token level {level!r}: expected one of {', '.join(LEVELS)}")


def detokenize(tokens: Iterable[str], level: str = "char") -> str:
    """The text of `tokens`: joined as is (char), or with spaces except before .,;:!?)]} and after ([{ (word)."""
    if level == "char":
        return "".join(tokens)
    if level == "word":
        text = " ".join(token for token in tokens if token)
        return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))
    raise ValueError(f"unknown token level {level!r}: expected one of {', '.join(LEVELS)}")
