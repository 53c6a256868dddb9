"""Audio manifests and folders, audio files and YAML configuration on bad bytes."""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import soundfile
from hypothesis import given
from hypothesis import strategies as st

from seqpipe.config import PipelineConfig, load_config
from seqpipe.tasks.speech.audio import AudioError, check_audio, read_audio
from seqpipe.tasks.speech.manifest import Utterance, read_manifest

from .fuzzing import (attempt, bad_inputs, check_rejects, fuzz, parquet_bytes, plain_words, ragged_rows, read_ok,
                      words)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
CONFIG = Path(__file__).parents[2] / "conf" / "pipeline.yaml"

# Audio paths a manifest may hold: a real file, a missing one, odd ones (an unknown ~user, a
# name over the file system's limit, a NUL byte, a folder).
audio_paths = st.sampled_from(["a.wav", "missing.wav", "~nobody-here/a.wav", "x" * 300 + ".wav", "a\x00.wav", ".",
                               "", " ", "../a.wav"])
manifest_rows = st.lists(st.fixed_dictionaries({"path": audio_paths, "transcript": words},
                                               optional={"speaker": words, "duration": st.sampled_from(
                                                   ["", "1.5", "-1", "nan", "inf", "x", 3])}), max_size=6)


def table(rows: list[dict], separator: str) -> bytes:
    names = ["path", "transcript", "speaker", "duration"]
    lines = [separator.join(names)] + [separator.join(str(r.get(n, "")) for n in names) for r in rows]
    return "".join(line + "\n" for line in lines).encode("utf-8", errors="surrogateescape")


def manifests() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        manifest_rows.map(lambda rows: ("csv", table(rows, ","))),
        manifest_rows.map(lambda rows: ("tsv", table(rows, "\t"))),
        manifest_rows.map(lambda rows: ("jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())),
        manifest_rows.map(lambda rows: ("parquet", parquet_bytes(pa.Table.from_pylist(
            [{k: str(v) for k, v in r.items()} for r in rows] or [{"path": None, "transcript": None}])))))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("speech")
    soundfile.write(folder / "a.wav", 0.3 * np.sin(np.arange(8000) / 5), 16000)
    return folder


@fuzz(800)
@given(manifest=manifests().flatmap(lambda m: st.tuples(st.just(m[0]), bad_inputs(st.just(m[1])))))
def test_manifests(recordings, manifest):
    fmt, data = manifest
    path = recordings / f"bad.{fmt}"
    path.write_bytes(data)
    result = attempt("audio manifests", [path], lambda: read_manifest(path, max_reject_rate=1.0))
    if read_ok(result):
        assert result.read == len(result.utterances) + len(result.rejects) > 0
        check_rejects(result.rejects, [path], data if fmt != "parquet" else None)
        assert all(Path(u.path).is_file() for u in result.utterances)


@fuzz(200)
@given(rows=ragged_rows(st.sampled_from(["a.wav", "hello", "x"])), fmt=st.sampled_from(["csv", "tsv"]),
       huge=st.sampled_from([0, 200_000]))
def test_manifest_ragged_rows_are_each_counted(recordings, rows, fmt, huge):
    separator = "," if fmt == "csv" else "\t"
    lines = [f"path{separator}transcript", *(separator.join(r) for r in rows)]
    if huge:
        lines.insert(len(lines) // 2 + 1, "a.wav" + separator + "y" * huge)
    path = recordings / f"ragged.{fmt}"
    path.write_text("".join(line + "\n" for line in lines))
    result = attempt("audio manifests", [path], lambda: read_manifest(path, max_reject_rate=1.0))
    expected = sum(1 for line in lines[1:] if line.strip())
    if read_ok(result):
        assert result.read == expected
    else:  # every utterance rejected, or none found
        assert f"all {expected} utterances rejected" in str(result) or "no utterances found" in str(result)


@fuzz(300)
@given(layout=st.sampled_from(["librispeech", "sidecar"]),
       data=bad_inputs(st.lists(st.tuples(st.sampled_from(["a", "1-2-3", "~x", "y" * 300, "b\x00"]), plain_words),
                                max_size=4).map(lambda r: "".join(f"{i} {t}\n" for i, t in r).encode())))
def test_recording_folders(tmp_path_factory, recordings, layout, data):
    """LibriSpeech transcripts (`<id> <TEXT>` lines) and sidecar .txt transcripts holding bad bytes."""
    folder = tmp_path_factory.getbasetemp() / f"folder-{layout}"
    folder.mkdir(exist_ok=True)
    (folder / "a.wav").write_bytes((recordings / "a.wav").read_bytes())
    (folder / ("a.trans.txt" if layout == "librispeech" else "a.txt")).write_bytes(data)
    result = attempt("recording folders", [folder], lambda: read_manifest(folder, max_reject_rate=1.0))
    if read_ok(result):
        assert result.read == len(result.utterances) + len(result.rejects) > 0
        check_rejects(result.rejects, [*folder.iterdir()], data)


def audio_files() -> st.SearchStrategy[tuple[str, bytes]]:
    """(suffix, bytes) of a short valid WAV or FLAC file at some rate, channel count and sample type.

    (No OGG: its stream serial number is random, so the bytes, and the run, would not repeat.)"""
    kinds = st.sampled_from([("wav", "PCM_16"), ("wav", "PCM_U8"), ("wav", "FLOAT"), ("wav", "PCM_24"),
                             ("flac", "PCM_16"), ("flac", "PCM_24")])
    return st.tuples(kinds, st.sampled_from([8000, 16000, 22050, 44100]), st.integers(1, 3),
                     st.integers(0, 2000)).map(_encode_audio)


def _encode_audio(spec) -> tuple[str, bytes]:
    (fmt, subtype), rate, channels, frames = spec
    out = io.BytesIO()
    wave = 0.5 * np.sin(np.arange(frames * channels, dtype=np.float64) / 3).reshape(frames, channels)
    soundfile.write(out, wave, rate, format=fmt.upper(), subtype=subtype)
    return fmt, out.getvalue()


def poked_header(data: bytes) -> st.SearchStrategy[bytes]:
    """A WAV header field (channels, rate, byte rate, block align, bits, data size) set to an extreme value."""
    fields = st.sampled_from([(22, "<H"), (24, "<I"), (28, "<I"), (32, "<H"), (34, "<H"), (40, "<I"), (4, "<I")])
    values = st.sampled_from([0, 1, 3, 255, 0xFFFF, 1_999_999_973, 0xFFFFFFFF])
    return st.tuples(fields, values).map(lambda fv: _poke(data, *fv[0], fv[1]))


def _poke(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    value &= (1 << (8 * size)) - 1
    return data[:offset] + struct.pack(fmt, value) + data[offset + size:] if len(data) >= offset + size else data


@fuzz(800)
@given(audio=audio_files().flatmap(lambda a: st.tuples(st.just(a[0]), st.one_of(
    bad_inputs(st.just(a[1])), poked_header(a[1])))), as_suffix=st.sampled_from([None, "wav", "flac"]))
def test_audio_files(tmp_path_factory, audio, as_suffix):
    """Broken audio (or audio named as another format): a float wave, or an AudioError naming the file."""
    fmt, data = audio
    path = tmp_path_factory.getbasetemp() / f"bad.{as_suffix or fmt}"
    path.write_bytes(data)
    wave = attempt("audio files", [path], lambda: read_audio(path, 16000))
    if read_ok(wave):
        assert wave.dtype == np.float32 and wave.ndim == 1 and wave.size > 0
    else:
        assert isinstance(wave, AudioError)
    reason = check_audio(Utterance(str(path), "a", "", None, "m.csv", 1), 16000, 160, 4)
    if reason is None:
        assert read_ok(wave) and np.isfinite(wave).all(), "check_audio passed a wave with NaN or infinity"


yaml_bits = st.sampled_from(["\n", "  ", "\t", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "&a ", "!!binary ",
                             "!!python/object:os.system ", "? ", "|", ">", "'", '"', "#", "%YAML 1.1\n", "---\n",
                             "...\n", "<<: *a\n", "ingest", "vocab", "min_count", "sources", "1e999", "~", "\x00",
                             "\ufeff", "\x85"])
yaml_texts = st.lists(yaml_bits, max_size=30).map(lambda bits: "".join(bits).encode("utf-8", errors="surrogateescape"))


@fuzz(800)
@given(data=st.one_of(yaml_texts, bad_inputs(st.just(CONFIG.read_bytes())),
                      bad_inputs(yaml_texts)))
def test_yaml_config(tmp_path_factory, data):
    path = tmp_path_factory.getbasetemp() / "bad.yaml"
    path.write_bytes(data)
    result = attempt("YAML config", [path], lambda: load_config(path))
    assert isinstance(result, PipelineConfig) or not read_ok(result)
