"""Translation stage: parallel text -> an attention encoder-decoder in translation-<hash>/.

The folder holds the vocabularies, model.json, data.json, the best epoch's weights
(model.pt), metrics.json (BLEU, chrF and exact match for greedy and beam search,
decoding speed, the beam/alpha sweep, the error-analysis fractions, the training
history), beam_errors.tsv (the error-analysis table), plots/attention-*.png,
rejects.jsonl and manifest.json.
"""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import RuntimeConfig, TranslationConfig
from seqpipe.core.artifacts import sha256_file, write_json
from seqpipe.core.errors import InputError
from seqpipe.core.paths import check_paths
from seqpipe.core.stage import (Gate, StageInputs, StageResult, numeric, output_folder, run_stage, stage_input_hash,
                                write_rejects)
from seqpipe.data.vectors import embeddings_digest
from seqpipe.tasks.translation import data
from seqpipe.training.model_folder import mean_over_epochs, train_model
from seqpipe.tasks.translation.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.translation.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.translation.predictor:Translator"
REGISTER_AS = "seqpipe-translator"
GATE = Gate(("bleu_beam",), "max", baseline="bleu_greedy")
EXAMPLES = ["mardi 25 septembre 1984", "le 3 mars 2021"]


def run(cfg: TranslationConfig, inputs: StageInputs, runtime: RuntimeConfig,
        mlflow_run_id: str | None = None) -> StageResult:
    """Train a translator into <out>/translation-<hash>/ (inputs: the embeddings, word level);
    a no-op when that folder exists."""
    splits = data.configured_splits(cfg)
    if "train" not in splits:
        raise InputError("translation.train_data is not set: name aligned files or a table of pairs")
    check_paths([p for files in splits.values() for p in data.data_paths(files)], runtime, "translation data file")
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "translation.embeddings.path")
    embeddings = (cfg.embeddings.path or inputs.embeddings) if cfg.level == "word" and cfg.embeddings.pretrained else None
    input_hash = stage_input_hash(config=cfg.model_dump(exclude={"out"}),
                                  files={k: [sha256_file(p) for p in data.data_paths(f)] for k, f in splits.items()},
                                  embeddings=embeddings and embeddings_digest(embeddings))

    def build(tmp: Path) -> dict:
        from seqpipe.tasks.translation.evaluate import evaluate_model

        read = data.read_splits(cfg)
        tokens, rejects = data.prepare(tmp, cfg, read, embeddings)
        task_config = {"folder": str(tmp), "max_decode_len": cfg.max_tokens * 2, "eval_sentences": cfg.eval_sentences}
        metrics, _ = train_model(tmp, "seqpipe.tasks.translation.task:build_task", task_config, cfg.train, runtime,
                                 f"translation-{input_hash[:16]}", "max", mlflow_run_id)
        metrics["train_tokens_per_s"] = mean_over_epochs(metrics["history"], "tokens_per_s")
        metrics.update(evaluate_model(tmp, cfg, tokens))
        write_rejects(tmp, rejects)
        write_json(tmp / "metrics.json", metrics)
        return {"content_hash": sha256_file(tmp / "model.pt"), "files": {k: data.data_paths(f) for k, f in splits.items()},
                "embeddings": embeddings, "config": cfg.model_dump(mode="json"),
                "counts": {k: {"read": d.read, "pairs": len(tokens.get(k, [])), "rejected": d.read - len(tokens.get(k, []))}
                           for k, d in read.items()},
                "metrics": numeric(metrics), "artifacts": ["metrics.json", "model.json", "beam_errors.tsv", "plots"],
                "predictor": PREDICTOR, "examples": EXAMPLES}

    final = output_folder(cfg.out, runtime, "translation", "translation", input_hash)
    return run_stage(final, "translation", input_hash, build)
