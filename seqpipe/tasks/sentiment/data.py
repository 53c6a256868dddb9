"""Sentiment data: labelled texts in CSV, TSV, JSONL or Parquet files (or the generated demo
set), read with the one reject policy, and what the workers read: words.txt, labels.txt,
data.json (word ids and label ids), model.json and the embedding rows they start from."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from seqpipe.config import SentimentConfig
from seqpipe.core.artifacts import write_json
from seqpipe.core.dataset import PARQUET_ERRORS, Reject, data_files, enforce_reject_policy, hold_out, read_bytes
from seqpipe.core.errors import InputError
from seqpipe.data.text import clean, tokenize
from seqpipe.data.vectors import Embeddings, write_embedding_init

SPLITS = ("train", "dev", "test")
MAX_FIELD = 1 << 24  # characters of one CSV/TSV field
FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass
class LabelledTexts:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    read: int = 0
    files: list[str] = field(default_factory=list)


DEMO_LR = 0.01  # the demo's learning rate, where train.lr is not set


def with_demo_data(cfg: SentimentConfig, state_dir: str, demo) -> SentimentConfig:
    """cfg itself when it names training data, else pointed at the generated demo set and,
    unless train.lr is set, trained at DEMO_LR. On the demo's held-out phrases the default
    0.001 first learns each adjective from the roles it was trained in (the bag of words'
    mistake): dev accuracy falls below chance for 8 epochs, which early stopping takes for the
    end, and 30 epochs reach dev accuracy 0.76, plain reviews still at chance; 0.01 passes 0.8 by epoch 3."""
    if cfg.train_path:
        return cfg
    from seqpipe.tasks.sentiment.demo import build_sentiment_demo

    folder = build_sentiment_demo(Path(state_dir) / "demo", demo.sentiment_texts)
    train = cfg.train if "lr" in cfg.train.model_fields_set else cfg.train.model_copy(update={"lr": DEMO_LR})
    return cfg.model_copy(update={"train_path": str(folder / "train.tsv"), "dev_path": str(folder / "dev.tsv"),
                                  "test_path": str(folder / "test.tsv"), "format": "tsv", "train": train})


def split_files(cfg: SentimentConfig) -> dict[str, list[str]]:
    """The files of each split: a file, a folder (every file under it) or a glob."""
    return {split: data_files(getattr(cfg, f"{split}_path"), "sentiment data file") for split in SPLITS}


def read_splits(cfg: SentimentConfig, files: dict[str, list[str]]) -> dict[str, LabelledTexts]:
    """Every configured split; without a dev split, a seeded part of train is held out."""
    data = {split: read_labelled(paths, cfg) for split, paths in files.items() if paths}
    if "dev" not in data:
        train = data["train"]
        rest, dev = hold_out(list(zip(train.texts, train.labels)), cfg.dev_fraction, cfg.train.seed)
        data["train"] = LabelledTexts([t for t, _ in rest], [y for _, y in rest], train.rejects, len(rest), train.files)
        data["dev"] = LabelledTexts([t for t, _ in dev], [y for _, y in dev], [], len(dev), train.files)
    return data


def read_labelled(paths: list[str], cfg: SentimentConfig) -> LabelledTexts:
    """The (text, label) rows of `paths`; a row without a text or a label, or with a label
    outside cfg.labels, is a reject naming its file and line."""
    out = LabelledTexts(files=paths)
    for path in paths:
        for line, text, label, problem in _rows(Path(path), cfg):
            out.read += 1
            if reason := problem or _fault(text, label, cfg.labels):
                out.rejects.append(Reject.of(path, line, reason, f"{text}\t{label}"))
            else:
                out.texts.append(text)
                out.labels.append(str(label).strip())
    enforce_reject_policy([(f"{r.origin}:{r.line}", r.reason) for r in out.rejects], out.read, cfg.max_reject_rate,
                          "rows", "sentiment.max_reject_rate", paths, "labelled rows")
    return out


def _fault(text, label, labels: list[str]) -> str | None:
    """Why a parsed row cannot be used, or None."""
    if not isinstance(text, str) or not text.strip():
        return "no text"
    if label is None or str(label).strip() == "":
        return "no label"
    if labels and str(label).strip() not in labels:
        return f"label {label!r} is not one of sentiment.labels {labels}"
    return None


def _rows(path: Path, cfg: SentimentConfig):
    """(line, text, label, None) of each row; (line, None, None, why) for a row that cannot be parsed."""
    name = path.name.lower().removesuffix(".gz").removesuffix(".bz2").removesuffix(".xz")
    kind = cfg.format if cfg.format != "auto" else FORMATS.get(Path(name).suffix)
    if kind is None:
        raise InputError(f"{path}: unknown format (name it .csv, .tsv, .jsonl or .parquet, or set sentiment.format)")
    if kind == "parquet":
        yield from _parquet_rows(path, cfg)
        return
    raw = read_bytes(path).decode("utf-8", errors="replace")
    if kind == "jsonl":
        yield from _json_rows(raw, cfg)
        return
    yield from _delimited_rows(path, raw, "," if kind == "csv" else "\t", cfg)


def _json_rows(raw: str, cfg: SentimentConfig):
    for line, text in enumerate(raw.split("\n"), 1):  # numbered as editors do (not at \v, \f, \x1c...)
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            yield line, None, None, f"not JSON: {err.msg}"
        except RecursionError:
            yield line, None, None, "not JSON: nested too deeply"
        else:
            if isinstance(row, dict):
                yield line, row.get(str(cfg.text_column)), row.get(str(cfg.label_column)), None
            else:
                yield line, None, None, "not a JSON object"


def _delimited_rows(path: Path, raw: str, delimiter: str, cfg: SentimentConfig):
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))  # a long review is a row, not an error
    reader = csv.reader(io.StringIO(raw), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL if delimiter == "," else
                        csv.QUOTE_NONE)
    columns = [cfg.text_column, cfg.label_column]
    try:
        if isinstance(cfg.text_column, str) or isinstance(cfg.label_column, str):
            header = next(reader, None) or []
            missing = [c for c in columns if isinstance(c, str) and c not in header]
            if missing:
                raise InputError(f"{path}:1: the header row {header[:10]} has no column {missing[0]!r} (set "
                                 "sentiment.text_column and label_column, as names or 0-based numbers)")
            columns = [header.index(c) if isinstance(c, str) else c for c in columns]
        for row in reader:
            if len(row) > max(columns):
                yield reader.line_num, row[columns[0]], row[columns[1]], None
            elif row:
                yield reader.line_num, None, None, f"{len(row)} columns, expected at least {max(columns) + 1}"
    except csv.Error as err:
        raise InputError(f"{path}:{reader.line_num}: not readable as {'CSV' if delimiter == ',' else 'TSV'}: {err}") \
            from None


def _parquet_rows(path: Path, cfg: SentimentConfig):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=[str(cfg.text_column), str(cfg.label_column)])
    except (*PARQUET_ERRORS, KeyError) as err:
        raise InputError(f"{path}: not a Parquet file with columns {cfg.text_column!r} and "
                         f"{cfg.label_column!r}: {err}") from None
    for row, (text, label) in enumerate(zip(*(table.column(i).to_pylist() for i in range(2))), 1):
        yield row, text, label, None


def tokenize_texts(texts: list[str], lowercase: bool, max_words: int) -> list[list[str]]:
    """Each text's words, tokenised like the corpus (so they meet the pretrained vectors)."""
    if not texts:
        return []
    cleaned = clean(pa.array(texts, pa.string()))
    words = tokenize(pc.utf8_lower(cleaned) if lowercase else cleaned).to_pylist()
    return [(w or [])[:max_words] for w in words]


def prepare(folder: Path, cfg: SentimentConfig, data: dict[str, LabelledTexts], pretrained: str | None) -> dict:
    """words.txt, labels.txt, data.json, model.json and the embedding rows; returns the embedding coverage."""
    tokens = {split: tokenize_texts(d.texts, cfg.lowercase, cfg.max_words) for split, d in data.items()}
    words = ["<pad>", "<unk>"] + sorted({w for text in tokens["train"] for w in text})
    found = Embeddings.open(pretrained) if pretrained else None
    tuned_words = len(words)
    if found:  # words of the pretrained vectors join the vocabulary: the model knows them at test time
        known = set(words)
        words += [w for w in found.tokens[: cfg.embeddings.max_pretrained_words] if w not in known]
    labels = cfg.labels or sorted(set(data["train"].labels))
    for split, d in data.items():
        if unknown := sorted(set(d.labels) - set(labels)):
            raise InputError(f"{', '.join(d.files)}: label {unknown[0]!r} of the {split} split never occurs in "
                             f"training (labels: {labels}); set sentiment.labels to name every label")
    (folder / "words.txt").write_text("".join(w + "\n" for w in words), encoding="utf-8")
    (folder / "labels.txt").write_text("".join(label + "\n" for label in labels), encoding="utf-8")
    coverage, dim = {}, cfg.embeddings.dim
    if found:
        dim, coverage = write_embedding_init(folder, words, found, seed=cfg.train.seed)
    ids, label_ids = {w: i for i, w in enumerate(words)}, {label: i for i, label in enumerate(labels)}
    write_json(folder / "data.json", {split: [[[ids.get(w, 1) for w in text] or [1], label_ids.get(label, -1)]
                                              for text, label in zip(tokens[split], d.labels)]
                                      for split, d in data.items()})
    write_json(folder / "model.json", {"num_words": len(words), "tuned_words": tuned_words, "word_dim": dim,
                                       "freeze": cfg.embeddings.freeze, "lowercase": cfg.lowercase,
                                       "max_words": cfg.max_words, "pooling": cfg.pooling,
                                       "encoder": cfg.encoder.model_dump()})
    return coverage
