"""Sentiment stage: labelled texts (+ pretrained embeddings) -> a trained classifier in sentiment-<hash>/.

The folder holds words.txt, labels.txt, model.json, the best epoch's weights (model.pt, a
state dict), metrics.json (dev and test accuracy and macro-F1, the bag-of-words baseline,
the training history), confusion_matrix.png, rejects.jsonl and manifest.json. It is named
by the hash of the data files, the embeddings and the config, so an unchanged rerun is a no-op.
"""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import RuntimeConfig, SentimentConfig
from seqpipe.core.artifacts import sha256_file, write_json
from seqpipe.core.errors import InputError
from seqpipe.core.paths import check_paths
from seqpipe.core.stage import (Gate, StageInputs, StageResult, numeric, output_folder, run_stage, stage_input_hash,
                                write_rejects)
from seqpipe.data.vectors import embeddings_digest
from seqpipe.tasks.sentiment import data
from seqpipe.training.model_folder import mean_over_epochs, train_model
from seqpipe.tasks.sentiment.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.sentiment.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.sentiment.predictor:Classifier"
REGISTER_AS = "seqpipe-sentiment"
GATE = Gate(("test_accuracy", "dev_accuracy"), "max", baseline="bow_test_accuracy")
EXAMPLES = ["There's nothing to like in this movie", "The plot was not bad at all."]


def run(cfg: SentimentConfig, inputs: StageInputs, runtime: RuntimeConfig,
        mlflow_run_id: str | None = None) -> StageResult:
    """Train a classifier into <out>/sentiment-<hash>/ (inputs: the embeddings); a no-op when that folder exists."""
    if not cfg.train_path:
        raise InputError("sentiment.train_path is not set: name a labelled file (or run the pipeline for the demo data)")
    files = data.split_files(cfg)
    check_paths([f for split in files.values() for f in split], runtime, "sentiment data file")
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "sentiment.embeddings.path")
    pretrained = (cfg.embeddings.path or inputs.embeddings) if cfg.embeddings.pretrained else None
    input_hash = stage_input_hash(config=cfg.model_dump(exclude={"out"}),
                                  files={k: [sha256_file(f) for f in v] for k, v in files.items()},
                                  embeddings=pretrained and embeddings_digest(pretrained))

    def build(tmp: Path) -> dict:
        splits = data.read_splits(cfg, files)
        coverage = data.prepare(tmp, cfg, splits, pretrained)
        metrics = _train_and_evaluate(tmp, cfg, runtime, splits, input_hash, mlflow_run_id)
        metrics["embedding_coverage"] = coverage.get("coverage", 0.0)
        write_rejects(tmp, [r for d in splits.values() for r in d.rejects])
        write_json(tmp / "metrics.json", metrics)
        return {"content_hash": sha256_file(tmp / "model.pt"), "files": files, "embeddings": inputs.embeddings,
                "coverage": coverage, "labels": (tmp / "labels.txt").read_text(encoding="utf-8").splitlines(),
                "counts": {k: {"read": d.read, "texts": len(d.texts), "rejected": len(d.rejects)}
                           for k, d in splits.items()},
                "config": cfg.model_dump(mode="json"), "metrics": numeric(metrics),
                "artifacts": ["metrics.json", "model.json", "labels.txt", "confusion_matrix.png"],
                "predictor": PREDICTOR, "examples": EXAMPLES}

    return run_stage(output_folder(cfg.out, runtime, "sentiment", "sentiment", input_hash), "sentiment", input_hash,
                     build)


def _train_and_evaluate(folder: Path, cfg: SentimentConfig, runtime, splits, input_hash: str, run_id) -> dict:
    from seqpipe.tasks.sentiment.evaluate import evaluate_model

    task_config = {"folder": str(folder), "word_dropout": cfg.word_dropout, "seed": cfg.train.seed}
    metrics, result = train_model(folder, "seqpipe.tasks.sentiment.task:build_task", task_config, cfg.train, runtime,
                                  f"sentiment-{input_hash[:16]}", "max", run_id)
    metrics.update(evaluate_model(folder, result.best_state, splits))
    metrics["texts_per_s"] = mean_over_epochs(metrics["history"], "tokens_per_s")  # the loop counts texts
    return metrics
