"""Read and write CoNLL-style NER files: one token per line, a blank line between sentences.

Columns are separated by spaces or tabs; the token and tag columns are chosen by index
(the tag is the last column by default). `-DOCSTART-` lines and CoNLL-U style comments
("# sent_id = 1") at the start of a sentence are skipped; CRLF line endings, a UTF-8 BOM,
trailing whitespace and a missing final blank line are fine; .gz, .bz2 and .xz files are
decompressed.

A sentence that cannot be used (a line with the wrong number of columns, bytes that are
not valid in the encoding, an unknown tag, a tag sequence that breaks the strict IOB2 or
BIOES grammar, a type outside `labels`) is rejected with the file, the line of the
offending token and the reason; the reject policy (`max_reject_rate`) decides whether
rejects are an error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from seqpipe.core.errors import InputError
from seqpipe.core.dataset import Reject, enforce_reject_policy, open_for_writing, read_bytes
from seqpipe.tasks.ner import schemes

UTF8_BOM = b"\xef\xbb\xbf"
DOCSTART = "-DOCSTART-"
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
_SCHEME_NAMES = {"auto": "auto", "iob1": "iob1", "iob2": "iob2", "bioes": "bioes", "bilou": "bioes"}


@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str]        # converted to the target scheme
    source: str            # file path
    line: int              # 1-based line of its first token




@dataclass
class ConllData:
    sentences: list[Sentence]
    rejects: list[Reject]
    read: int              # sentences read = len(sentences) + len(rejects)
    scheme: str            # the input scheme (detected or given); "a+b" when files differ
    files: list[str]


@dataclass
class _Line:
    number: int
    raw: str                         # decoded text (undecodable bytes replaced), for rejects
    columns: list[str] | None        # None when undecodable
    problem: str = ""                # why this line makes its sentence unusable


@dataclass
class _RawSentence:
    lines: list[_Line]

    def reject(self, source: str, line: int, reason: str) -> Reject:
        text = "\n".join(item.raw for item in self.lines)
        return Reject.of(source, line, reason, text)


def read_conll(paths: str | Path | list, token_column: int = 0, tag_column: int = -1, scheme: str = "auto",
               target: str = "bioes", max_reject_rate: float = 0.0, encoding: str = "utf-8",
               labels: list[str] | None = None) -> ConllData:
    """Read CoNLL files (a path, a folder of files, or a list) into sentences tagged in `target`."""
    scheme = _check_arguments(scheme, target, encoding)
    files = expand_paths(paths)
    allowed_types = _label_types(labels)
    sentences: list[Sentence] = []
    rejects: list[Reject] = []
    schemes_seen: list[str] = []
    for path in files:
        raw_sentences = _read_raw_sentences(path, encoding, token_column, tag_column)
        file_scheme = _file_scheme(raw_sentences, scheme, tag_column)
        schemes_seen.append(file_scheme)
        for raw in raw_sentences:
            result = _convert(raw, path, token_column, tag_column, file_scheme, target, allowed_types)
            (sentences if isinstance(result, Sentence) else rejects).append(result)
    data = ConllData(sentences, rejects, len(sentences) + len(rejects),
                     "+".join(dict.fromkeys(schemes_seen)), [str(f) for f in files])
    enforce_reject_policy([(f"{r.source}:{r.line}", r.reason) for r in data.rejects], data.read, max_reject_rate,
                          "sentences", "ner.max_reject_rate", data.files)
    return data


def _check_arguments(scheme: str, target: str, encoding: str) -> str:
    if scheme not in _SCHEME_NAMES:
        raise InputError(f"unknown tag scheme {scheme!r}: expected one of auto, iob1, iob2, bioes, bilou")
    if target not in schemes.TARGETS:
        raise InputError(f"unknown target tag scheme {target!r}: expected iob2 or bioes")
    try:
        "\n".encode(encoding)
    except LookupError:
        raise InputError(f"unknown text encoding {encoding!r}") from None
    return _SCHEME_NAMES[scheme]


def _label_types(labels: list[str] | None) -> set[str] | None:
    """Entity types from `labels`, given as types ("PER") or as tags ("B-PER", "O")."""
    if labels is None:
        return None
    types = set()
    for label in labels:
        if label != "O":
            types.add(schemes.parse_tag(label)[1] if schemes.is_tag(label) else label)
    return types


def expand_paths(paths: str | Path | list) -> list[Path]:
    """Files named by a path, a folder (its files, sorted, hidden ones left out) or a list."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    files: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not inside:
                raise InputError(f"{path}: the folder holds no files")
            files.extend(inside)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    if not files:
        raise InputError("no CoNLL files given")
    return files




def _decoded_lines(path: Path, encoding: str) -> Iterable[tuple[int, str, str]]:
    """(line number, text, problem) per line; problem says why undecodable bytes could not be read."""
    data = read_bytes(path).removeprefix(UTF8_BOM)
    newline = "\n".encode(encoding)
    if newline != b"\n":  # UTF-16 and the like: decode the whole file
        try:
            data = data.decode(encoding).encode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not valid {encoding} at byte {err.start}") from None
        encoding = "utf-8"
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield number, raw.decode(encoding), ""
        except UnicodeDecodeError as err:
            problem = f"not valid {encoding} at byte {err.start + 1} of line {number} (0x{raw[err.start]:02x})"
            yield number, raw.decode(encoding, errors="replace"), problem


def _read_raw_sentences(path: Path, encoding: str, token_column: int, tag_column: int) -> list[_RawSentence]:
    """Group the lines of a file into sentences, marking lines whose columns are unusable."""
    expected: int | None = None
    sentences: list[_RawSentence] = []
    current: list[_Line] = []
    for number, text, problem in _decoded_lines(path, encoding):
        stripped = text.strip(" \t\r\n\f\v")
        if not stripped or stripped.split()[:1] == [DOCSTART]:  # split() also splits at NBSP, "\x1c"...
            if current:
                sentences.append(_RawSentence(current))
            current = []
            continue
        columns = _COLUMN_SEPARATOR.split(stripped)
        if not current and _is_comment(stripped, columns, expected, tag_column):
            continue
        if problem:
            current.append(_Line(number, stripped, None, problem))
            continue
        expected = expected if expected is not None else len(columns)
        problem = _column_problem(number, len(columns), expected, token_column, tag_column)
        current.append(_Line(number, stripped, columns, problem))
    if current:
        sentences.append(_RawSentence(current))
    return sentences


def _column_problem(number: int, count: int, expected: int, token_column: int, tag_column: int) -> str:
    """Why a line's columns cannot be used ("" when they can)."""
    if count != expected:
        return f"line {number} has {_columns(count)}, expected {expected}"
    token_index, tag_index = (c if c >= 0 else count + c for c in (token_column, tag_column))
    if not (0 <= token_index < count and 0 <= tag_index < count) or token_index == tag_index:
        needed = max(2, token_column + 1 if token_column >= 0 else -token_column,
                     tag_column + 1 if tag_column >= 0 else -tag_column)
        return f"line {number} has {_columns(count)}, expected at least {needed} for the token and the tag"
    return ""


def _columns(count: int) -> str:
    return f"{count} column" if count == 1 else f"{count} columns"


def _is_comment(stripped: str, columns: list[str], expected: int | None, tag_column: int) -> bool:
    """"# ..." before a sentence is a comment, unless it reads as a token line for the token "#"."""
    if not stripped.startswith("# "):
        return False
    looks_like_token = (len(columns) == expected if expected else len(columns) >= 2)
    try:
        return not (looks_like_token and schemes.is_tag(columns[tag_column]))
    except IndexError:
        return True


def _file_scheme(raw_sentences: list[_RawSentence], scheme: str, tag_column: int) -> str:
    if scheme != "auto":
        return scheme
    usable = [s for s in raw_sentences if not any(line.problem for line in s.lines)]
    return schemes.detect_scheme([[line.columns[tag_column] for line in s.lines] for s in usable])


def _convert(raw: _RawSentence, path: Path, token_column: int, tag_column: int, scheme: str, target: str,
             allowed_types: set[str] | None) -> Sentence | Reject:
    """The sentence with its tags converted to `target`, or the reason it cannot be used."""
    for line in raw.lines:
        if line.problem:
            return raw.reject(str(path), line.number, line.problem)
    tokens = [line.columns[token_column] for line in raw.lines]
    tags = [line.columns[tag_column] for line in raw.lines]
    try:
        converted = schemes.from_spans(schemes.to_spans(tags, scheme), len(tags), target)
    except schemes.TagError as err:
        reason = str(err) if err.problem == schemes.UNKNOWN_TAG else f"{err} (read as {scheme})"
        return raw.reject(str(path), raw.lines[err.index].number, reason)
    if allowed_types is not None:
        for index, tag in enumerate(tags):
            parsed = schemes.parse_tag(tag)
            if parsed and parsed[1] not in allowed_types:
                reason = f"{tag} has type {parsed[1]}, which is not in the labels ({', '.join(sorted(allowed_types))})"
                return raw.reject(str(path), raw.lines[index].number, reason)
    return Sentence(tokens, converted, str(path), raw.lines[0].number)


def write_conll(path: str | Path, sentences: Iterable) -> Path:
    """Write (tokens, tags) pairs (or Sentence objects) as "token tag" lines, a blank line between."""
    path = Path(path)
    with open_for_writing(path) as f:
        for number, item in enumerate(sentences, start=1):
            tokens, tags = (item.tokens, item.tags) if isinstance(item, Sentence) else item
            if len(tokens) != len(tags):
                raise ValueError(f"sentence {number}: {len(tokens)} tokens but {len(tags)} tags")
            for token, tag in zip(tokens, tags):
                if not token or any(c.isspace() for c in token):
                    raise ValueError(f"sentence {number}: token {token!r} is empty or holds whitespace")
                f.write(f"{token} {tag}\n")
            f.write("\n")
    return path
