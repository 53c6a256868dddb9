"""The speech stage's input hash comes from the audio's content, not its path and size."""
import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from seqpipe.core import artifacts
from seqpipe.core.artifacts import sha256_file, sha256_files
from seqpipe.config import EncoderConfig, RuntimeConfig, SpeechConfig
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.speech import evaluate as report, stage
from seqpipe.tasks.speech.manifest import read_manifest


def tone(path, hz, seconds=0.5, sample_rate=16000):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    sf.write(path, 0.3 * np.sin(2 * np.pi * hz * t), sample_rate, subtype="PCM_16")
    return path


@pytest.fixture
def recordings(tmp_path):
    (tmp_path / "audio").mkdir()
    rows = ["path,transcript"]
    for i, hz in enumerate((220, 330, 440, 550)):
        tone(tmp_path / "audio" / f"u{i}.wav", hz)
        rows.append(f"audio/u{i}.wav,hi")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def rewrite_same_size(path):
    """New sample values, same length and format: the file keeps its size (and, here, its mtime)."""
    before = os.stat(path)
    tone(path, 1234)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert after.st_size == before.st_size and after.st_mtime_ns == before.st_mtime_ns


def input_hash(cfg, state):
    data = {"train": read_manifest(cfg.train_manifest)}
    return stage.speech_input_hash(cfg, data, None, str(state))


def test_input_hash_follows_the_audio_content(recordings, tmp_path):
    cfg = SpeechConfig(train_manifest=str(recordings / "train.csv"))
    first = input_hash(cfg, tmp_path / "state")
    assert input_hash(cfg, tmp_path / "state") == first, "unchanged audio, same hash"
    rewrite_same_size(recordings / "audio" / "u2.wav")
    assert input_hash(cfg, tmp_path / "state") != first, "an edited recording of the same size is new input"


def test_digest_cache_skips_unchanged_files_and_never_serves_a_stale_digest(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "RACY_NS", 0)  # cache files written just now (see the next test)
    files = [tone(tmp_path / f"{i}.wav", 200 + 100 * i) for i in range(3)]
    cache = tmp_path / "cache" / "sha256.json"
    expected = [sha256_file(f) for f in files]
    assert sha256_files(files, cache) == expected and cache.is_file()
    read = []
    monkeypatch.setattr(artifacts, "sha256_file", lambda p: read.append(p) or sha256_file(p))
    assert sha256_files(files, cache) == expected and read == [], "cached digests are not recomputed"
    time.sleep(0.05)  # past the file system's timestamp tick
    rewrite_same_size(files[1])  # same size and mtime: the change time still tells
    assert sha256_files(files, cache)[1] == sha256_file(files[1]) != expected[1]
    assert read == [os.path.abspath(files[1])]


def test_recently_changed_files_are_hashed_but_not_cached(tmp_path):
    fresh = tone(tmp_path / "new.wav", 300)
    cache = tmp_path / "sha256.json"
    assert sha256_files([fresh], cache) == [sha256_file(fresh)]
    assert not cache.exists(), "a rewrite within the same timestamp tick would look unchanged"
    cache.write_text("{not json")
    assert sha256_files([fresh], cache) == [sha256_file(fresh)], "a corrupt cache only costs the hashing"


def test_the_stage_retrains_after_a_same_size_edit(recordings, tmp_path, monkeypatch):
    """The speech stage end to end with training and evaluation stubbed (no Ray): reused when
    nothing changed, a new folder when one recording's samples changed."""
    trained = []

    def fake_train(folder, cfg, runtime, input_hash, run_id):
        trained.append(input_hash)
        torch.save({}, folder / "model.pt")
        return {"best_epoch": 1}

    monkeypatch.setattr(stage, "_train", fake_train)
    monkeypatch.setattr(report, "evaluate_model", lambda folder, cfg, lm: {"cer_greedy": 0.5})
    cfg = SpeechConfig(train_manifest=str(recordings / "train.csv"), dev_manifest=str(recordings / "train.csv"),
                       out=str(tmp_path / "asr"), n_mels=8, conv_layers=1, encoder=EncoderConfig(hidden=4))
    runtime = RuntimeConfig(executor="local", state_dir=str(tmp_path / "state"))
    first = stage.run(cfg, StageInputs(), runtime)
    again = stage.run(cfg, StageInputs(), runtime)
    assert not first.reused and again.reused and again.uri == first.uri and len(trained) == 1
    rewrite_same_size(recordings / "audio" / "u0.wav")
    edited = stage.run(cfg, StageInputs(), runtime)
    assert not edited.reused and edited.uri != first.uri and len(trained) == 2
