"""Pretraining stage: corpus + vocabulary -> word embeddings (word2vec or GloVe).

Output folder embeddings-<hash>/ (named by the hash of the corpus, the vocabulary and
the config): vectors.npy (float32, one row per word of tokens.txt, specials left out),
tokens.txt, vectors.txt and vectors.bin (word2vec text and binary formats, which
gensim's KeyedVectors.load_word2vec_format reads), tsne.png, metrics.json and manifest.json.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from seqpipe.config import EmbeddingsConfig, RuntimeConfig
from seqpipe.core.artifacts import read_json, sha256_file, write_json
from seqpipe.core.plots import tsne_plot
from seqpipe.core.stage import Gate, StageInputs, StageResult, output_folder, require_folders, run_stage, stage_input_hash
from seqpipe.data.vocab import Vocabulary
from seqpipe.data.word2vec_format import save_word2vec
from seqpipe.tasks.embeddings.quality import neighbours
from seqpipe.tasks.embeddings.data import with_demo_data  # noqa: F401  (with evaluation_set: the stage's interface)
from seqpipe.tasks.embeddings.evaluate import evaluation_set  # noqa: F401

PREDICTOR = "seqpipe.tasks.embeddings.predictor:WordVectors"
REGISTER_AS = "seqpipe-embeddings"
GATE = Gate(("analogy_acc",), "max")


def run(cfg: EmbeddingsConfig, inputs: StageInputs, runtime: RuntimeConfig,
        mlflow_run_id: str | None = None) -> StageResult:
    """Train embeddings into <out>/embeddings-<hash>/ (inputs: corpus, vocab); a no-op when that
    folder exists."""
    require_folders(corpus=inputs.corpus, vocabulary=inputs.vocab)
    corpus_hash = read_json(Path(inputs.corpus) / "manifest.json")["content_hash"]
    input_hash = stage_input_hash(config=cfg.model_dump(exclude={"out"}), corpus=corpus_hash,
                                  vocab=read_json(Path(inputs.vocab) / "manifest.json")["content_hash"])

    def build(tmp: Path) -> dict:
        vocab = Vocabulary.load(inputs.vocab)
        started = time.perf_counter()
        vectors, history = _train(cfg, inputs.corpus, inputs.vocab, runtime, mlflow_run_id, input_hash)
        metrics = _summary(history, time.perf_counter() - started)
        tokens = vocab.tokens[len(vocab.specials):]
        np.save(tmp / "vectors.npy", vectors)
        (tmp / "tokens.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        save_word2vec(tmp / "vectors.txt", tokens, vectors, binary=False)
        save_word2vec(tmp / "vectors.bin", tokens, vectors, binary=True)
        write_json(tmp / "metrics.json", {**metrics, "neighbours": neighbours(tokens, vectors, cfg.eval.neighbours_of)})
        tsne_plot(tokens, vectors, tmp / "tsne.png")
        return {"content_hash": sha256_file(tmp / "vectors.npy"), "corpus": inputs.corpus, "vocab": inputs.vocab,
                "config": cfg.model_dump(mode="json"), "metrics": metrics, "words": len(tokens), "dim": cfg.dim,
                "datasets": [{"uri": inputs.corpus, "digest": corpus_hash, "context": "pretrain"}],
                "artifacts": ["metrics.json", "vectors.bin", "tsne.png"], "predictor": PREDICTOR,
                "model_files": ["vectors.npy", "tokens.txt"], "examples": tokens[:2]}

    final = output_folder(cfg.out, runtime, "embeddings", "embeddings", input_hash)
    return run_stage(final, "embeddings", input_hash, build)


def _summary(history: list[dict], seconds: float) -> dict:
    """The last epoch's evaluation (rank 0's; the training curve itself stays in the epoch
    metrics), the time spent and the words trained per second."""
    epoch_seconds = [round(h["seconds"], 3) for h in history]
    final_epoch = {k: v for k, v in history[-1].items() if k not in ("loss", "seconds", "words", "pairs", "words_per_s")}
    return {**final_epoch, "wall_seconds": round(seconds, 2), "epoch_seconds": epoch_seconds,
            "words_per_epoch": int(history[-1]["words"]),
            "words_per_s": round(sum(h["words"] for h in history) / max(sum(epoch_seconds), 1e-9))}


def _train(cfg, corpus_uri, vocab_uri, runtime, mlflow_run_id, input_hash) -> tuple[np.ndarray, list[dict]]:
    """Word vectors (specials left out) and the per-epoch metrics, from Ray Train."""
    from seqpipe.tasks.embeddings import task as embeddings
    from seqpipe.training.loop import fit

    # Ray Train workers run in their own working directory, maybe on another machine: every path
    # they get is absolute (seqpipe.core.driver_files sends them), and they get no output folder.
    cfg = cfg.model_copy(update={"out": None, "eval": cfg.eval.model_copy(update={
        "analogies": cfg.eval.analogies and str(Path(cfg.eval.analogies).resolve()),
        "similarity": [str(Path(p).resolve()) for p in cfg.eval.similarity]})})
    runtime = runtime.absolute()
    run_name = f"pretrain-{input_hash[:16]}"
    task_config = embeddings.task_config(cfg, corpus_uri, vocab_uri, runtime, run_name)
    result = fit("seqpipe.tasks.embeddings.task:build_task", task_config, cfg, runtime, run_name, mode="last",
                 mlflow_run_id=mlflow_run_id, arrays=embeddings.vector_arrays(cfg))
    specials = len(read_json(Path(vocab_uri) / "manifest.json")["specials"])
    return embeddings.word_vectors(cfg, result.best_state, specials), result.progress["history"]
