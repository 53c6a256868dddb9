"""Language-model data: corpus sentences as one flat id array with <bos>/<eos> around each.

Word level uses the vocabulary stage's words (others map to <unk>); character level the
characters of the corpus's sentence text (its `text` column: "hello, world", not the tokens
joined by spaces), which is what `seqpipe score` and speech fusion feed it; subword level
SentencePiece units trained on the corpus sentences (subword.spm beside tokens.txt).
`units_of` turns raw text into the units a model of each level was trained on. A sentence
longer than max_len is read in windows of max_len predictions that overlap by one token, so
no prediction is lost.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seqpipe.config import LmConfig
from seqpipe.core.artifacts import read_json, write_json
from seqpipe.core.errors import InputError
from seqpipe.data import text
from seqpipe.data.corpus import shard_paths
from seqpipe.data.subword import SubwordTokenizer, train_subword
from seqpipe.data.vectors import Embeddings, write_embedding_init
from seqpipe.data.vocab import Vocabulary

SPACE = " "


def sentence_ids(shards: list[str], vocab: dict[str, int], level: str, unk: int,
                 subword: SubwordTokenizer | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, offsets): sentence i is ids[offsets[i]:offsets[i + 1]] (no <bos>/<eos> yet)."""
    all_ids, lengths = [], []
    value_set = pa.array(list(vocab), pa.string())
    for path in shards:
        if level == "char":  # the sentence as written (cleaned, cased as the corpus is), every character
            lists = text.tokenize(pq.read_table(path, columns=["text"]).column("text").combine_chunks(), "char")
        else:
            lists = pq.read_table(path, columns=["tokens"]).column("tokens").combine_chunks()
        if level == "subword":
            sentences = pc.binary_join(lists, SPACE).to_pylist()
            lists = pa.array(subword.processor.encode(sentences, out_type=str), pa.list_(pa.string()))
        flat = pc.list_flatten(lists)
        ids = pc.index_in(flat, value_set=value_set).fill_null(unk).to_numpy().astype(np.int32)
        all_ids.append(ids)
        lengths.append(np.diff(lists.offsets.to_numpy()))
    lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int32)
    return ids, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def units_of(raw: str, text_cfg: dict, subword: SubwordTokenizer | None = None) -> list[str]:
    """The units a model trained on the corpus reads for `raw`: its characters (level char),
    subword pieces of its tokens joined by spaces (subword), or its tokens (word); text_cfg is
    the model's text.json (the corpus's normalisation, casing and tokenizer)."""
    level = "char" if text_cfg["level"] == "char" else text_cfg["tokenize"]
    units = text.tokens_of(raw, text_cfg["normalize"], text_cfg["lowercase"], level)
    return subword.tokenize(SPACE.join(units)) if subword else units


def corpus_sentences(shards: list[str]) -> list[str]:
    """Every corpus sentence as its tokens joined by spaces (the text subword units are trained on)."""
    return [s for path in shards for s in pc.binary_join(
        pq.read_table(path, columns=["tokens"]).column("tokens").combine_chunks(), SPACE).to_pylist()]


def with_boundaries(ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray, bos: int, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """The chosen sentences (rows), each as <bos> w1 .. wn <eos>, concatenated; and their offsets."""
    starts, ends = offsets[rows], offsets[rows + 1]
    pieces, new_offsets, total = [], [0], 0
    for s, e in zip(starts, ends):
        pieces.append(np.concatenate([[bos], ids[s:e], [eos]]).astype(np.int32))
        total += e - s + 2
        new_offsets.append(total)
    flat = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
    return flat, np.asarray(new_offsets, np.int64)


def windows(offsets: np.ndarray, max_len: int) -> list[tuple[int, int]]:
    """(start, end) spans of at most max_len + 1 tokens: inputs span[:-1], targets span[1:]."""
    out = []
    for s, e in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
        for start in range(s, e - 1, max_len):
            out.append((start, min(start + max_len + 1, e)))
    return out


def split_rows(count: int, dev: int, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random (train, dev) sentence rows; dev takes at most a tenth of the sentences."""
    order = np.random.default_rng(seed).permutation(count)
    dev = min(dev, max(1, count // 10))
    train = order[dev:] if limit is None else order[dev:dev + limit]
    return np.sort(train), np.sort(order[:dev])


def unigram_perplexity(train_targets: np.ndarray, dev_targets: np.ndarray, size: int) -> float:
    """Perplexity on dev of the add-one smoothed unigram model of the training targets."""
    counts = np.bincount(train_targets, minlength=size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-log_p[dev_targets].mean()))


def prepare(folder: Path, cfg: LmConfig, corpus_uri: str, vocab_uri: str, embeddings_path: str | None) -> dict:
    """tokens.txt, text.json, model.json, the train/dev id arrays and the embedding rows."""
    vocab = Vocabulary.load(vocab_uri, "chars" if cfg.level == "char" else "vocab")
    tokens, subword = vocab.tokens, None
    if cfg.level == "subword":  # units trained on the corpus, stored with the model's vocabulary
        subword = SubwordTokenizer(train_subword(corpus_sentences(shard_paths(corpus_uri)), folder / "subword.spm",
                                                 cfg.subword.model, cfg.subword.vocab_size, seed=cfg.train.seed))
        tokens = vocab.specials + [p for p in subword.pieces() if p not in vocab.specials]
    index = {t: i for i, t in enumerate(tokens)}
    bos, eos, unk = index["<bos>"], index["<eos>"], index["<unk>"]
    ids, offsets = sentence_ids(shard_paths(corpus_uri), index, cfg.level, unk, subword)
    if len(offsets) < 3:
        raise InputError(f"{corpus_uri}: too few sentences for a language model ({len(offsets) - 1})")
    train_rows, dev_rows = split_rows(len(offsets) - 1, cfg.dev_sentences, cfg.max_sentences, cfg.train.seed)
    targets = {}
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        flat, flat_offsets = with_boundaries(ids, offsets, rows, bos, eos)
        np.save(folder / f"{split}_ids.npy", flat)
        np.save(folder / f"{split}_offsets.npy", flat_offsets)
        targets[split] = _targets(flat, bos)
    (folder / "tokens.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    corpus_cfg = read_json(Path(corpus_uri) / "manifest.json")["config"]
    write_json(folder / "text.json", {"level": cfg.level, "normalize": corpus_cfg["normalize"],
                                      "lowercase": corpus_cfg["lowercase"], "tokenize": corpus_cfg["tokenize"]})
    dim, coverage = cfg.embeddings.dim, {}
    if embeddings_path:
        dim, coverage = write_embedding_init(folder, tokens, Embeddings.open(embeddings_path), seed=cfg.train.seed)
    write_json(folder / "model.json", {"num_tokens": len(tokens), "dim": dim, "freeze": cfg.embeddings.freeze,
                                       "encoder": cfg.encoder.model_dump(), "max_len": cfg.max_len,
                                       "cutoffs": cfg.adaptive_cutoffs if cfg.level == "word" else [],
                                       "tie_embeddings": cfg.tie_embeddings})
    train_targets, dev_targets = targets["train"], targets["dev"]
    return {"train_sentences": len(train_rows), "dev_sentences": len(dev_rows), "train_tokens": len(train_targets),
            "vocab_size": len(tokens), "embedding_coverage": coverage.get("coverage", 0.0),
            "unk_rate": float(np.mean(dev_targets == unk)) if len(dev_targets) else 0.0,
            "unigram_perplexity": unigram_perplexity(train_targets, dev_targets, len(tokens))}


def _targets(flat: np.ndarray, bos: int) -> np.ndarray:
    """Every predicted token: all but the <bos> that opens each sentence."""
    return flat[flat != bos].astype(np.int64)


def with_demo_data(cfg: LmConfig, state_dir: str, demo) -> LmConfig:
    """cfg itself: the language model reads the pipeline's corpus (the demo corpus without sources)."""
    return cfg
