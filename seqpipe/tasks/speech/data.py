"""Speech data: manifests of recordings and transcripts (or the synthesised demo voices),
read with the one reject policy, and the log-mel feature shards the workers read.

Without a dev manifest, whole speakers of the training manifest are held out for dev when it
names them. Audio is decoded, resampled and turned into normalised log-mel frames once, as Ray
tasks over chunks of utterances (features/<split>-NNNNN.npz), so epochs never touch the
audio again. Audio that cannot train CTC (unreadable, empty, silent, too short for its
transcript) is rejected with its reason beside the manifest's own rejects.
"""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np

from seqpipe.config import SpeechConfig
from seqpipe.core.artifacts import write_json
from seqpipe.core.dataset import Reject, enforce_reject_policy, hold_out
from seqpipe.core.fanout import run_tasks
from seqpipe.core.paths import allowed_roots, check_paths
from seqpipe.tasks.speech.manifest import SpeechData, read_manifest

CHUNK = 64  # utterances per feature task


def with_demo_data(cfg: SpeechConfig, state_dir: str, demo) -> SpeechConfig:
    """cfg itself when it names training data, else the synthesised demo voices."""
    if cfg.train_manifest:
        return cfg
    from seqpipe.tasks.speech.demo import build_speech_demo

    folder = build_speech_demo(Path(state_dir) / "demo", demo.speech_utterances, sample_rate=cfg.sample_rate)
    return cfg.model_copy(update={"train_manifest": str(folder / "train.csv"), "dev_manifest": str(folder / "dev.csv"),
                                  "test_manifest": str(folder / "test.csv")})


def read_splits(cfg: SpeechConfig, runtime) -> dict[str, SpeechData]:
    """Every configured manifest; without a dev manifest, a seeded part of train is held out."""
    manifests = [("train", cfg.train_manifest), ("dev", cfg.dev_manifest), ("test", cfg.test_manifest)]
    check_paths([path for _, path in manifests if path], runtime, "speech manifest")
    data = {split: read_split(cfg, path, allowed_roots(runtime)) for split, path in manifests if path}
    if "dev" not in data:
        train = data["train"]
        rest, dev = hold_out_speakers(train.utterances, cfg.dev_fraction, cfg.train.seed)
        data["train"] = SpeechData(rest, train.rejects, train.read - len(dev), train.files)
        data["dev"] = SpeechData(dev, [], len(dev), train.files)
    return data


def read_split(cfg: SpeechConfig, path: str, roots: list[str] | None = None) -> SpeechData:
    return read_manifest(path, cfg.max_reject_rate, cfg.path_field, cfg.transcript_field, cfg.speaker_field,
                         cfg.alphabet, allowed_roots=roots)


def hold_out_speakers(utterances: list, fraction: float, seed: int) -> tuple[list, list]:
    """(rest, held out), both in manifest order. When every utterance names its speaker and there
    are two or more, whole speakers are held out (a seeded shuffle, taken until they hold
    `fraction` of the utterances), so the held-out voices are never heard in training;
    otherwise a seeded `fraction` of the utterances."""
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < 2 or "" in speakers:
        return hold_out(utterances, fraction, seed)
    random.Random(seed).shuffle(speakers)
    per_speaker = Counter(u.speaker for u in utterances)
    held, count = set(), 0
    for speaker in speakers[:-1]:  # at least one speaker stays in training
        if count >= fraction * len(utterances):
            break
        held.add(speaker)
        count += per_speaker[speaker]
    return [u for u in utterances if u.speaker not in held], [u for u in utterances if u.speaker in held]


def prepare(folder: Path, cfg: SpeechConfig, data: dict[str, SpeechData], runtime) -> list[Reject]:
    """Feature shards of every split (as Ray tasks) and model.json; returns every reject."""
    (folder / "features").mkdir()
    features = model_spec(cfg)["features"]
    jobs = [(str(folder), split, i // CHUNK, [(u.path, u.transcript, u.origin, u.line) for u in d.utterances[i:i + CHUNK]],
             features, cfg.alphabet, 2 ** cfg.conv_layers)
            for split, d in data.items() for i in range(0, len(d.utterances), CHUNK)]
    # the audio files are this machine's, and so is the folder the features go to
    audio_rejects = [Reject(*r) for found in run_tasks(extract_features, jobs, runtime, on_driver=True) for r in found]
    rejects = [r for d in data.values() for r in d.rejects] + audio_rejects
    enforce_reject_policy([(f"{r.origin}:{r.line}", r.reason) for r in rejects], sum(d.read for d in data.values()),
                          cfg.max_reject_rate, "utterances", "speech.max_reject_rate",
                          [f for d in data.values() for f in d.files])
    write_json(folder / "model.json", model_spec(cfg))
    return rejects


def model_spec(cfg: SpeechConfig) -> dict:
    """model.json: the alphabet, the feature settings and the acoustic model's shape."""
    return {"alphabet": cfg.alphabet,
            "features": {"sample_rate": cfg.sample_rate, "n_fft": cfg.n_fft, "hop": cfg.hop, "n_mels": cfg.n_mels},
            "model": {"conv_layers": cfg.conv_layers, "conv_channels": cfg.conv_channels, "cell": cfg.encoder.cell,
                      "hidden": cfg.encoder.hidden, "layers": cfg.encoder.layers, "dropout": cfg.encoder.dropout,
                      "freq_masks": cfg.freq_masks, "freq_width": cfg.freq_width, "time_masks": cfg.time_masks,
                      "time_width": cfg.time_width, "speed_perturb": cfg.speed_perturb, "freq_warp": cfg.freq_warp}}


def extract_features(folder: str, split: str, index: int, items: list, features: dict, alphabet: str,
                     subsampling: int) -> list[tuple]:
    """One shard: read, resample, log-mel, normalise; returns (origin, line, reason, path) rejects."""
    from types import SimpleNamespace

    from seqpipe.tasks.speech.audio import AudioError, check_audio, read_audio
    from seqpipe.tasks.speech.features import LogMel

    logmel = LogMel(features["sample_rate"], features["n_fft"], features["hop"], features["n_mels"])
    frames, labels, seconds, ids, rejects = [], [], [], [], []
    for path, transcript, origin, line in items:
        try:
            wave = read_audio(path, features["sample_rate"])
        except AudioError as err:
            rejects.append((origin, line, err.reason, path))
            continue
        reason = check_audio(SimpleNamespace(path=path, transcript=transcript), features["sample_rate"],
                             features["hop"], subsampling, wave)
        if reason:
            rejects.append((origin, line, reason, path))
            continue
        frames.append(logmel.normalise(logmel(wave)).numpy().astype(np.float16))
        labels.append(np.array([alphabet.index(c) + 1 for c in transcript], np.int16))
        seconds.append(len(wave) / features["sample_rate"])
        ids.append(f"{Path(path).stem}")
    offsets = np.cumsum([0] + [len(f) for f in frames])
    label_offsets = np.cumsum([0] + [len(lab) for lab in labels])
    np.savez(Path(folder) / "features" / f"{split}-{index:05d}.npz",
             frames=np.concatenate(frames) if frames else np.zeros((0, features["n_mels"]), np.float16),
             frame_offsets=offsets, labels=np.concatenate(labels) if labels else np.zeros(0, np.int16),
             label_offsets=label_offsets, seconds=np.array(seconds), ids=np.array(ids))
    return rejects
