"""NER data: the CoNLL splits a config names (or the generated demo set), read with the
one reject policy, and what the workers read: vocabularies, data.json, model.json and
the embedding rows they start from."""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import NerConfig
from seqpipe.core.artifacts import write_json
from seqpipe.core.dataset import data_files, hold_out
from seqpipe.data.vectors import Embeddings, write_embedding_init
from seqpipe.tasks.ner.conll import ConllData, read_conll

SPLITS = ("train", "dev", "test")


def with_demo_data(cfg: NerConfig, state_dir: str, demo) -> NerConfig:
    """cfg itself when it names training data, else pointed at the generated demo set."""
    if cfg.train_path:
        return cfg
    from seqpipe.tasks.ner.demo import build_ner_demo

    folder = build_ner_demo(Path(state_dir) / "demo", demo.ner_sentences)
    return cfg.model_copy(update={"train_path": str(folder / "train.txt"), "dev_path": str(folder / "dev.txt"),
                                  "test_path": str(folder / "test.txt")})


def split_files(cfg: NerConfig) -> dict[str, list[str]]:
    """The files of each split: a file, a folder (every file under it) or a glob."""
    return {split: data_files(getattr(cfg, f"{split}_path"), "CoNLL file") for split in SPLITS}


def read_splits(cfg: NerConfig, files: dict[str, list[str]]) -> dict[str, ConllData]:
    """Every configured split; without a dev split, a seeded part of train is held out."""
    data = {split: read_split(cfg, paths) for split, paths in files.items() if paths}
    if "dev" not in data:
        train = data["train"]
        rest, dev = hold_out(train.sentences, cfg.dev_fraction, cfg.train.seed)
        data["train"] = ConllData(rest, train.rejects, train.read - len(dev), train.scheme, train.files)
        data["dev"] = ConllData(dev, [], len(dev), train.scheme, train.files)
    return data


def read_split(cfg: NerConfig, paths: list[str]) -> ConllData:
    return read_conll(paths, token_column=cfg.token_column, tag_column=cfg.tag_column, scheme=cfg.scheme,
                      target="bioes", max_reject_rate=cfg.max_reject_rate)


def prepare(folder: Path, cfg: NerConfig, data: dict[str, ConllData], pretrained: str | None) -> dict:
    """Vocabularies, data.json, model.json and the embedding rows; returns the embedding coverage."""
    key = str.lower if cfg.lowercase else str
    train = data["train"].sentences
    words = ["<pad>", "<unk>"] + sorted({key(t) for s in train for t in s.tokens})
    found = Embeddings.open(pretrained) if pretrained else None
    tuned_words = len(words)  # the rows training updates; pretrained-only words after them stay fixed
    if found:  # words of the pretrained vectors join the vocabulary: the tagger knows them at test time
        known = set(words)
        words += [w for w in found.tokens[: cfg.embeddings.max_pretrained_words] if w not in known]
    chars = ["<pad>", "<unk>"] + sorted({c for s in train for t in s.tokens for c in t})
    tags = ["O"] + sorted({t for s in train for t in s.tags} - {"O"})
    for name, items in (("words", words), ("chars", chars), ("tags", tags)):
        (folder / f"{name}.txt").write_text("".join(i + "\n" for i in items), encoding="utf-8")
    coverage, dim = {}, cfg.embeddings.dim
    if found:
        dim, coverage = write_embedding_init(folder, words, found, seed=cfg.train.seed)
    write_json(folder / "data.json", {split: [[s.tokens, s.tags] for s in d.sentences] for split, d in data.items()})
    write_json(folder / "model.json", {
        "num_words": len(words), "tuned_words": tuned_words, "word_dim": dim, "freeze": cfg.embeddings.freeze,
        "lowercase": cfg.lowercase,
        "num_chars": len(chars) if cfg.char_features else 0, "char_dim": cfg.char_dim,
        "char_hidden": cfg.char_hidden, "crf": cfg.crf, "encoder": cfg.encoder.model_dump()})
    return coverage
