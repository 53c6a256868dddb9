"""NER stage: CoNLL files (+ pretrained embeddings) -> a trained tagger in ner-<hash>/.

The folder holds the vocabularies (words.txt, chars.txt, tags.txt), model.json, the
best epoch's weights (model.pt, a state dict), metrics.json (dev and test entity
scores, the training history), rejects.jsonl and manifest.json. It is named by the hash
of the data files, the embeddings and the config, so an unchanged rerun is a no-op.
"""
from __future__ import annotations

import glob
import json
import random
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel

from seqpipe.core.artifacts import SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_file, sha256_json, write_json
from seqpipe.config import NerConfig, RuntimeConfig
from seqpipe.core.errors import InputError
from seqpipe.data.vectors import align_pretrained
from seqpipe.tasks.ner.conll import ConllData, read_conll
from seqpipe.core.paths import check_paths


class NerResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    metrics: dict


def with_demo_data(cfg: NerConfig, state_dir: str, sentences: int) -> NerConfig:
    """cfg itself when it names training data, else pointed at the generated demo set."""
    if cfg.train_path:
        return cfg
    from seqpipe.tasks.ner.demo import build_ner_demo

    folder = build_ner_demo(Path(state_dir) / "demo", sentences)
    return cfg.model_copy(update={"train_path": str(folder / "train.txt"), "dev_path": str(folder / "dev.txt"),
                                  "test_path": str(folder / "test.txt")})


def run_ner(cfg: NerConfig, runtime: RuntimeConfig, embeddings_uri: str | None = None,
            mlflow_run_id: str | None = None) -> NerResult:
    """Train a tagger into <out>/ner-<hash>/; a no-op when that folder exists."""
    if not cfg.train_path:
        raise InputError("ner.train_path is not set: name a CoNLL file (or run the pipeline for the demo data)")
    files = {split: _files(getattr(cfg, f"{split}_path")) for split in ("train", "dev", "test")}
    check_paths([f for split in files.values() for f in split], runtime, "NER data file")
    check_paths([cfg.embeddings.path] if cfg.embeddings.path else [], runtime, "ner.embeddings.path")
    pretrained = _pretrained(cfg, embeddings_uri)
    input_hash = sha256_json({"schema_version": SCHEMA_VERSION, "config": cfg.model_dump(exclude={"out"}),
                              "files": {k: [sha256_file(f) for f in v] for k, v in files.items()},
                              "embeddings": pretrained and sha256_file(pretrained[2])})
    final = Path(cfg.out or Path(runtime.state_dir) / "ner").resolve() / f"ner-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    data = {split: _read(cfg, paths) for split, paths in files.items() if paths}
    if "dev" not in data:
        data["train"], data["dev"] = _split_dev(data["train"], cfg.dev_fraction, cfg.train.seed)
    with atomic_folder(final) as tmp:
        coverage = prepare(tmp, cfg, data, pretrained)
        metrics = _train_and_evaluate(tmp, cfg, runtime, data, input_hash, mlflow_run_id)
        metrics["embedding_coverage"] = coverage.get("coverage", 0.0)
        rejects = [r.__dict__ for d in data.values() for r in d.rejects]
        (tmp / "rejects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rejects), encoding="utf-8")
        write_json(tmp / "metrics.json", metrics)
        write_json(tmp / "manifest.json", {
            "kind": "ner", "schema_version": SCHEMA_VERSION, "input_hash": input_hash,
            "content_hash": sha256_file(tmp / "model.pt"), "files": files, "embeddings": embeddings_uri,
            "schemes": {k: d.scheme for k, d in data.items()}, "coverage": coverage,
            "counts": {k: {"read": d.read, "sentences": len(d.sentences), "rejected": len(d.rejects)}
                       for k, d in data.items()},
            "config": cfg.model_dump(mode="json"), "metrics": _scalars(metrics)})
    return _result(final, reused=False)


def prepare(folder: Path, cfg: NerConfig, data: dict[str, ConllData], pretrained) -> dict:
    """Vocabularies, data.json, model.json and the embedding rows the workers start from."""
    key = str.lower if cfg.lowercase else str
    train = data["train"].sentences
    words = ["<pad>", "<unk>"] + sorted({key(t) for s in train for t in s.tokens})
    known = set(words)
    if pretrained:
        words += [w for w in pretrained[0][: cfg.embeddings.max_pretrained_words] if w not in known]
    chars = ["<pad>", "<unk>"] + sorted({c for s in train for t in s.tokens for c in t})
    tags = ["O"] + sorted({t for s in train for t in s.tags} - {"O"})
    for name, items in (("words", words), ("chars", chars), ("tags", tags)):
        (folder / f"{name}.txt").write_text("".join(i + "\n" for i in items), encoding="utf-8")
    coverage, dim = {}, cfg.embeddings.dim
    if pretrained:
        matrix, coverage = align_pretrained(words, pretrained[0], pretrained[1], seed=cfg.train.seed)
        np.save(folder / "embedding_init.npy", matrix)
        dim = matrix.shape[1]
    write_json(folder / "data.json", {split: [[s.tokens, s.tags] for s in d.sentences] for split, d in data.items()})
    write_json(folder / "model.json", {
        "num_words": len(words), "word_dim": dim, "freeze": cfg.embeddings.freeze, "lowercase": cfg.lowercase,
        "num_chars": len(chars) if cfg.char_features else 0, "char_dim": cfg.char_dim,
        "char_hidden": cfg.char_hidden, "crf": cfg.crf, "encoder": cfg.encoder.model_dump()})
    return coverage


def _train_and_evaluate(folder: Path, cfg: NerConfig, runtime, data, input_hash: str, run_id) -> dict:
    from seqpipe.tasks.ner.task import Encoder, build_tagger, entity_scores, predict
    from seqpipe.training.loop import fit

    task_config = {"folder": str(folder), "word_dropout": cfg.word_dropout, "seed": cfg.train.seed}
    runtime = runtime.model_copy(update={"state_dir": str(Path(runtime.state_dir).resolve())})
    result = fit("seqpipe.tasks.ner.task:build_task", task_config, cfg.train, runtime, f"ner-{input_hash[:16]}",
                 mode="max", mlflow_run_id=run_id)
    torch.save(result.best_state, folder / "model.pt")
    model = build_tagger(folder, with_init=False)
    model.load_state_dict(result.best_state)
    model.eval()
    encoder = Encoder(folder)
    metrics = {"best_epoch": result.progress["best_epoch"], "epochs": result.progress["epoch"],
               "stopped": result.progress["stopped"] or "epochs done", "history": result.progress["history"]}
    for split in ("dev", "test"):
        if split in data:
            examples = [encoder.encode(s.tokens, s.tags) for s in data[split].sentences]
            gold = [e["gold"] for e in examples]
            scores = entity_scores(list(zip(gold, predict(model, encoder, examples))))
            metrics.update({f"{split}_{k}": v for k, v in scores.items()})
    history = result.progress["history"]
    metrics["tokens_per_s"] = float(np.mean([h["tokens_per_s"] for h in history if "tokens_per_s" in h] or [0]))
    return metrics


def _files(spec: str | None) -> list[str]:
    if not spec:
        return []
    paths = sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]
    out = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path}: no such CoNLL file")
        out += sorted(str(p) for p in path.rglob("*") if p.is_file()) if path.is_dir() else [str(path)]
    if not out:
        raise InputError(f"{spec}: matches no files")
    return out


def _read(cfg: NerConfig, paths: list[str]) -> ConllData:
    return read_conll(paths, token_column=cfg.token_column, tag_column=cfg.tag_column, scheme=cfg.scheme,
                      target="bioes", max_reject_rate=cfg.max_reject_rate)


def _split_dev(train: ConllData, fraction: float, seed: int) -> tuple[ConllData, ConllData]:
    """Hold out a seeded random fraction of the training sentences for validation."""
    order = list(range(len(train.sentences)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(order) * fraction))
    pick = lambda idx: [train.sentences[i] for i in sorted(idx)]  # noqa: E731
    dev = ConllData(pick(order[:cut]), [], cut, train.scheme, train.files)
    rest = ConllData(pick(order[cut:]), train.rejects, train.read - cut, train.scheme, train.files)
    return rest, dev


def _pretrained(cfg: NerConfig, embeddings_uri: str | None):
    """(tokens, vectors, file that identifies them) of the pretrained vectors, or None."""
    if not cfg.embeddings.pretrained or not (cfg.embeddings.path or embeddings_uri):
        return None
    from seqpipe.data.vectors import Embeddings

    found = Embeddings.open(cfg.embeddings.path or embeddings_uri)
    return found.tokens, found.vectors, found.source


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float))}


def _result(folder: Path, reused: bool) -> NerResult:
    manifest = read_json(folder / "manifest.json")
    return NerResult(uri=str(folder), content_hash=manifest["content_hash"], reused=reused,
                     metrics=manifest["metrics"])
