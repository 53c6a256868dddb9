"""NER stage: CoNLL files (+ pretrained embeddings) -> a trained tagger in ner-<hash>/.

The folder holds the vocabularies (words.txt, chars.txt, tags.txt), model.json, the
best epoch's weights (model.pt, a state dict), metrics.json (dev and test entity
scores, the training history), rejects.jsonl and manifest.json. It is named by the hash
of the data files, the embeddings and the config, so an unchanged rerun is a no-op.
"""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import NerConfig, RuntimeConfig
from seqpipe.core.artifacts import sha256_file, write_json
from seqpipe.core.errors import InputError
from seqpipe.core.paths import check_paths
from seqpipe.core.stage import (Gate, StageInputs, StageResult, numeric, output_folder, run_stage, stage_input_hash,
                                write_rejects)
from seqpipe.data.vectors import embeddings_digest
from seqpipe.tasks.ner import data
from seqpipe.training.model_folder import mean_over_epochs, train_model
from seqpipe.tasks.ner.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.ner.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.ner.predictor:NerTagger"
REGISTER_AS = "seqpipe-ner"
GATE = Gate(("test_f1", "dev_f1"), "max")
EXAMPLES = ["Yesterday, Harry Potter met Hermione Granger in London."]


def run(cfg: NerConfig, inputs: StageInputs, runtime: RuntimeConfig, mlflow_run_id: str | None = None) -> StageResult:
    """Train a tagger into <out>/ner-<hash>/ (inputs: the embeddings); a no-op when that folder exists."""
    if not cfg.train_path:
        raise InputError("ner.train_path is not set: name a CoNLL file (or run the pipeline for the demo data)")
    files = data.split_files(cfg)
    check_paths([f for split in files.values() for f in split], runtime, "NER data file")
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "ner.embeddings.path")
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
                "schemes": {k: d.scheme for k, d in splits.items()}, "coverage": coverage,
                "counts": {k: {"read": d.read, "sentences": len(d.sentences), "rejected": len(d.rejects)}
                           for k, d in splits.items()},
                "config": cfg.model_dump(mode="json"), "metrics": numeric(metrics),
                "artifacts": ["metrics.json", "model.json", "tags.txt"], "predictor": PREDICTOR, "examples": EXAMPLES}

    return run_stage(output_folder(cfg.out, runtime, "ner", "ner", input_hash), "ner", input_hash, build)


def _train_and_evaluate(folder: Path, cfg: NerConfig, runtime, splits, input_hash: str, run_id) -> dict:
    from seqpipe.tasks.ner.evaluate import evaluate_model

    task_config = {"folder": str(folder), "word_dropout": cfg.word_dropout, "seed": cfg.train.seed}
    metrics, result = train_model(folder, "seqpipe.tasks.ner.task:build_task", task_config, cfg.train, runtime,
                                  f"ner-{input_hash[:16]}", "max", run_id)
    metrics.update(evaluate_model(folder, result.best_state, splits))
    metrics["tokens_per_s"] = mean_over_epochs(metrics["history"], "tokens_per_s")
    return metrics
