"""Language-model stage: corpus + vocabulary (+ pretrained embeddings) -> lm-<hash>/.

The folder holds tokens.txt, model.json, the best epoch's weights (model.pt), the
prepared id arrays, text.json (how raw text becomes tokens: the corpus's own
normalisation, casing and tokenizer, so `seqpipe score` sees what training saw),
metrics.json (dev perplexity, the unigram baseline, samples) and manifest.json.
"""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import LmConfig, RuntimeConfig
from seqpipe.core.artifacts import read_json, sha256_file, write_json
from seqpipe.core.errors import InputError
from seqpipe.core.paths import check_paths
from seqpipe.core.stage import (Gate, StageInputs, StageResult, numeric, output_folder, require_folders, run_stage,
                                stage_input_hash)
from seqpipe.data.vectors import embeddings_digest
from seqpipe.tasks.lm import data
from seqpipe.training.model_folder import mean_over_epochs, train_model
from seqpipe.tasks.lm.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.lm.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.lm.predictor:LanguageModelFolder"
REGISTER_AS = "seqpipe-lm"  # the character LM that speech fuses with: seqpipe-char-lm
GATE = Gate(("dev_perplexity",), "min", baseline="unigram_perplexity")
EXAMPLES = ["apple and pear salad", "apple and pair salad"]


def run(cfg: LmConfig, inputs: StageInputs, runtime: RuntimeConfig, mlflow_run_id: str | None = None) -> StageResult:
    """Train a language model into <out>/lm-<hash>/ (inputs: corpus, vocab, embeddings); a no-op
    when that folder exists."""
    if cfg.encoder.bidirectional:
        raise InputError("lm.encoder.bidirectional must be false: a language model reads left to right")
    require_folders(corpus=inputs.corpus, vocabulary=inputs.vocab)
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "lm.embeddings.path")
    use_pretrained = cfg.level == "word" and cfg.embeddings.pretrained and (cfg.embeddings.path or inputs.embeddings)
    embeddings_path = (cfg.embeddings.path or inputs.embeddings) if use_pretrained else None
    input_hash = stage_input_hash(config=cfg.model_dump(exclude={"out"}),
                                  corpus=read_json(Path(inputs.corpus) / "manifest.json")["content_hash"],
                                  vocab=read_json(Path(inputs.vocab) / "manifest.json")["content_hash"],
                                  embeddings=embeddings_path and embeddings_digest(embeddings_path),
                                  # a character LM reads the sentence text, no longer the tokens joined by spaces
                                  char_stream="text" if cfg.level == "char" else None)

    def build(tmp: Path) -> dict:
        from seqpipe.tasks.lm.evaluate import evaluate_model

        stats = data.prepare(tmp, cfg, inputs.corpus, inputs.vocab, embeddings_path)
        trained, result = train_model(tmp, "seqpipe.tasks.lm.task:build_task", {"folder": str(tmp), "max_len": cfg.max_len},
                                      cfg.train, runtime, f"lm-{input_hash[:16]}", "min", mlflow_run_id)
        metrics = {**stats, **trained, **evaluate_model(tmp, cfg, result.progress),
                   "tokens_per_s": mean_over_epochs(trained["history"], "tokens_per_s")}
        write_json(tmp / "metrics.json", metrics)
        return {"content_hash": sha256_file(tmp / "model.pt"), "corpus": inputs.corpus, "vocab": inputs.vocab,
                "embeddings": embeddings_path, "config": cfg.model_dump(mode="json"), "metrics": numeric(metrics),
                "artifacts": ["metrics.json", "model.json", "text.json"], "predictor": PREDICTOR, "examples": EXAMPLES}

    return run_stage(output_folder(cfg.out, runtime, "lm", "lm", input_hash), "lm", input_hash, build)
