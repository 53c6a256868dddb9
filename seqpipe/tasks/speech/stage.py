"""Speech stage: recordings + transcripts -> a CTC acoustic model in speech-<hash>/.

The folder holds features/ (log-mel shards, seqpipe.tasks.speech.data), model.json,
model.pt (the best epoch's weights), fusion_lm.json (the character n-gram LM fitted to
the training transcripts or a text file, seqpipe.tasks.speech.fusion), decoding.json (the
fusion weights, tuned on dev), metrics.json (CER/WER greedy, beam, beam + LM; real-time
factors), rejects.jsonl (the manifest's rejects and the audio that cannot
train CTC) and manifest.json. It is named by the content of the manifests, of every
recording and of the fusion LM's weights, and by the config.
"""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import RuntimeConfig, SpeechConfig
from seqpipe.core.artifacts import sha256_file, sha256_files, write_json
from seqpipe.core.errors import InputError
from seqpipe.core.stage import (Gate, StageInputs, StageResult, numeric, output_folder, run_stage, stage_input_hash,
                                write_rejects)
from seqpipe.tasks.speech import data, fusion
from seqpipe.tasks.speech.manifest import SpeechData
from seqpipe.training.model_folder import mean_over_epochs, train_model
from seqpipe.tasks.speech.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.speech.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.speech.predictor:Transcriber"
REGISTER_AS = "seqpipe-asr"
GATE = Gate(("cer",), "min", baseline="cer_greedy")
DIGEST_CACHE = "cache/sha256.json"  # under the state folder: audio digests by (path, size, timestamps)


def run(cfg: SpeechConfig, inputs: StageInputs, runtime: RuntimeConfig, mlflow_run_id: str | None = None) -> StageResult:
    """Train an acoustic model into <out>/speech-<hash>/ (inputs.lm: a character LM folder to fuse
    with, else speech.fusion_lm); a no-op when that folder exists."""
    if not cfg.train_manifest:
        raise InputError("speech.train_manifest is not set: name a manifest or a folder of recordings")
    splits = data.read_splits(cfg, runtime)
    source = fusion.fusion_source(cfg, inputs.lm)
    input_hash = speech_input_hash(cfg, splits, source, runtime.local_dir)

    def build(tmp: Path) -> dict:
        from seqpipe.tasks.speech import evaluate

        rejects = data.prepare(tmp, cfg, splits, runtime)
        fusion.fit_ngram(tmp, cfg, source, [u.transcript for u in splits["train"].utterances])
        metrics = _train(tmp, cfg, runtime, input_hash, mlflow_run_id)
        metrics.update(evaluate.evaluate_model(tmp, cfg, source))
        write_rejects(tmp, rejects)
        write_json(tmp / "metrics.json", metrics)
        example = str(next(Path(cfg.train_manifest).parent.rglob("*.wav"), cfg.train_manifest))
        return {"content_hash": sha256_file(tmp / "model.pt"), "manifests": {k: d.files for k, d in splits.items()},
                "fusion_lm": source if source and Path(source).is_dir() else None,
                "fusion_text": source if source and not Path(source).is_dir() else None, "config": cfg.model_dump(mode="json"),
                "counts": {k: {"read": d.read, "rejected": len(d.rejects)} for k, d in splits.items()},
                "metrics": numeric(metrics), "artifacts": ["metrics.json", "model.json", evaluate.DECODING_FILE], "predictor": PREDICTOR,
                "examples": [example]}

    return run_stage(output_folder(cfg.out, runtime, "speech", "speech", input_hash), "speech", input_hash,
                     build)


def speech_input_hash(cfg: SpeechConfig, splits: dict[str, SpeechData], fusion_source: str | None,
                      state_dir: str) -> str:
    """The hash naming speech-<hash>/: the config and the content (sha256) of the manifests,
    of every utterance's audio and of the fusion LM's weights or text."""
    cache = Path(state_dir) / DIGEST_CACHE
    manifests = [f for d in splits.values() for f in d.files if Path(f).is_file()]
    audio = sorted({u.path for d in splits.values() for u in d.utterances})
    return stage_input_hash(config=cfg.model_dump(exclude={"out"}), manifests=sha256_files(manifests, cache),
                            audio=list(zip(audio, sha256_files(audio, cache))),
                            lm=_fusion_digest(fusion_source))


def _fusion_digest(source: str | None) -> str | None:
    if source is None or source == fusion.TRANSCRIPTS:  # the transcripts: hashed with the manifests
        return source
    return sha256_file(Path(source) / "model.pt" if Path(source).is_dir() else Path(source))


def _train(folder: Path, cfg: SpeechConfig, runtime, input_hash: str, run_id) -> dict:
    metrics, _ = train_model(folder, "seqpipe.tasks.speech.task:build_task", {"folder": str(folder)}, cfg.train,
                             runtime, f"speech-{input_hash[:16]}", "min", run_id)
    metrics["train_frames_per_s"] = mean_over_epochs(metrics["history"], "tokens_per_s")
    return metrics
