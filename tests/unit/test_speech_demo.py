"""eSpeak NG synthesis through ctypes and the generated speech demo set."""
import csv
import random

import numpy as np
import pytest
import soundfile as sf

from seqpipe.tasks.speech.demo import (SPLITS, VARIANTS, build_speech_demo, make_sentence, plan_demo, split_speakers,
                                 vocabulary)
from seqpipe.tasks.speech.manifest import outside_alphabet, read_manifest
from seqpipe.tasks.speech.synth import SynthesisError, Synthesizer


@pytest.fixture(scope="module")
def synth():
    return Synthesizer()


def test_hello_world_is_speech_of_plausible_length(synth):
    wave, rate = synth.synthesize("hello world", "en-us", "f3", rate_wpm=170, pitch=50)
    assert rate == synth.sample_rate == 22050
    assert wave.dtype == np.float32 and 0.3 <= wave.size / rate <= 3.0
    assert 0.05 < np.abs(wave).max() <= 1.0
    frames = wave[: wave.size // 220 * 220].reshape(-1, 220)       # 10 ms frames
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 0.01
    assert loud.mean() > 0.4


def test_voices_variants_and_rate_change_the_audio(synth):
    assert {"en", "en-us", "en-gb-x-rp", "en-gb-scotland"} <= set(synth.voices())
    assert "en-shaw" not in synth.voices()
    assert set(VARIANTS) <= set(synth.variants())
    us, _ = synth.synthesize("good morning everyone", "en-us", "m1")
    scottish, _ = synth.synthesize("good morning everyone", "en-gb-scotland", "f2")
    fast, _ = synth.synthesize("good morning everyone", "en-us", "m1", rate_wpm=300)
    assert us.size != scottish.size or not np.array_equal(us, scottish)
    assert fast.size < 0.8 * us.size


def test_synthesis_is_repeatable_whatever_came_before(synth):
    if not synth.deterministic:
        pytest.skip("this eSpeak NG build has no symbol table")
    first, _ = synth.synthesize("the quick brown fox", "en-gb-x-rp", "m4", 150, 40)
    synth.synthesize("something else entirely, said by someone else", "en-us-nyc", "f5", 190, 70)
    again, _ = synth.synthesize("the quick brown fox", "en-gb-x-rp", "m4", 150, 40)
    assert np.array_equal(first, again)


def test_bad_requests_are_errors(synth):
    with pytest.raises(SynthesisError, match="no voice 'en-xx'"):
        synth.synthesize("hello", "en-xx")
    with pytest.raises(SynthesisError, match="unknown eSpeak NG variant 'zz'"):
        synth.synthesize("hello", "en-us", "zz")
    with pytest.raises(ValueError):
        synth.synthesize("   ")
    with pytest.raises(ValueError):
        synth.synthesize("hello", rate_wpm=20)


def test_sentences_stay_inside_the_alphabet():
    rng = random.Random(1)
    sentences = [make_sentence(rng) for _ in range(2000)]
    assert not [s for s in sentences if outside_alphabet(s)]
    assert all(3 <= len(s.split()) <= 10 for s in sentences)
    assert len(vocabulary()) >= 500
    assert len({w for s in sentences for w in s.split()}) >= 400


def test_test_and_dev_speakers_are_held_out():
    accents = ["en", "en-029", "en-gb-scotland", "en-gb-x-rp", "en-us", "en-us-nyc"]
    groups = split_speakers(accents, random.Random(3))
    names = {split: {s.name for s in groups[split]} for split in SPLITS}
    assert not names["train"] & names["test"] and not names["train"] & names["dev"]
    assert not names["dev"] & names["test"]
    assert {s.accent for s in groups["train"]} == set(accents)
    assert {s.variant for s in groups["train"]} == set(VARIANTS)
    assert all(130 <= s.rate_wpm <= 200 and 30 <= s.pitch <= 70 for g in groups.values() for s in g)
    plan = plan_demo(100, 3, accents)
    assert [sum(p.split == split for p in plan) for split in SPLITS] == [80, 10, 10]
    assert len({p.text for p in plan}) == 100


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_speech_demo(tmp_path_factory.mktemp("speech"), utterances=20, seed=2)


def test_demo_files_and_manifests(demo):
    assert demo.name == "speech-demo-v1-20-2"
    speakers = {}
    for split, size in zip(SPLITS, (16, 2, 2)):
        data = read_manifest(demo / f"{split}.csv")
        assert len(data.utterances) == size and not data.rejects
        speakers[split] = {u.speaker for u in data.utterances}
        for utt in data.utterances:
            info = sf.info(utt.path)
            assert (info.samplerate, info.subtype, info.channels) == (16000, "PCM_16", 1)
            assert abs(info.frames / 16000 - utt.duration) < 1e-3
            assert 0.15 < utt.duration / len(utt.transcript.split()) < 0.8     # seconds per word
    assert not speakers["train"] & speakers["test"]
    assert len(list((demo / "audio").glob("*.wav"))) == 20
    assert build_speech_demo(demo.parent, utterances=20, seed=2) == demo      # reused


def test_demo_is_deterministic(demo, tmp_path):
    again = build_speech_demo(tmp_path, utterances=20, seed=2)
    repeatable = Synthesizer().deterministic
    for split in SPLITS:
        first, second = (list(csv.reader(open(folder / f"{split}.csv"))) for folder in (demo, again))
        if not repeatable:      # the audio (and so the durations) may differ by a few milliseconds
            first, second = ([row[:3] for row in rows] for rows in (first, second))
        assert first == second
    other = build_speech_demo(tmp_path, utterances=20, seed=3)
    assert (other / "train.csv").read_text() != (demo / "train.csv").read_text()
