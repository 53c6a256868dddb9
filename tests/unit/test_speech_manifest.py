"""Speech manifests and folders of recordings: formats, paths, transcripts, rejects and audio checks."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from seqpipe.core.errors import InputError, RejectRateExceeded
from seqpipe.tasks.speech.audio import AudioError, read_audio
from seqpipe.tasks.speech.manifest import (ALPHABET, Utterance, check_audio, ctc_min_frames, normalise_transcript,
                                     read_manifest)


def tone(path, seconds=0.5, sample_rate=16000, channels=1):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t)
    sf.write(path, np.stack([wave] * channels, axis=1) if channels > 1 else wave, sample_rate)
    return path


@pytest.fixture
def recordings(tmp_path):
    (tmp_path / "audio").mkdir()
    for name in ("a.wav", "b.wav", "c.flac"):
        tone(tmp_path / "audio" / name)
    return tmp_path


def test_csv_manifest_with_relative_paths(recordings):
    (recordings / "train.csv").write_text(
        "path,transcript,speaker,duration\n"
        "audio/a.wav,Hello   World,spk1,0.5\n"
        f"{recordings / 'audio' / 'b.wav'},\"it's  here\",spk2,\n"
        "audio/c.flac,  THE END ,spk1,0.5\n", encoding="utf-8")
    data = read_manifest(recordings / "train.csv")
    assert [u.transcript for u in data.utterances] == ["hello world", "it's here", "the end"]
    assert data.utterances[0].path == str(recordings / "audio" / "a.wav")
    assert [u.speaker for u in data.utterances] == ["spk1", "spk2", "spk1"]
    assert [u.duration for u in data.utterances] == [0.5, None, 0.5]
    assert [u.line for u in data.utterances] == [2, 3, 4]
    assert data.read == 3 and not data.rejects


def test_tsv_jsonl_and_parquet_manifests(recordings):
    (recordings / "m.tsv").write_text('sentence\tpath\n"quoted" no\taudio/a.wav\n', encoding="utf-8")
    with pytest.raises(InputError, match="characters outside the alphabet: '\"'"):
        read_manifest(recordings / "m.tsv", transcript_field="sentence")
    (recordings / "m.tsv").write_text("sentence\tpath\ngood morning\taudio/a.wav\n", encoding="utf-8")
    assert read_manifest(recordings / "m.tsv", transcript_field="sentence").utterances[0].transcript == "good morning"
    rows = [{"path": "audio/a.wav", "transcript": "one"}, {"path": "audio/b.wav", "transcript": "two", "speaker": 7}]
    (recordings / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    data = read_manifest(recordings / "m.jsonl")
    assert [(u.transcript, u.speaker, u.line) for u in data.utterances] == [("one", "", 1), ("two", "7", 2)]
    pq.write_table(pa.table({"file": ["audio/c.flac"], "text": ["Parquet Works"], "speaker": ["x"],
                             "duration": [0.5]}), recordings / "m.parquet")
    data = read_manifest(recordings / "m.parquet", path_field="file", transcript_field="text")
    assert (data.utterances[0].transcript, data.utterances[0].duration) == ("parquet works", 0.5)


def test_librispeech_folder(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "dev" / "19" / "198"
    chapter.mkdir(parents=True)
    for utt in ("19-198-0000", "19-198-0001"):
        tone(chapter / f"{utt}.flac")
    (chapter / "19-198.trans.txt").write_text("19-198-0000 NORTHANGER ABBEY\n19-198-0001 IT'S A BOOK\n")
    (tmp_path / "LibriSpeech" / "README.TXT").write_text("not a transcript\n")
    data = read_manifest(tmp_path)
    assert [(u.transcript, u.speaker) for u in data.utterances] == [("northanger abbey", "19"), ("it's a book", "19")]
    assert data.utterances[1].path.endswith("19-198-0001.flac") and data.utterances[1].line == 2
    assert data.files == [str(chapter / "19-198.trans.txt")]


def test_sidecar_folder_and_orphans(tmp_path):
    for speaker, name, suffix in (("anna", "x", ".wav"), ("ben", "y", ".flac")):
        (tmp_path / speaker).mkdir()
        tone(tmp_path / speaker / f"{name}{suffix}")
    (tmp_path / "anna" / "x.txt").write_text("Good\nmorning\n")
    (tmp_path / "ben" / "y.lab").write_text("good night")
    data = read_manifest(tmp_path)
    assert [(u.transcript, u.speaker) for u in data.utterances] == [("good morning", "anna"), ("good night", "ben")]
    tone(tmp_path / "ben" / "z.wav")
    (tmp_path / "ben" / "w.txt").write_text("no audio")
    data = read_manifest(tmp_path, max_reject_rate=0.6)
    reasons = {r.origin.rsplit("/", 1)[-1]: r.reason for r in data.rejects}
    assert reasons["z.wav"] == "no transcript file z.txt or .lab"
    assert reasons["w.txt"].startswith("missing audio file")
    assert data.read == 4


BAD_CSV = ("path,transcript,speaker\n"
           "audio/a.wav,fine,s\n"
           "audio/missing.wav,no audio,s\n"
           "audio/b.wav,café 3,s\n"
           "audio/c.flac,   ,s\n"
           "audio/a.wav,too,many,fields\n"
           "audio/b.wav,also fine,s\n")


def test_rejects_name_the_reason_and_line(recordings):
    (recordings / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    data = read_manifest(recordings / "bad.csv", max_reject_rate=0.7)
    assert [u.transcript for u in data.utterances] == ["fine", "also fine"]
    assert [(r.line, r.reason) for r in data.rejects] == [
        (3, f"missing audio file {recordings / 'audio' / 'missing.wav'}"),
        (4, "characters outside the alphabet: 'é', '3'"),
        (5, "empty transcript"),
        (6, "4 fields, expected 3"),
    ]
    assert data.read == len(data.utterances) + len(data.rejects) == 6
    assert data.rejects[0].text == "audio/missing.wav,no audio,s"


def test_reject_policy(recordings):
    (recordings / "bad.csv").write_text(BAD_CSV, encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv:3: missing audio file .*\(4 of 6 utterances rejected; set "
                                         r"speech\.max_reject_rate"):
        read_manifest(recordings / "bad.csv")
    with pytest.raises(RejectRateExceeded, match=r"bad\.csv:3: .*; then .*bad\.csv:4: characters outside"):
        read_manifest(recordings / "bad.csv", max_reject_rate=0.5)
    assert read_manifest(recordings / "bad.csv", alphabet=ALPHABET + "é3", max_reject_rate=0.5).read == 6


def test_jsonl_rows_that_do_not_parse_or_lack_fields(recordings):
    lines = ['{"path": "audio/a.wav", "transcript": "ok"}', "{not json", '["a", "b"]',
             '{"path": "audio/a.wav"}', '{"path": "audio/a.wav", "transcript": 5}',
             '{"path": "audio/a.wav", "transcript": "x", "duration": "long"}']
    (recordings / "m.jsonl").write_text("\n".join(lines), encoding="utf-8")
    data = read_manifest(recordings / "m.jsonl", max_reject_rate=0.9)
    reasons = [(r.line, r.reason.split(":")[0]) for r in data.rejects]
    assert reasons == [(2, "row does not parse"), (3, "row does not parse"), (4, "no 'transcript' field"),
                       (5, "'transcript' is int, expected a string"),
                       (6, "duration 'long' is not a number of seconds")]


def test_unusable_inputs_are_errors(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "m.csv").write_text("file,text\n")
    with pytest.raises(InputError, match="no 'path' or 'transcript' column"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text("path,transcript\n")
    with pytest.raises(InputError, match="no utterances found"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(InputError, match="unknown manifest format"):
        read_manifest(tmp_path / "m.txt")
    (tmp_path / "m.txt").unlink()
    (tmp_path / "m.csv").unlink()
    with pytest.raises(InputError, match="no recordings found"):
        read_manifest(tmp_path)


def test_normalise_transcript():
    assert normalise_transcript("  Ｈｅｌｌｏ\tWORLD \n") == "hello world"
    assert normalise_transcript("ﬁne") == "fine"


def test_check_audio_reasons(tmp_path):
    (tmp_path / "garbage.wav").write_bytes(b"RIFF not really a wave file" * 20)
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    tone(tmp_path / "short.wav", seconds=0.05)
    tone(tmp_path / "ok.wav", seconds=1.0, sample_rate=8000, channels=2)

    def reason(name, transcript="hello there"):
        utt = Utterance(str(tmp_path / name), transcript, "", None, "m.csv", 1)
        return check_audio(utt, sample_rate=16000, hop=160, subsampling=4)

    assert reason("garbage.wav").startswith("unreadable audio")
    assert reason("empty.wav") == "empty audio (0 samples)"
    assert reason("silent.wav") == "silent audio (all samples are zero)"
    assert reason("missing.wav") == "missing audio file"
    assert reason("short.wav", "the coffee shop will open soon") == (   # 30 characters, 4 repeated pairs
        "too short for its transcript: 0.05 s gives 1 output frames, CTC needs at least 34 for 30 characters")
    assert reason("ok.wav") is None            # 101 frames // 4 = 25 >= 12
    assert reason("ok.wav", "x" * 25) is not None   # 25 characters + 24 repeats


def test_ctc_min_frames_counts_repeats():
    assert ctc_min_frames("abc") == 3
    assert ctc_min_frames("hello") == 6
    assert ctc_min_frames("aaa") == 5


def test_read_audio_errors(tmp_path):
    (tmp_path / "bad.flac").write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(AudioError, match="bad.flac: unreadable audio"):
        read_audio(tmp_path / "bad.flac", 16000)
    with pytest.raises(AudioError, match="missing audio file"):
        read_audio(tmp_path / "none.wav", 16000)
