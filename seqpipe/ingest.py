"""Ingestion stage: sources -> a sharded Parquet corpus + rejects + manifest.json.

One task per shard (newline-aligned byte ranges of large text files, or several small
files packed together) reads, normalises, splits and tokenises, then writes its shard. The
corpus folder is named by the hash of the inputs' content and the config, and only
appears once complete.
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel

from seqpipe import text
from seqpipe.artifacts import (SCHEMA_VERSION, atomic_folder, is_complete, read_json, sha256_file,
                               sha256_json, write_json)
from seqpipe.config import IngestConfig, RuntimeConfig
from seqpipe.errors import RejectRateExceeded
from seqpipe.parallel import run_tasks
from seqpipe.readers import Batch, read_piece
from seqpipe.sources import Piece, Source, plan_sources

CORPUS_SCHEMA = pa.schema([
    ("source_id", pa.int32()),   # index into manifest["sources"]
    ("source", pa.string()),
    ("doc_id", pa.int64()),      # line (or row) number of the document in its source, 1-based
    ("sent_id", pa.int32()),     # sentence number within the document, 0-based
    ("text", pa.string()),
    ("tokens", pa.list_(pa.string())),
])
REJECT_SCHEMA = pa.schema([("source", pa.string()), ("line", pa.int64()),
                           ("reason", pa.string()), ("raw", pa.binary())])
BLANK = "empty (blank line or whitespace only)"
# Config fields that change what is written; `sources` enter the hash by content instead.
OUTPUT_FIELDS = ("format", "txt_unit", "text_field", "hf_split", "encoding", "normalize", "lowercase",
                 "split_sentences", "tokenize", "max_record_chars")


class IngestResult(BaseModel):
    uri: str
    content_hash: str
    input_hash: str
    reused: bool
    counts: dict


def run_ingest(cfg: IngestConfig, runtime: RuntimeConfig,
               on_progress: Callable[[int, int], None] | None = None) -> IngestResult:
    """Ingest cfg.sources into <out>/corpus-<hash>/; a no-op when that corpus exists."""
    sources, skipped = plan_sources(cfg.sources, cfg.format, int(cfg.shard_mb * 2**20), cfg.txt_unit, cfg.hf_split)
    input_hash = sha256_json({"schema_version": SCHEMA_VERSION,
                              "config": {k: getattr(cfg, k) for k in OUTPUT_FIELDS},
                              "sources": [(s.uri, s.sha256) for s in sources]})
    out = Path(cfg.out or Path(runtime.state_dir) / "corpus")
    final = out / f"corpus-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    shards = pack_shards(sources, int(cfg.shard_mb * 2**20))
    started = time.perf_counter()
    with atomic_folder(final) as tmp:
        (tmp / "data").mkdir()
        (tmp / "rejects").mkdir()
        finished = 0

        def report(_i: int, _result: dict) -> None:
            nonlocal finished
            finished += 1
            if on_progress:
                on_progress(finished, len(shards))

        tasks = [(str(tmp), shard_id, items, cfg) for shard_id, items in enumerate(shards)]
        results = run_tasks(ingest_shard, tasks, runtime, on_done=report)
        manifest = _manifest(cfg, sources, skipped, results, input_hash, time.perf_counter() - started)
        _check_reject_rate(manifest, cfg.max_reject_rate, tmp, out / f"failed-{final.name}")
        write_json(tmp / "manifest.json", manifest)
    return _result(final, reused=False)


def pack_shards(sources: list[Source], shard_bytes: int) -> list[list[tuple[int, Source, Piece]]]:
    """Group pieces into shards of about shard_bytes: big files are split, small ones packed."""
    shards, current, size = [], [], 0
    for source_id, source in enumerate(sources):
        for piece in source.pieces:
            piece_size = (source.size if piece.end is None else piece.end) - piece.start
            if current and size + piece_size > shard_bytes:
                shards.append(current)
                current, size = [], 0
            current.append((source_id, source, piece))
            size += piece_size
    return shards + [current] if current else shards


def ingest_shard(folder: str, shard_id: int, items: list[tuple[int, Source, Piece]], cfg: IngestConfig) -> dict:
    """Read pieces into data/part-N.parquet and rejects/part-N.parquet; return counts per source."""
    name = f"part-{shard_id:05d}.parquet"
    data_path, reject_path = Path(folder) / "data" / name, Path(folder) / "rejects" / name
    counts: dict[int, Counter] = {}
    reasons: Counter = Counter()
    with pq.ParquetWriter(data_path, CORPUS_SCHEMA) as data, pq.ParquetWriter(reject_path, REJECT_SCHEMA) as rejects:
        for source_id, source, piece in items:
            c = counts.setdefault(source_id, Counter())
            for batch in read_piece(source, piece, cfg):
                rows, rejected = process_batch(batch, source_id, source.uri, cfg)
                if rows.num_rows:
                    data.write_table(rows, row_group_size=cfg.row_group_rows)
                if rejected.num_rows:
                    rejects.write_table(rejected)
                    reasons.update(rejected.column("reason").to_pylist())
                c["read"] += batch.read
                c["rejected"] += rejected.num_rows
                c["documents"] += batch.read - rejected.num_rows
                c["sentences"] += rows.num_rows
                c["tokens"] += int(pc.sum(pc.list_value_length(rows.column("tokens"))).as_py() or 0)
    return {"file": name, "sha256": sha256_file(data_path), "counts": counts, "reasons": dict(reasons)}


def process_batch(batch: Batch, source_id: int, source: str, cfg: IngestConfig) -> tuple[pa.Table, pa.Table]:
    """Reject over-long and empty records, then normalise, split and tokenise the rest."""
    texts, records = batch.texts, batch.records
    over_long = pc.greater(pc.utf8_length(texts), cfg.max_record_chars).to_numpy(zero_copy_only=False)
    kept_texts, kept_records = texts.filter(pa.array(~over_long)), records[~over_long]
    cleaned = text.clean(kept_texts, cfg.normalize)
    empty = pc.equal(pc.utf8_length(cleaned), 0).to_numpy(zero_copy_only=False)
    rejects = _reject_table(source, batch, texts, records, over_long, kept_texts, kept_records, empty, cfg)
    docs, doc_ids = cleaned.filter(pa.array(~empty)), kept_records[~empty]
    if cfg.split_sentences:
        sentences, parents, positions = text.explode(text.split_sentences(docs))
        doc_ids, sent_ids = doc_ids[parents.to_numpy()], positions.to_numpy()
    else:
        sentences, sent_ids = docs, np.zeros(len(docs), np.int64)
    if cfg.lowercase:  # after splitting: the splitter looks for capitals
        sentences = pc.utf8_lower(sentences)
    rows = pa.table({
        "source_id": pa.array(np.full(len(sentences), source_id, np.int32)),
        "source": pa.repeat(pa.scalar(source, pa.string()), len(sentences)),
        "doc_id": pa.array(doc_ids, pa.int64()),
        "sent_id": pa.array(sent_ids.astype(np.int32)),
        "text": sentences,
        "tokens": text.tokenize(sentences, cfg.tokenize),
    }, schema=CORPUS_SCHEMA)
    return rows, rejects


def _reject_table(source, batch, texts, records, over_long, kept_texts, kept_records, empty, cfg) -> pa.Table:
    lines = [r.line for r in batch.rejects]
    reasons = [r.reason for r in batch.rejects]
    raws = [r.raw for r in batch.rejects]
    for i in np.flatnonzero(over_long):
        lines.append(int(records[i]))
        value = texts[int(i)].as_py()
        reasons.append(f"over-long: {len(value)} characters > max_record_chars {cfg.max_record_chars}")
        raws.append(value[:4096].encode())
    for i in np.flatnonzero(empty):
        lines.append(int(kept_records[i]))
        reasons.append(BLANK)
        raws.append(kept_texts[int(i)].as_py().encode())
    return pa.table({"source": [source] * len(lines), "line": pa.array(lines, pa.int64()),
                     "reason": pa.array(reasons, pa.string()), "raw": pa.array(raws, pa.binary())},
                    schema=REJECT_SCHEMA)


def _manifest(cfg, sources, skipped, results, input_hash, seconds) -> dict:
    totals: Counter = Counter()
    reasons: Counter = Counter()
    per_source = [Counter() for _ in sources]
    for r in results:
        reasons.update(r["reasons"])
        for source_id, c in r["counts"].items():
            totals.update(c)
            per_source[source_id].update(c)
    counts = {k: totals.get(k, 0) for k in ("read", "documents", "rejected", "sentences", "tokens")}
    counts["blank"] = reasons.get(BLANK, 0)
    counts["input_bytes"] = sum(s.size for s in sources)
    shards = [{"path": f"data/{r['file']}", "sha256": r["sha256"],
               "rows": sum(c.get("sentences", 0) for c in r["counts"].values())} for r in results]
    return {
        "kind": "corpus", "schema_version": SCHEMA_VERSION, "schema": CORPUS_SCHEMA.to_string(),
        "input_hash": input_hash, "content_hash": sha256_json([s["sha256"] for s in shards]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(seconds, 3),
        "config": cfg.model_dump(mode="json"),
        "sources": [{**s.describe(), **{k: c.get(k, 0) for k in ("read", "documents", "rejected")}}
                    for s, c in zip(sources, per_source)],
        "skipped_files": skipped, "counts": counts, "reject_reasons": dict(reasons.most_common()),
        "shards": shards,
    }


def _check_reject_rate(manifest: dict, limit: float, tmp: Path, failed: Path) -> None:
    counts = manifest["counts"]
    considered = counts["read"] - counts["blank"]
    bad = counts["rejected"] - counts["blank"]
    if considered and bad / considered > limit:
        if failed.exists():
            import shutil
            shutil.rmtree(failed)
        failed.mkdir(parents=True)
        (tmp / "rejects").rename(failed / "rejects")
        write_json(failed / "manifest.json", {**manifest, "status": "failed: reject rate exceeded"})
        top = ", ".join(f"{reason} ({n})" for reason, n in list(manifest["reject_reasons"].items())[:3])
        raise RejectRateExceeded(
            f"{bad} of {considered} records rejected ({bad / considered:.1%}) > max_reject_rate {limit:.1%}; "
            f"most common: {top}. The rejected records are in {failed / 'rejects'}")


def _result(folder: Path, reused: bool) -> IngestResult:
    manifest = read_json(folder / "manifest.json")
    return IngestResult(uri=str(folder.resolve()), content_hash=manifest["content_hash"],
                        input_hash=manifest["input_hash"], reused=reused, counts=manifest["counts"])


def read_corpus(uri: str, columns: list[str] | None = None) -> pa.Table:
    """The whole corpus as one table (for small corpora and tests; stream shards otherwise)."""
    return pq.read_table(Path(uri) / "data", columns=columns)
