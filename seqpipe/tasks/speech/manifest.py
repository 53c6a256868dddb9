"""Read speech data: manifests or folders of recordings, each with its transcript.

`read_manifest(path)` takes a manifest (`.csv`/`.tsv` with a header row naming `path_field`,
`transcript_field` and optionally `speaker_field` and `duration`; `.jsonl`, one object a
line; `.parquet`, columns; relative audio paths resolve against the manifest's folder), or a
folder: in the LibriSpeech layout (`*.trans.txt` files of `<utterance-id> <TRANSCRIPT>` lines
next to `<utterance-id>.flac`; the speaker is the id's first dash-separated part), or of audio
files (.wav, .flac, .ogg, recursively) each with a sidecar `<name>.txt` or `<name>.lab`
transcript (the speaker is the parent folder's name; either one without the other is rejected).

Transcripts are normalised (NFKC, lowercase, whitespace collapsed, stripped) and must then use
only the characters of `alphabet` (default: space, a-z, apostrophe). An utterance that cannot be
used (missing audio file, empty transcript, characters outside the alphabet, a missing field, a
row that does not parse) is rejected with its file, line and reason, and `max_reject_rate`
decides whether rejects are an error, as in the other readers: `read == accepted + rejected`.
Decoding the audio and checking it is long enough for CTC happen at feature time (`check_audio`).
"""
from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from seqpipe.core.errors import InputError
from seqpipe.core.paths import is_within
from seqpipe.core.dataset import PARQUET_ERRORS, Reject, enforce_reject_policy
from seqpipe.tasks.speech.audio import AUDIO_SUFFIXES, check_audio, ctc_min_frames

__all__ = ["ALPHABET", "Utterance", "Reject", "SpeechData", "read_manifest", "normalise_transcript",
           "outside_alphabet", "check_audio", "ctc_min_frames"]

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
MANIFEST_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
TRANSCRIPT_SUFFIXES = (".txt", ".lab")
DURATION_FIELD = "duration"
SETTING = "speech.max_reject_rate"


@dataclass
class Utterance:
    path: str              # the audio file, absolute
    transcript: str        # normalised, inside the alphabet
    speaker: str           # "" when the manifest has no speaker
    duration: float | None  # seconds, when the manifest says
    origin: str            # the manifest or transcript file
    line: int              # 1-based line (or row for Parquet)




@dataclass
class SpeechData:
    utterances: list[Utterance]
    rejects: list[Reject]
    read: int              # len(utterances) + len(rejects)
    files: list[str]


def read_manifest(path: str | Path, max_reject_rate: float = 0.0, path_field: str = "path",
                  transcript_field: str = "transcript", speaker_field: str = "speaker",
                  alphabet: str = ALPHABET, allowed_roots: list[str] | None = None) -> SpeechData:
    """Read a manifest or a folder of recordings into utterances and rejects (see the module doc).

    With `allowed_roots` (runtime.strict_paths), an utterance whose audio or transcript file
    lies outside them (after following .. and symlinks) is rejected, not read."""
    path = Path(path).expanduser()
    fields = (path_field, transcript_field, speaker_field)
    if path.is_dir():
        records, files = _folder_records(path)
    elif path.is_file():
        records, files = _manifest_records(path, *fields), [str(path)]
    else:
        raise InputError(f"{path}: no such file or folder")
    utterances: list[Utterance] = []
    rejects: list[Reject] = []
    for record in records:  # Rejects, or (utterance with its raw transcript, raw row) pairs
        result = record if isinstance(record, Reject) else _check(*record, alphabet, allowed_roots)
        (rejects if isinstance(result, Reject) else utterances).append(result)
    data = SpeechData(utterances, rejects, len(utterances) + len(rejects), files)
    enforce_reject_policy([(f"{r.origin}:{r.line}", r.reason) for r in data.rejects], data.read, max_reject_rate,
                          "utterances", SETTING, data.files)
    return data


def normalise_transcript(text: str) -> str:
    """NFKC, lowercase, internal whitespace runs collapsed to one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def outside_alphabet(text: str, alphabet: str = ALPHABET) -> list[str]:
    """The distinct characters of `text` not in `alphabet`, in order of first appearance."""
    allowed = set(alphabet)
    return list(dict.fromkeys(c for c in text if c not in allowed))


# ----------------------------------------------------------------------------- checks and policy


def _check(raw: Utterance, text: str, alphabet: str, roots: list[str] | None = None) -> Utterance | Reject:
    """The utterance with its transcript normalised, or why it cannot be used."""
    outside = roots is not None and next((p for p in (raw.path, raw.origin) if not is_within(p, roots)), None)
    if outside:
        shown = "" if outside == raw.origin else text  # never copy a file from outside into the rejects
        return Reject.of(raw.origin, raw.line, f"outside the data roots: {outside}", shown)
    if not _is_file(Path(raw.path)):
        return Reject.of(raw.origin, raw.line, f"missing audio file {raw.path}", text)
    transcript = normalise_transcript(raw.transcript)
    if not transcript:
        return Reject.of(raw.origin, raw.line, "empty transcript", text)
    bad = outside_alphabet(transcript, alphabet)
    if bad:
        listed = ", ".join(repr(c) for c in bad)
        return Reject.of(raw.origin, raw.line, f"characters outside the alphabet: {listed}", text)
    return Utterance(raw.path, transcript, raw.speaker, raw.duration, raw.origin, raw.line)



def _is_file(path: Path) -> bool:
    """Path.is_file(), and False for a name the file system refuses (too long, say)."""
    try:
        return path.is_file()
    except OSError:
        return False


# ----------------------------------------------------------------------------- manifests


def _manifest_records(path: Path, *fields: str) -> Iterator[tuple[Utterance, str] | Reject]:
    fmt = MANIFEST_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown manifest format: expected a .csv, .tsv, .jsonl or .parquet file, "
                         f"or a folder of recordings")
    if fmt in ("csv", "tsv"):
        return _table_rows(path, "\t" if fmt == "tsv" else ",", *fields)
    return (_parquet_rows if fmt == "parquet" else _jsonl_rows)(path, *fields)


def _record(path: Path, row: dict, fields: tuple, line: int, text: str) -> tuple[Utterance, str] | Reject:
    """A manifest row (a dict of field values) as a record, or why it cannot be one."""
    path_field, transcript_field, speaker_field = fields
    for name in (path_field, transcript_field):
        value = row.get(name)
        if value is None:
            return Reject.of(str(path), line, f"no {name!r} field" if name not in row else f"{name!r} is null", text)
        if not isinstance(value, str):
            return Reject.of(str(path), line, f"{name!r} is {type(value).__name__}, expected a string", text)
    if not row[path_field].strip():
        return Reject.of(str(path), line, "empty audio path", text)
    duration = row.get(DURATION_FIELD)
    seconds = _seconds(duration)
    if seconds is False:
        return Reject.of(str(path), line, f"duration {duration!r} is not a number of seconds", text)
    try:
        audio = path.absolute().parent / Path(row[path_field].strip()).expanduser()
    except RuntimeError:  # "~name/..." for a user this machine does not know
        return Reject.of(str(path), line, f"cannot expand ~ in the audio path {row[path_field].strip()!r}", text)
    speaker = "" if row.get(speaker_field) is None else str(row[speaker_field]).strip()
    return Utterance(str(audio), row[transcript_field], speaker, seconds, str(path), line), text


def _seconds(value) -> float | None | bool:
    """A duration field as seconds (None when absent or blank, False when not a number >= 0)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return False
    return seconds if seconds >= 0 else False


def _table_rows(path: Path, delimiter: str, *fields: str) -> Iterator[tuple[Utterance, str] | Reject]:
    text = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise InputError(f"{path}: the header row does not parse: {err}") from None
    header = [name.strip() for name in header or []]
    missing = [name for name in fields[:2] if name not in header]
    if missing:
        raise InputError(f"{path}: no {' or '.join(map(repr, missing))} column in the header row "
                         f"(columns: {', '.join(header) or 'none'})")
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # a field over the size limit, or the end inside quotes: read on
            yield Reject.of(str(path), line, f"row does not parse: {err}", "")
            continue
        raw = delimiter.join(cells)
        if not any(cell.strip() for cell in cells):
            continue
        if "\ufffd" in raw:
            yield Reject.of(str(path), line, "not valid UTF-8", raw)
        elif len(cells) != len(header):
            yield Reject.of(str(path), line, f"{len(cells)} fields, expected {len(header)}", raw)
        else:
            yield _record(path, dict(zip(header, cells)), fields, line, raw)


def _jsonl_rows(path: Path, *fields: str) -> Iterator[tuple[Utterance, str] | Reject]:
    lines = path.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace").split("\n")
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            yield Reject.of(str(path), line, f"row does not parse: {err.msg} at column {err.colno}", text)
            continue
        except RecursionError:
            yield Reject.of(str(path), line, "row does not parse: JSON nested too deeply", text)
            continue
        if not isinstance(row, dict):
            yield Reject.of(str(path), line, "row does not parse: not a JSON object", text)
        else:
            yield _record(path, row, fields, line, text)


def _parquet_rows(path: Path, *fields: str) -> Iterator[tuple[Utterance, str] | Reject]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        names = table.column_names
    except PARQUET_ERRORS as err:
        raise InputError(f"{path}: not a readable Parquet file: {err}") from None
    missing = [name for name in fields[:2] if name not in names]
    if missing:
        raise InputError(f"{path}: no {' or '.join(map(repr, missing))} column (columns: {', '.join(names)})")
    for line, row in enumerate(table.to_pylist(), start=1):
        yield _record(path, row, fields, line, json.dumps(row, default=str))


# ----------------------------------------------------------------------------- folders


def _folder_records(folder: Path) -> tuple[list, list[str]]:
    folder = folder.absolute()
    transcripts = sorted(p for p in folder.rglob("*.trans.txt") if not _hidden(p, folder))
    if transcripts:
        return [r for path in transcripts for r in _librispeech_rows(path)], [str(p) for p in transcripts]
    records, files = _sidecar_rows(folder)
    if not records:
        raise InputError(f"{folder}: no recordings found: expected *.trans.txt files (LibriSpeech) or audio "
                         f"files ({', '.join(AUDIO_SUFFIXES)}) with .txt or .lab transcripts beside them")
    return records, files


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _librispeech_rows(path: Path) -> Iterator[tuple[Utterance, str]]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    for line, raw in enumerate(text.split("\n"), start=1):  # not splitlines(): "\x0b", "\x1c"... end no line in a file
        if not raw.strip():
            continue
        utt_id, _, transcript = raw.strip().partition(" ")
        audio = next((path.parent / (utt_id + s) for s in AUDIO_SUFFIXES if _is_file(path.parent / (utt_id + s))),
                     path.parent / (utt_id + ".flac"))
        yield Utterance(str(audio), transcript, utt_id.split("-")[0], None, str(path), line), raw


def _sidecar_rows(folder: Path) -> tuple[list, list[str]]:
    """Audio files with <name>.txt / <name>.lab transcripts; either one without the other is rejected."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p, folder))
    audio = {p.with_suffix(""): p for p in files if p.suffix.lower() in AUDIO_SUFFIXES}
    sidecars = {p.with_suffix(""): p for p in files if p.suffix.lower() in TRANSCRIPT_SUFFIXES}
    records: list = []
    for stem in sorted(set(audio) | set(sidecars)):
        if stem not in sidecars:
            records.append(Reject.of(str(audio[stem]), 1, f"no transcript file {stem.name}.txt or .lab", ""))
            continue
        text = sidecars[stem].read_bytes().decode("utf-8", errors="replace")
        if stem not in audio:
            reason = f"missing audio file: no {stem.name}.wav, .flac or .ogg beside the transcript"
            records.append(Reject.of(str(sidecars[stem]), 1, reason, text))
            continue
        records.append((Utterance(str(audio[stem]), text, stem.parent.name, None, str(sidecars[stem]), 1), text))
    return records, [str(p) for p in files if p.with_suffix("") in audio or p.with_suffix("") in sidecars]
