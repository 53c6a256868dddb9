"""Speech stage: recordings + transcripts -> a CTC acoustic model in speech-<hash>/.

Audio is decoded, resampled and turned into normalised log-mel frames once, as Ray
tasks over chunks of utterances (features/<split>-NNNNN.npz), so epochs never touch the
audio again. Audio that cannot train CTC (unreadable, empty, silent, too short for its
transcript) is rejected with its reason beside the manifest's own rejects
(rejects.jsonl). The folder also holds model.json, model.pt (the best epoch's weights),
metrics.json (CER/WER greedy, beam, beam + LM; real-time factors) and manifest.json.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel

from seqpipe.core.artifacts import (SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_file, sha256_files,
                               sha256_json, write_json)
from seqpipe.config import RuntimeConfig, SpeechConfig
from seqpipe.core.errors import InputError
from seqpipe.core.paths import allowed_roots, check_paths
from seqpipe.core.dataset import enforce_reject_policy
from seqpipe.tasks.speech.manifest import Reject, SpeechData, read_manifest

CHUNK = 64  # utterances per feature task
DIGEST_CACHE = "cache/sha256.json"  # under the state folder: audio digests by (path, size, timestamps)


class SpeechResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    metrics: dict


def with_demo_data(cfg: SpeechConfig, state_dir: str, utterances: int) -> SpeechConfig:
    """cfg itself when it names training data, else the synthesised demo voices."""
    if cfg.train_manifest:
        return cfg
    from seqpipe.tasks.speech.demo import build_speech_demo

    folder = build_speech_demo(Path(state_dir) / "demo", utterances, sample_rate=cfg.sample_rate)
    return cfg.model_copy(update={"train_manifest": str(folder / "train.csv"), "dev_manifest": str(folder / "dev.csv"),
                                  "test_manifest": str(folder / "test.csv")})


def run_speech(cfg: SpeechConfig, runtime: RuntimeConfig, fusion_lm: str | None = None,
               mlflow_run_id: str | None = None) -> SpeechResult:
    """Train an acoustic model into <out>/speech-<hash>/; a no-op when that folder exists."""
    if not cfg.train_manifest:
        raise InputError("speech.train_manifest is not set: name a manifest or a folder of recordings")
    manifests = [("train", cfg.train_manifest), ("dev", cfg.dev_manifest), ("test", cfg.test_manifest)]
    check_paths([path for _, path in manifests if path], runtime, "speech manifest")
    data = {split: _read(cfg, path, allowed_roots(runtime)) for split, path in manifests if path}
    if "dev" not in data:
        data["train"], data["dev"] = _split_dev(data["train"], cfg.dev_fraction, cfg.train.seed)
    input_hash = speech_input_hash(cfg, data, fusion_lm, runtime.state_dir)
    final = Path(cfg.out or Path(runtime.state_dir) / "speech").resolve() / f"speech-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    with atomic_folder(final) as tmp:
        rejects = prepare(tmp, cfg, data, runtime)
        metrics = _train(tmp, cfg, runtime, input_hash, mlflow_run_id)
        from seqpipe.tasks.speech.evaluate import evaluate_model

        metrics.update(evaluate_model(tmp, cfg, fusion_lm))
        (tmp / "rejects.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in rejects), encoding="utf-8")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "manifest.json", {
            "kind": "speech", "schema_version": SCHEMA_VERSION, "input_hash": input_hash,
            "content_hash": sha256_file(tmp / "model.pt"), "manifests": {k: d.files for k, d in data.items()},
            "fusion_lm": fusion_lm, "config": cfg.model_dump(mode="json"),
            "counts": {k: {"read": d.read, "rejected": len(d.rejects)} for k, d in data.items()},
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}})
    return _result(final, reused=False)


def speech_input_hash(cfg: SpeechConfig, data: dict[str, SpeechData], fusion_lm: str | None, state_dir: str) -> str:
    """The hash naming speech-<hash>/: the config and the content (sha256) of the manifests,
    of every utterance's audio and of the fusion LM's weights."""
    cache = Path(state_dir) / DIGEST_CACHE
    manifests = [f for d in data.values() for f in d.files if Path(f).is_file()]
    audio = sorted({u.path for d in data.values() for u in d.utterances})
    return sha256_json({"schema_version": SCHEMA_VERSION, "config": cfg.model_dump(exclude={"out"}),
                        "manifests": sha256_files(manifests, cache),
                        "audio": list(zip(audio, sha256_files(audio, cache))),
                        "lm": fusion_lm and sha256_file(Path(fusion_lm) / "model.pt")})


def prepare(folder: Path, cfg: SpeechConfig, data: dict[str, SpeechData], runtime) -> list[Reject]:
    """Feature shards of every split (as Ray tasks) and model.json; returns every reject."""
    from seqpipe.core.fanout import run_tasks

    (folder / "features").mkdir()
    features = model_spec(cfg)["features"]
    jobs = [(str(folder), split, i // CHUNK, [(u.path, u.transcript, u.origin, u.line) for u in d.utterances[i:i + CHUNK]],
             features, cfg.alphabet, 2 ** cfg.conv_layers)
            for split, d in data.items() for i in range(0, len(d.utterances), CHUNK)]
    audio_rejects = [Reject(*r) for found in run_tasks(extract_features, jobs, runtime) for r in found]
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
                      "time_width": cfg.time_width}}


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


def _train(folder: Path, cfg: SpeechConfig, runtime, input_hash: str, run_id) -> dict:
    from seqpipe.training.loop import fit

    runtime = runtime.model_copy(update={"state_dir": str(Path(runtime.state_dir).resolve())})
    result = fit("seqpipe.tasks.speech.task:build_task", {"folder": str(folder)}, cfg.train, runtime,
                 f"speech-{input_hash[:16]}", mode="min", mlflow_run_id=run_id)
    torch.save(result.best_state, folder / "model.pt")
    history = result.progress["history"]
    return {"best_epoch": result.progress["best_epoch"], "epochs": result.progress["epoch"],
            "stopped": result.progress["stopped"] or "epochs done", "history": history,
            "train_frames_per_s": float(np.mean([h["tokens_per_s"] for h in history]))}


def _read(cfg: SpeechConfig, path: str, roots: list[str] | None = None) -> SpeechData:
    return read_manifest(path, cfg.max_reject_rate, cfg.path_field, cfg.transcript_field, cfg.speaker_field,
                         cfg.alphabet, allowed_roots=roots)


def _split_dev(train: SpeechData, fraction: float, seed: int) -> tuple[SpeechData, SpeechData]:
    order = list(range(len(train.utterances)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(order) * fraction))
    pick = [train.utterances[i] for i in sorted(order[cut:])]
    dev = [train.utterances[i] for i in sorted(order[:cut])]
    return (SpeechData(pick, train.rejects, train.read - cut, train.files), SpeechData(dev, [], cut, train.files))


def _result(folder: Path, reused: bool) -> SpeechResult:
    manifest = read_json(folder / "manifest.json")
    return SpeechResult(uri=str(folder), content_hash=manifest["content_hash"], reused=reused,
                        metrics=manifest["metrics"])
