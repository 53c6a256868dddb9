"""Vocabulary stage: token counts per shard (pyarrow hash aggregation), merged, ranked.

Output folder vocab-<hash>/ holds vocab.parquet and chars.parquet (token, id, count;
special tokens first, then by count descending, ties by token), unigram.npz (the alias
table of the negative-sampling distribution) and manifest.json.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from seqpipe.data import text
from seqpipe.core.artifacts import is_complete, read_json, sha256_json
from seqpipe.core.plots import zipf_plot
from seqpipe.core.stage import output_folder, run_stage, stage_input_hash
from seqpipe.config import RuntimeConfig, VocabConfig
from seqpipe.core.errors import InputError
from seqpipe.data.ingest import count_tokens, merge_counts
from seqpipe.core.fanout import run_tasks
from seqpipe.data.sampling import AliasSampler, keep_probabilities, noise_distribution

CHAR_POSITIONS = 16  # char_counts slices positions 0..15 column-wise, then splits what is left
VOCAB_SCHEMA = pa.schema([("token", pa.string()), ("id", pa.int32()), ("count", pa.int64())])


class VocabResult(BaseModel):
    uri: str
    content_hash: str
    reused: bool
    stats: dict


class Vocabulary:
    """Tokens and counts loaded from a vocabulary artifact, with id lookup."""

    def __init__(self, tokens: list[str], counts: np.ndarray, specials: list[str], unk: str = "<unk>"):
        self.tokens, self.counts, self.specials = tokens, np.asarray(counts, np.int64), specials
        self.index = {t: i for i, t in enumerate(tokens)}
        self.unk_id = self.index.get(unk, -1)

    @classmethod
    def load(cls, uri: str | Path, kind: str = "vocab") -> "Vocabulary":
        folder = Path(uri)
        table = pq.read_table(folder / f"{kind}.parquet")
        manifest = read_json(folder / "manifest.json")
        return cls(table.column("token").to_pylist(), table.column("count").to_numpy(), manifest["specials"])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: pa.Array) -> np.ndarray:
        """Ids of an Arrow string array (vectorised); unknown tokens get <unk>'s id."""
        ids = pc.index_in(tokens, value_set=pa.array(self.tokens, pa.string()))
        return pc.fill_null(ids, self.unk_id).to_numpy().astype(np.int64)

    def keep_probabilities(self, sample: float) -> np.ndarray:
        return keep_probabilities(self._word_counts(), sample)

    def noise_distribution(self, power: float = 0.75) -> np.ndarray:
        return noise_distribution(self._word_counts(), power)

    def _word_counts(self) -> np.ndarray:
        """Counts with the specials zeroed: they are neither subsampled nor drawn as noise."""
        counts = self.counts.copy()
        counts[: len(self.specials)] = 0
        return counts


def run_vocab(cfg: VocabConfig, corpus_uri: str, runtime: RuntimeConfig) -> VocabResult:
    """Build <out>/vocab-<hash>/ from an ingested corpus; a no-op when it exists."""
    corpus = Path(corpus_uri)
    if not is_complete(corpus):
        raise InputError(f"{corpus}: not an ingested corpus (no manifest.json); run `seqpipe ingest` first")
    corpus_manifest = read_json(corpus / "manifest.json")
    settings = cfg.model_dump(exclude={"out"})
    input_hash = stage_input_hash(corpus=corpus_manifest["content_hash"], config=settings)
    final = output_folder(cfg.out, runtime, "vocab", "vocab", input_hash)

    def build(tmp: Path) -> dict:
        started = time.perf_counter()
        shards = corpus_manifest["shards"]
        if all((corpus / "counts" / Path(s["path"]).name).exists() for s in shards):  # counted at ingestion
            counts = merge_counts([pq.read_table(corpus / "counts" / Path(s["path"]).name) for s in shards])
        else:
            counts = merge_counts(run_tasks(count_shard_tokens, [(str(corpus / s["path"]),) for s in shards], runtime,
                                            on_driver=True))  # the shards of this machine's copy
        words = rank(counts, cfg.min_count, cfg.max_size, cfg.specials)
        chars = rank(char_counts(counts, corpus_manifest), cfg.char_min_count, None, cfg.specials)
        total = int(pc.sum(counts.column("count")).as_py() or 0)
        kept = int(pc.sum(words.column("count")).as_py() or 0)
        words = _set_count(words, cfg.specials.index("<unk>") if "<unk>" in cfg.specials else None, total - kept)
        pq.write_table(words, tmp / "vocab.parquet")
        pq.write_table(chars, tmp / "chars.parquet")
        vocab = Vocabulary(words.column("token").to_pylist(), words.column("count").to_numpy(), cfg.specials)
        sampler = AliasSampler(vocab.noise_distribution(cfg.unigram_power))
        np.savez(tmp / "unigram.npz", prob=sampler.prob, alias=sampler.alias, power=cfg.unigram_power)
        stats = {"tokens": total, "types": counts.num_rows, "size": len(vocab), "chars": chars.num_rows,
                 "coverage": kept / total if total else 0.0, "min_count": cfg.min_count,
                 "seconds": round(time.perf_counter() - started, 3)}
        write_report(tmp, vocab)
        return {"content_hash": sha256_json([words.column("token").to_pylist(), words.column("count").to_pylist()]),
                "corpus": {"uri": str(corpus.resolve()), "content_hash": corpus_manifest["content_hash"]},
                "config": cfg.model_dump(mode="json"), "specials": cfg.specials, "stats": stats,
                "metrics": {"vocab_size": stats["size"], "char_vocab_size": stats["chars"], "tokens": stats["tokens"],
                            "types": stats["types"], "coverage_at_min_count": stats["coverage"]},
                "datasets": [{"uri": str(corpus.resolve()), "digest": corpus_manifest["content_hash"],
                              "context": "vocab"}],
                "artifacts": ["vocab_head.tsv", "zipf.png"]}

    return run_stage(final, "vocab", input_hash, build, _result)


def write_report(folder: Path, vocab: "Vocabulary", head_size: int = 200) -> None:
    """vocab_head.tsv (the most frequent words) and zipf.png (rank/frequency on log-log axes)."""
    words = len(vocab.specials)
    head = zip(vocab.tokens[words:words + head_size], vocab.counts[words:words + head_size].tolist())
    (folder / "vocab_head.tsv").write_text(
        "rank\ttoken\tcount\n" + "".join(f"{i}\t{t}\t{c}\n" for i, (t, c) in enumerate(head, 1)), encoding="utf-8")
    zipf_plot(vocab.counts[words:], folder / "zipf.png", "Zipf plot of the vocabulary")


def count_shard_tokens(path: str) -> pa.Table:
    """(token, count) of one corpus shard, for corpora written without counts/."""
    return count_tokens(pq.read_table(path, columns=["tokens"]).column("tokens"))


def char_counts(word_counts: pa.Table, corpus_manifest: dict) -> pa.Table:
    """Character counts derived from the word counts: each distinct word is split once."""
    tokens, counts = word_counts.column("token").combine_chunks(), word_counts.column("count").combine_chunks()
    lengths = pc.utf8_length(tokens)
    per_position = []
    for i in range(CHAR_POSITIONS):  # the i-th character of every word at least i + 1 long
        per_position.append(pa.table({"token": pc.utf8_slice_codeunits(tokens, i, i + 1), "count": counts}))
        longer = pc.greater(lengths, i + 1)
        tokens, counts, lengths = tokens.filter(longer), counts.filter(longer), lengths.filter(longer)
    if len(tokens):  # the tails of the few longer words, split all at once
        chars, parents, _ = text.explode(text.tokenize(pc.utf8_slice_codeunits(tokens, CHAR_POSITIONS), "char"))
        per_position.append(pa.table({"token": chars, "count": pc.take(counts, parents)}))
    if corpus_manifest["config"].get("tokenize") != "char":  # words were separated by single spaces
        spaces = corpus_manifest["counts"]["tokens"] - corpus_manifest["counts"]["sentences"]
        per_position.append(pa.table({"token": [" "], "count": pa.array([max(spaces, 0)], pa.int64())}))
    return merge_counts(per_position)


def rank(counts: pa.Table, min_count: int, max_size: int | None, specials: list[str]) -> pa.Table:
    """Specials first (count 0), then tokens with count >= min_count by count desc, token asc."""
    counts = counts.filter(pc.greater_equal(counts.column("count"), min_count))
    counts = counts.filter(pc.invert(pc.is_in(counts.column("token"), value_set=pa.array(specials, pa.string()))))
    counts = counts.take(pc.sort_indices(counts, sort_keys=[("count", "descending"), ("token", "ascending")]))
    if max_size is not None:
        counts = counts.slice(0, max_size)
    tokens = pa.concat_arrays([pa.array(specials, pa.string()), counts.column("token").combine_chunks().cast(pa.string())])
    values = pa.concat_arrays([pa.array([0] * len(specials), pa.int64()), counts.column("count").combine_chunks()])
    return pa.table({"token": tokens, "id": pa.array(np.arange(len(tokens), dtype=np.int32)), "count": values},
                    schema=VOCAB_SCHEMA)


def _set_count(table: pa.Table, row: int | None, value: int) -> pa.Table:
    if row is None:
        return table
    counts = table.column("count").to_numpy().copy()
    counts[row] = value
    return table.set_column(2, "count", pa.array(counts, pa.int64()))


def _result(folder: Path, reused: bool) -> VocabResult:
    manifest = read_json(folder / "manifest.json")
    return VocabResult(uri=str(folder.resolve()), content_hash=manifest["content_hash"], reused=reused,
                       stats=manifest["stats"])
