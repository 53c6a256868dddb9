"""A hand-made corpus of broken files, one per way a reader has been (or could be) crashed.

Each is written on the fly; the expectation is the fuzz invariant (a clear error naming the file,
or everything read counted), plus what the reader should say about that particular file.
"""
from __future__ import annotations

import gzip
import io
import struct

import numpy as np
import pyarrow as pa
import pytest
import soundfile

from seqpipe.config import IngestConfig, load_config
from seqpipe.tasks.ner.conll import read_conll
from seqpipe.tasks.speech.audio import read_audio
from seqpipe.tasks.speech.manifest import read_manifest
from seqpipe.tasks.translation.parallel_text import read_parallel

from .fuzzing import attempt, parquet_bytes, read_ok
from .test_fuzz_corpus_readers import numbers, read_all

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

DEEP_JSON = b"[" * 100_000
PARQUET = parquet_bytes(pa.table({"text": ["one", "two"] * 50, "source": ["a"] * 100, "target": ["b"] * 100}))
GOOD_GZIP = gzip.compress(b"".join(b"EU B-ORG\nrejects O\n\n" for _ in range(200)))
CORRUPT_GZIP = GOOD_GZIP[:40] + bytes([GOOD_GZIP[40] ^ 0xFF]) + GOOD_GZIP[41:]
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)) + "ingest: {sources: *a9}\n"


def wav(subtype: str = "PCM_16", frames: int = 1600, value: float = 0.25, fmt: str = "WAV") -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.full(frames, value), 16000, format=fmt, subtype=subtype)
    return out.getvalue()


OGG = wav("VORBIS", frames=16000, fmt="OGG")


CORPUS = [  # (file name, bytes, what is read: a clear error (None) or the line numbers read)
    ("deep.jsonl", DEEP_JSON + b'\n{"text": "fine"}\n', [1, 2]),
    ("bom.jsonl", b'\xef\xbb\xbf{"text": "fine"}\n', [1]),
    ("array.jsonl", b'[{"text": "a"}, {"text": "b"}]\n', [1]),
    ("deep.json", DEEP_JSON, None),
    ("bom.json", b'\xef\xbb\xbf[{"text": "fine"}]', [1]),
    ("unbalanced.csv", b'id,text\n1,"open quote\n2,fine\n', [2]),
    ("bad-header.csv", b"\xffid,text\n1,fine\n", None),
    ("nul.tsv", b"id\ttext\n1\ta\x00b\n\x00\n", [2, 3]),
    ("utf16.txt", "one\ntwo\n".encode("utf-16"), [1, 2, 3]),  # each "\n" is followed by "\x00": 3 lines
    ("truncated.parquet", PARQUET[:-9], None),
    ("corrupt.parquet", PARQUET[:200] + b"\xff" * 64 + PARQUET[264:], None),
    ("text.parquet", b"id,text\n1,hello\n", None),
    ("truncated.txt.gz", GOOD_GZIP[:-30], None),
    ("corrupt.jsonl.gz", CORRUPT_GZIP, None),
    ("text.csv.bz2", b"id,text\n1,not compressed\n", None),
    ("truncated.txt.xz", b"\xfd7zXZ\x00\x00", None),
    ("text.txt.zst", b"not zstd at all\n", None),
]


CORPUS_READERS = {"txt": "text lines", "jsonl": "JSON lines", "json": "JSON arrays", "csv": "CSV/TSV", "tsv": "CSV/TSV",
                  "parquet": "Parquet"}


@pytest.mark.parametrize("name,data,lines", CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus_readers(tmp_path, name, data, lines):
    path = tmp_path / name
    path.write_bytes(data)
    batches = attempt(CORPUS_READERS[name.split(".")[1]], [path], lambda: read_all(path, IngestConfig()))
    if lines is None:
        assert not read_ok(batches), f"{name} should be one clear error"
    else:
        assert read_ok(batches) and numbers(batches) == lines


CONLL = [
    ("nbsp.conll", "EU B-ORG\n\u00a0\nrejects O\n".encode()),
    ("separator.conll", b"EU B-ORG\n\x1c\n\nrejects O\n"),
    ("utf16.conll", "EU B-ORG\n".encode("utf-16")),
    ("corrupt.conll.gz", CORRUPT_GZIP),
    ("binary.conll", bytes(range(256)) * 4),
]


@pytest.mark.parametrize("name,data", CONLL, ids=[c[0] for c in CONLL])
def test_conll(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    result = attempt("CoNLL", [path], lambda: read_conll(path, max_reject_rate=1.0))
    assert not read_ok(result) or result.read == len(result.sentences) + len(result.rejects)


PARALLEL = [
    ("deep.jsonl", DEEP_JSON + b'\n{"source": "a", "target": "b"}\n', 2),
    ("truncated.parquet", PARQUET[:-9], None),
    ("corrupt.parquet", PARQUET[:200] + b"\xff" * 64 + PARQUET[264:], None),
    ("corrupt.tsv.gz", CORRUPT_GZIP, None),
    ("huge-field.csv", b"source,target\n" + b"a," + b"y" * 200_000 + b"\na,b\n", 2),
]


@pytest.mark.parametrize("name,data,read", PARALLEL, ids=[c[0] for c in PARALLEL])
def test_parallel(tmp_path, name, data, read):
    path = tmp_path / name
    path.write_bytes(data)
    result = attempt("parallel tables", [path], lambda: read_parallel(table=path, max_reject_rate=1.0))
    assert (result.read if read_ok(result) else None) == read


def test_manifest_rows_with_unusable_paths(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav())
    (tmp_path / "text.flac").write_bytes(b"this is not audio\n")
    rows = ["a.wav,fine", "~nobody-here/a.wav,tilde", "x" * 300 + ".wav,long name", "text.flac,not audio"]
    path = tmp_path / "m.csv"
    path.write_text("path,transcript\n" + "".join(r + "\n" for r in rows))
    result = attempt("audio manifests", [path], lambda: read_manifest(path, max_reject_rate=1.0))
    assert [u.line for u in result.utterances] == [2, 5] and [r.line for r in result.rejects] == [3, 4]
    path = tmp_path / "deep.jsonl"
    path.write_bytes(DEEP_JSON + b'\n{"path": "a.wav", "transcript": "fine"}\n')
    result = attempt("audio manifests", [path], lambda: read_manifest(path, max_reject_rate=1.0))
    assert result.read == 2 and result.rejects[0].reason == "row does not parse: JSON nested too deeply"


AUDIO = [  # (file name, bytes, part of the AudioError's reason; None: reads)
    ("header-only.wav", wav()[:20], "unreadable audio"),
    ("no-frames.wav", wav(frames=0), "empty audio"),
    ("text.flac", b"fLaC? no, this is text\n", "unreadable audio"),
    ("truncated.ogg", OGG[:len(OGG) // 2], "unreadable audio"),
    ("header-only.ogg", OGG[:60], "unreadable audio"),
    ("nan.wav", wav("FLOAT", value=float("nan")), "non-finite samples"),
    ("inf.wav", wav("DOUBLE", value=float("inf")), "NaN or infinity"),
    ("odd-rate.wav", wav()[:24] + struct.pack("<I", 1_999_999_973) + wav()[28:], "sample rate 1999999973 Hz"),
    ("rate-1.wav", wav()[:24] + struct.pack("<I", 1) + wav()[28:], "sample rate 1 Hz"),
    ("huge-data-size.wav", wav()[:40] + struct.pack("<I", 0xFFFFFFFF) + wav()[44:], None),
    ("no-channels.wav", wav()[:22] + struct.pack("<H", 0) + wav()[24:], "unreadable audio"),
]


@pytest.mark.parametrize("name,data,reason", AUDIO, ids=[c[0] for c in AUDIO])
def test_audio(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    wave = attempt("audio files", [path], lambda: read_audio(path, 16000))
    if reason is None:
        assert read_ok(wave) and np.isfinite(wave).all()
    else:
        assert not read_ok(wave) and reason in wave.reason


YAML = [  # (file name, text, part of the ConfigError)
    ("tabs.yaml", "ingest:\n\tsources: []\n", "tabs.yaml:2:1: not valid YAML"),
    ("anchors.yaml", "vocab: &v {min_count: 2}\nlm: &v {level: char}\ningest: *v\n",
     "anchors.yaml:2:5: not valid YAML"),
    ("binary.yaml", "\x00\x01\x02\x03", "binary.yaml:1:1: not valid YAML (character #x0000"),
    ("utf16.yaml", "vocab: {min_count: 2}\n".encode("utf-16"), "not UTF-8 text"),
    ("python.yaml", "ingest: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ("deep.yaml", "vocab: " + "[" * 20_000, "nested too deeply"),
    ("laughs.yaml", LAUGHS, "over 100000 values once aliases"),
    ("loop.yaml", "vocab: &a {min_count: *a}\n", "over 100000 values once aliases"),
    ("list.yaml", "- vocab\n- ingest\n", "the top level must be a mapping"),
]


@pytest.mark.parametrize("name,text,message", YAML, ids=[c[0] for c in YAML])
def test_yaml(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    error = attempt("YAML config", [path], lambda: load_config(path))
    assert not read_ok(error) and message in str(error)


def test_config_that_is_a_folder(tmp_path):
    error = attempt("YAML config", [tmp_path], lambda: load_config(tmp_path))
    assert not read_ok(error) and "not a file" in str(error)
