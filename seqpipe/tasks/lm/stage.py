"""Language-model stage: corpus + vocabulary (+ pretrained embeddings) -> lm-<hash>/.

The folder holds tokens.txt, model.json, the best epoch's weights (model.pt), the
prepared id arrays, text.json (how raw text becomes tokens: the corpus's own
normalisation, casing and tokenizer, so `seqpipe score` sees what training saw),
metrics.json (dev perplexity, the unigram baseline, samples) and manifest.json.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel

from seqpipe.core.artifacts import SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_file, sha256_json, write_json
from seqpipe.config import LmConfig, RuntimeConfig
from seqpipe.core.errors import InputError
from seqpipe.tasks.lm.data import sentence_ids, split_rows, unigram_perplexity, with_boundaries
from seqpipe.data.vectors import align_pretrained
from seqpipe.core.paths import check_paths
from seqpipe.data.vectors import embeddings_digest
from seqpipe.data.vocab import Vocabulary


class LmResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    metrics: dict


def run_lm(cfg: LmConfig, corpus_uri: str, vocab_uri: str, runtime: RuntimeConfig,
           embeddings_uri: str | None = None, mlflow_run_id: str | None = None) -> LmResult:
    """Train a language model into <out>/lm-<hash>/; a no-op when that folder exists."""
    if cfg.encoder.bidirectional:
        raise InputError("lm.encoder.bidirectional must be false: a language model reads left to right")
    for folder, kind in ((corpus_uri, "corpus"), (vocab_uri, "vocabulary")):
        if not is_complete(folder):
            raise InputError(f"{folder}: not a {kind} folder (no manifest.json)")
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "lm.embeddings.path")
    use_pretrained = cfg.level == "word" and cfg.embeddings.pretrained and (cfg.embeddings.path or embeddings_uri)
    embeddings_path = (cfg.embeddings.path or embeddings_uri) if use_pretrained else None
    input_hash = sha256_json({
        "schema_version": SCHEMA_VERSION, "config": cfg.model_dump(exclude={"out"}),
        "corpus": read_json(Path(corpus_uri) / "manifest.json")["content_hash"],
        "vocab": read_json(Path(vocab_uri) / "manifest.json")["content_hash"],
        "embeddings": embeddings_path and embeddings_digest(embeddings_path)})
    final = Path(cfg.out or Path(runtime.state_dir) / "lm").resolve() / f"lm-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    with atomic_folder(final) as tmp:
        stats = prepare(tmp, cfg, corpus_uri, vocab_uri, embeddings_path)
        metrics = {**stats, **_train(tmp, cfg, runtime, input_hash, mlflow_run_id)}
        metrics["samples"] = _samples(tmp, cfg)
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "manifest.json", {
            "kind": "lm", "schema_version": SCHEMA_VERSION, "input_hash": input_hash,
            "content_hash": sha256_file(tmp / "model.pt"), "corpus": corpus_uri, "vocab": vocab_uri,
            "embeddings": embeddings_path, "config": cfg.model_dump(mode="json"),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}})
    return _result(final, reused=False)


def prepare(folder: Path, cfg: LmConfig, corpus_uri: str, vocab_uri: str, embeddings_path: str | None) -> dict:
    """tokens.txt, text.json, model.json, the train/dev id arrays and the embedding rows."""
    from seqpipe.data.corpus import shard_paths

    vocab = Vocabulary.load(vocab_uri, "vocab" if cfg.level == "word" else "chars")
    index = {t: i for i, t in enumerate(vocab.tokens)}
    bos, eos, unk = index["<bos>"], index["<eos>"], index["<unk>"]
    ids, offsets = sentence_ids(shard_paths(corpus_uri), index, cfg.level, unk)
    if len(offsets) < 3:
        raise InputError(f"{corpus_uri}: too few sentences for a language model ({len(offsets) - 1})")
    train_rows, dev_rows = split_rows(len(offsets) - 1, cfg.dev_sentences, cfg.max_sentences, cfg.train.seed)
    targets = {}
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        flat, flat_offsets = with_boundaries(ids, offsets, rows, bos, eos)
        np.save(folder / f"{split}_ids.npy", flat)
        np.save(folder / f"{split}_offsets.npy", flat_offsets)
        targets[split] = _targets(flat, bos)
    (folder / "tokens.txt").write_text("".join(t + "\n" for t in vocab.tokens), encoding="utf-8")
    corpus_cfg = read_json(Path(corpus_uri) / "manifest.json")["config"]
    write_json(folder / "text.json", {"level": cfg.level, "normalize": corpus_cfg["normalize"],
                                      "lowercase": corpus_cfg["lowercase"], "tokenize": corpus_cfg["tokenize"]})
    dim, coverage = cfg.embeddings.dim, {}
    if embeddings_path:
        from seqpipe.data.vectors import Embeddings

        found = Embeddings.open(embeddings_path)
        matrix, coverage = align_pretrained(vocab.tokens, found.tokens, found.vectors, seed=cfg.train.seed)
        np.save(folder / "embedding_init.npy", matrix)
        dim = matrix.shape[1]
    write_json(folder / "model.json", {"num_tokens": len(vocab), "dim": dim, "freeze": cfg.embeddings.freeze,
                                       "encoder": cfg.encoder.model_dump(), "max_len": cfg.max_len,
                                       "cutoffs": cfg.adaptive_cutoffs if cfg.level == "word" else []})
    train_targets, dev_targets = targets["train"], targets["dev"]
    return {"train_sentences": len(train_rows), "dev_sentences": len(dev_rows), "train_tokens": len(train_targets),
            "vocab_size": len(vocab), "embedding_coverage": coverage.get("coverage", 0.0),
            "unk_rate": float(np.mean(dev_targets == unk)) if len(dev_targets) else 0.0,
            "unigram_perplexity": unigram_perplexity(train_targets, dev_targets, len(vocab))}


def _targets(flat: np.ndarray, bos: int) -> np.ndarray:
    """Every predicted token: all but the <bos> that opens each sentence."""
    return flat[flat != bos].astype(np.int64)


def _train(folder: Path, cfg: LmConfig, runtime, input_hash: str, run_id) -> dict:
    from seqpipe.training.loop import fit

    runtime = runtime.model_copy(update={"state_dir": str(Path(runtime.state_dir).resolve())})
    result = fit("seqpipe.tasks.lm.task:build_task", {"folder": str(folder), "max_len": cfg.max_len}, cfg.train,
                 runtime, f"lm-{input_hash[:16]}", mode="min", mlflow_run_id=run_id)
    torch.save(result.best_state, folder / "model.pt")
    progress = result.progress
    best = next(h for h in progress["history"] if h.get("dev_perplexity") == progress["best"])
    return {"dev_perplexity": progress["best"], "dev_loss": best["dev_loss"], "best_epoch": progress["best_epoch"],
            "epochs": progress["epoch"], "stopped": progress["stopped"] or "epochs done",
            "tokens_per_s": float(np.mean([h["tokens_per_s"] for h in progress["history"]])),
            "history": progress["history"]}


def _samples(folder: Path, cfg: LmConfig, n: int = 5) -> list[str]:
    from seqpipe.tasks.lm.predictor import LanguageModelFolder

    model = LanguageModelFolder(folder)
    return model.sample(n=n, temperature=cfg.temperature, max_len=cfg.max_sample_len, seed=cfg.train.seed)


def _result(folder: Path, reused: bool) -> LmResult:
    manifest = read_json(folder / "manifest.json")
    return LmResult(uri=str(folder), content_hash=manifest["content_hash"], reused=reused, metrics=manifest["metrics"])
