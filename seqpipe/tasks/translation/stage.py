"""Translation stage: parallel text -> an attention encoder-decoder in translation-<hash>/.

The folder holds the vocabularies, model.json, data.json, the best epoch's weights
(model.pt), metrics.json (BLEU, chrF and exact match for greedy and beam search,
decoding speed, the beam/alpha sweep, the error-analysis fractions, the training
history), beam_errors.tsv (the error-analysis table), plots/attention-*.png,
rejects.jsonl and manifest.json.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel

from seqpipe.core.artifacts import SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_file, sha256_json, write_json
from seqpipe.config import ParallelFiles, RuntimeConfig, TranslationConfig
from seqpipe.core.errors import InputError
from seqpipe.data.vectors import align_pretrained
from seqpipe.core.paths import check_paths
from seqpipe.data.vectors import embeddings_digest
from seqpipe.tasks.translation.parallel_text import ParallelData, Reject, read_parallel, split_pairs, tokenize

SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]


class TranslationResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    metrics: dict


def with_demo_data(cfg: TranslationConfig, state_dir: str, pairs: int) -> TranslationConfig:
    """cfg itself when it names training data, else the generated date-translation task (characters)."""
    if cfg.train_data.source or cfg.train_data.table:
        return cfg
    from seqpipe.tasks.translation.demo import build_date_demo

    folder = build_date_demo(Path(state_dir) / "demo", pairs)
    return cfg.model_copy(update={"level": "char", "train_data": ParallelFiles(table=str(folder / "train.tsv")),
                                  "dev_data": ParallelFiles(table=str(folder / "dev.tsv")),
                                  "test_data": ParallelFiles(table=str(folder / "test.tsv"))})


def run_translation(cfg: TranslationConfig, runtime: RuntimeConfig, embeddings_uri: str | None = None,
                    mlflow_run_id: str | None = None) -> TranslationResult:
    """Train a translator into <out>/translation-<hash>/; a no-op when that folder exists."""
    splits = {name: files for name, files in (("train", cfg.train_data), ("dev", cfg.dev_data),
                                              ("test", cfg.test_data)) if files.source or files.table}
    if "train" not in splits:
        raise InputError("translation.train_data is not set: name aligned files or a table of pairs")
    check_paths([p for files in splits.values() for p in _paths(files)], runtime, "translation data file")
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "translation.embeddings.path")
    embeddings = (cfg.embeddings.path or embeddings_uri) if cfg.level == "word" and cfg.embeddings.pretrained else None
    input_hash = sha256_json({"schema_version": SCHEMA_VERSION, "config": cfg.model_dump(exclude={"out"}),
                              "files": {k: [sha256_file(p) for p in _paths(f)] for k, f in splits.items()},
                              "embeddings": embeddings and embeddings_digest(embeddings)})
    final = Path(cfg.out or Path(runtime.state_dir) / "translation").resolve() / f"translation-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    data = {name: _read(cfg, files) for name, files in splits.items()}
    if "dev" not in data:
        train, dev = split_pairs(data["train"].pairs, cfg.dev_fraction, cfg.train.seed)
        data["train"] = ParallelData(train, data["train"].rejects, data["train"].read - len(dev), data["train"].files)
        data["dev"] = ParallelData(dev, [], len(dev), data["train"].files)
    with atomic_folder(final) as tmp:
        tokens, rejects = prepare(tmp, cfg, data, embeddings)
        metrics = _train(tmp, cfg, runtime, input_hash, mlflow_run_id)
        from seqpipe.tasks.translation.evaluate import evaluate_model

        metrics.update(evaluate_model(tmp, cfg, tokens))
        (tmp / "rejects.jsonl").write_text("".join(json.dumps(r.__dict__) + "\n" for r in rejects), encoding="utf-8")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "manifest.json", {
            "kind": "translation", "schema_version": SCHEMA_VERSION, "input_hash": input_hash,
            "content_hash": sha256_file(tmp / "model.pt"), "files": {k: _paths(f) for k, f in splits.items()},
            "embeddings": embeddings, "config": cfg.model_dump(mode="json"),
            "counts": {k: {"read": d.read, "pairs": len(tokens.get(k, [])), "rejected": d.read - len(tokens.get(k, []))}
                       for k, d in data.items()},
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))}})
    return _result(final, reused=False)


def prepare(folder: Path, cfg: TranslationConfig, data: dict[str, ParallelData], embeddings: str | None):
    """Tokenise every split (over-long pairs rejected), build the vocabularies, write what workers read."""
    tokens, rejects = {}, [r for d in data.values() for r in d.rejects]
    for name, split in data.items():
        tokens[name] = []
        for pair in split.pairs:
            src, tgt = tokenize(pair.source, cfg.level), tokenize(pair.target, cfg.level)
            if max(len(src), len(tgt)) > cfg.max_tokens:
                rejects.append(Reject(pair.origin, pair.line, f"over-long: more than {cfg.max_tokens} tokens",
                                      f"{pair.source}\t{pair.target}"[:2000]))
                continue
            tokens[name].append([src, tgt, pair.target])
    if not tokens["train"]:
        raise InputError(f"no training pairs left after rejecting over-long ones (max_tokens {cfg.max_tokens})")
    source = SPECIALS + _vocabulary((s for s, _, _ in tokens["train"]), cfg.min_count, cfg.max_vocab)
    target = SPECIALS + _vocabulary((t for _, t, _ in tokens["train"]), cfg.min_count, cfg.max_vocab)
    for name, items in (("source", source), ("target", target)):
        (folder / f"{name}.txt").write_text("".join(i + "\n" for i in items), encoding="utf-8")
    write_json(folder / "data.json", tokens)
    dim = cfg.embedding_dim
    if embeddings:
        from seqpipe.data.vectors import Embeddings

        found = Embeddings.open(embeddings)
        matrix, _ = align_pretrained(source, found.tokens, found.vectors, seed=cfg.train.seed)
        np.save(folder / "embedding_init.npy", matrix)
        dim = matrix.shape[1]
    write_json(folder / "model.json", {
        "level": cfg.level, "source_size": len(source), "target_size": len(target), "source_dim": dim,
        "target_dim": cfg.embedding_dim, "freeze": cfg.embeddings.freeze, "encoder": cfg.encoder.model_dump(),
        "attention": cfg.attention})
    return tokens, rejects


def _vocabulary(sentences, min_count: int, max_size: int) -> list[str]:
    counts = Counter(t for s in sentences for t in s)
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return [t for t in ranked if t not in SPECIALS][:max_size]


def _train(folder: Path, cfg: TranslationConfig, runtime, input_hash: str, run_id) -> dict:
    from seqpipe.training.loop import fit

    task_config = {"folder": str(folder), "max_decode_len": cfg.max_tokens * 2, "eval_sentences": cfg.eval_sentences}
    runtime = runtime.model_copy(update={"state_dir": str(Path(runtime.state_dir).resolve())})
    result = fit("seqpipe.tasks.translation.task:build_task", task_config, cfg.train, runtime,
                 f"translation-{input_hash[:16]}", mode="max", mlflow_run_id=run_id)
    torch.save(result.best_state, folder / "model.pt")
    history = result.progress["history"]
    return {"best_epoch": result.progress["best_epoch"], "epochs": result.progress["epoch"],
            "stopped": result.progress["stopped"] or "epochs done", "history": history,
            "train_tokens_per_s": float(np.mean([h["tokens_per_s"] for h in history]))}


def _paths(files: ParallelFiles) -> list[str]:
    return [p for p in (files.source, files.target, files.table) if p]


def _read(cfg: TranslationConfig, files: ParallelFiles) -> ParallelData:
    return read_parallel(files.source, files.target, files.table, cfg.source_field, cfg.target_field,
                         max_chars=cfg.max_chars, max_reject_rate=cfg.max_reject_rate)


def _result(folder: Path, reused: bool) -> TranslationResult:
    manifest = read_json(folder / "manifest.json")
    return TranslationResult(uri=str(folder), content_hash=manifest["content_hash"], reused=reused,
                             metrics=manifest["metrics"])
