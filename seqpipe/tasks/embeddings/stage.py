"""Pretraining stage: corpus + vocabulary -> word embeddings (word2vec or GloVe).

Output folder embeddings-<hash>/ (named by the hash of the corpus, the vocabulary and
the config): vectors.npy (float32, one row per word of tokens.txt, specials left out),
tokens.txt, vectors.txt and vectors.bin (word2vec text and binary formats, which
gensim's KeyedVectors.load_word2vec_format reads), metrics.json and manifest.json.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from seqpipe.core.artifacts import SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_file, sha256_json, write_json
from seqpipe.config import EmbeddingsConfig, RuntimeConfig
from seqpipe.data.word2vec_format import load_word2vec, save_word2vec
from seqpipe.tasks.embeddings.quality import neighbours
from seqpipe.core.errors import InputError
from seqpipe.data.vocab import Vocabulary


class PretrainResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    metrics: dict


def run_pretrain(cfg: EmbeddingsConfig, corpus_uri: str, vocab_uri: str, runtime: RuntimeConfig,
                 mlflow_run_id: str | None = None) -> PretrainResult:
    """Train embeddings into <out>/embeddings-<hash>/; a no-op when that folder exists."""
    for folder, kind in ((corpus_uri, "corpus"), (vocab_uri, "vocabulary")):
        if not is_complete(folder):
            raise InputError(f"{folder}: not a {kind} folder (no manifest.json)")
    input_hash = sha256_json({"schema_version": SCHEMA_VERSION, "config": cfg.model_dump(exclude={"out"}),
                              "corpus": read_json(Path(corpus_uri) / "manifest.json")["content_hash"],
                              "vocab": read_json(Path(vocab_uri) / "manifest.json")["content_hash"]})
    final = Path(cfg.out or Path(runtime.state_dir) / "embeddings").resolve() / f"embeddings-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    vocab = Vocabulary.load(vocab_uri)
    started = time.perf_counter()
    vectors, history = _train(cfg, corpus_uri, vocab_uri, runtime, mlflow_run_id, input_hash)
    seconds = time.perf_counter() - started
    tokens = vocab.tokens[len(vocab.specials):]
    epoch_seconds = [round(h["seconds"], 3) for h in history]
    # the last epoch's evaluation (rank 0's); the training curve itself stays in the epoch metrics
    final_epoch = {k: v for k, v in history[-1].items() if k not in ("loss", "seconds", "words", "pairs", "words_per_s")}
    metrics = {**final_epoch, "wall_seconds": round(seconds, 2), "epoch_seconds": epoch_seconds,
               "words_per_epoch": int(history[-1]["words"]),
               "words_per_s": round(sum(h["words"] for h in history) / max(sum(epoch_seconds), 1e-9))}
    with atomic_folder(final) as tmp:
        np.save(tmp / "vectors.npy", vectors)
        (tmp / "tokens.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
        save_word2vec(tmp / "vectors.txt", tokens, vectors, binary=False)
        save_word2vec(tmp / "vectors.bin", tokens, vectors, binary=True)
        nearest = neighbours(tokens, vectors, cfg.eval.neighbours_of)
        write_json(tmp / "metrics.json", {**metrics, "neighbours": nearest})
        write_json(tmp / "manifest.json", {
            "kind": "embeddings", "schema_version": SCHEMA_VERSION, "input_hash": input_hash,
            "content_hash": sha256_file(tmp / "vectors.npy"), "corpus": corpus_uri, "vocab": vocab_uri,
            "config": cfg.model_dump(mode="json"), "metrics": metrics, "words": len(tokens), "dim": cfg.dim})
    return _result(final, reused=False)


def _train(cfg, corpus_uri, vocab_uri, runtime, mlflow_run_id, input_hash) -> tuple[np.ndarray, list[dict]]:
    """Word vectors (specials left out) and the per-epoch metrics, from Ray Train."""
    from seqpipe.tasks.embeddings import task as word2vec

    # Ray Train workers run in their own working directory: every path they get is absolute.
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={
        "analogies": cfg.eval.analogies and str(Path(cfg.eval.analogies).resolve()),
        "similarity": [str(Path(p).resolve()) for p in cfg.eval.similarity]})})
    runtime = runtime.model_copy(update={"state_dir": str(Path(runtime.state_dir).resolve())})
    config = {"cfg": cfg.model_dump(mode="json"), "runtime": runtime.model_dump(mode="json"),
              "corpus_uri": str(Path(corpus_uri).resolve()), "vocab_uri": str(Path(vocab_uri).resolve()),
              "mlflow_run_id": mlflow_run_id}
    if cfg.algo == "glove":
        from seqpipe.tasks.embeddings import glove_task as glove

        return glove.fit(config, cfg, runtime, run_name=f"pretrain-{input_hash[:16]}")
    checkpoint = word2vec.fit(config, cfg, runtime, run_name=f"pretrain-{input_hash[:16]}")
    w_in, _, progress = word2vec.load_checkpoint(checkpoint)
    specials = len(read_json(Path(vocab_uri) / "manifest.json")["specials"])
    return w_in[specials:].astype(np.float32), progress["history"]


def _result(folder: Path, reused: bool) -> PretrainResult:
    manifest = read_json(folder / "manifest.json")
    return PretrainResult(uri=str(folder.resolve()), content_hash=manifest["content_hash"], reused=reused,
                          metrics=manifest["metrics"])
