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
from seqpipe.parallel import run_tasks, worker_count
from seqpipe.paths import check_path
from seqpipe.readers import RAW_KEEP, Batch, read_piece
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
PROCESS_BYTES = 8 << 20  # text processed per batch of Arrow kernels
PIECE_BYTES = 4 << 20  # large text files are cut into newline-aligned pieces of this size
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
    max_shard = int(cfg.shard_mb * 2**20)
    sources, skipped = plan_sources(cfg.sources, cfg.format, min(max_shard, PIECE_BYTES), cfg.txt_unit, cfg.hf_split,
                                    check=lambda uri: check_path(uri, runtime, "ingest source"))
    input_hash = sha256_json({"schema_version": SCHEMA_VERSION,
                              "config": {k: getattr(cfg, k) for k in OUTPUT_FIELDS},
                              "sources": [(s.uri, s.sha256) for s in sources]})
    out = Path(cfg.out or Path(runtime.state_dir) / "corpus").resolve()  # tasks may run elsewhere
    final = out / f"corpus-{input_hash[:16]}"
    if is_complete(final):
        return _result(final, reused=True)
    total = sum(s.size for s in sources)
    shards = pack_shards(sources, min(max_shard, max(PIECE_BYTES, total // (2 * worker_count(runtime)))))
    started = time.perf_counter()
    with atomic_folder(final) as tmp:
        (tmp / "data").mkdir()
        (tmp / "rejects").mkdir()
        (tmp / "counts").mkdir()
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
    """Read pieces into data/, rejects/ and counts/part-N.parquet; return counts per source.

    Batches of small files are processed together (each Arrow regex call costs ~1 ms of
    set-up), and the shard's token counts come free while its tokens are in memory, so
    the vocabulary stage only has to merge them.
    """
    name = f"part-{shard_id:05d}.parquet"
    uris = {source_id: source.uri for source_id, source, _ in items}
    read: Counter = Counter()
    rejected: Counter = Counter()
    reasons: Counter = Counter()
    totals: Counter = Counter()
    token_counts, pending = [], []
    pending_bytes = 0
    with pq.ParquetWriter(Path(folder) / "data" / name, CORPUS_SCHEMA) as data, \
            pq.ParquetWriter(Path(folder) / "rejects" / name, REJECT_SCHEMA) as rejects:

        def flush() -> None:
            rows, rejects_table, reject_sources = process_batches(pending, uris, cfg)
            if rows.num_rows:
                data.write_table(rows, row_group_size=cfg.row_group_rows)
            if rejects_table.num_rows:
                rejects.write_table(rejects_table)
            rejected.update(reject_sources.tolist())
            reasons.update(rejects_table.column("reason").to_pylist())
            totals["sentences"] += rows.num_rows
            totals["tokens"] += int(pc.sum(pc.list_value_length(rows.column("tokens"))).as_py() or 0)
            token_counts.append(count_tokens(rows.column("tokens")))
            pending.clear()

        for source_id, source, piece in items:
            for batch in read_piece(source, piece, cfg):
                pending.append((source_id, batch))
                read[source_id] += batch.read
                text_bytes = int(pc.sum(pc.binary_length(batch.texts)).as_py() or 0)
                totals["text_bytes"] += text_bytes
                pending_bytes += text_bytes
                if pending_bytes >= PROCESS_BYTES:
                    flush()
                    pending_bytes = 0
        flush()
    pq.write_table(merge_counts(token_counts), Path(folder) / "counts" / name)
    counts = {sid: {"read": read[sid], "rejected": rejected[sid], "documents": read[sid] - rejected[sid]}
              for sid in uris}
    return {"file": name, "sha256": sha256_file(Path(folder) / "data" / name), "counts": counts,
            "totals": dict(totals), "reasons": dict(reasons)}


def process_batches(pending: list[tuple[int, Batch]], uris: dict[int, str],
                    cfg: IngestConfig) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """Reject over-long and empty records, then normalise, split and tokenise the rest.

    Returns the corpus rows, the rejects and the source id of each reject.
    """
    source_ids = np.concatenate([np.full(len(b.records), sid, np.int32) for sid, b in pending] or [[]]).astype(np.int32)
    records = np.concatenate([b.records for _, b in pending] or [[]]).astype(np.int64)
    texts = pa.concat_arrays([b.texts for _, b in pending]) if pending else pa.array([], pa.string())
    rejects = [(sid, r.line, r.reason, r.raw) for sid, b in pending for r in b.rejects]

    over_long = pc.greater(pc.utf8_length(texts), cfg.max_record_chars).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(over_long):
        value = texts[int(i)].as_py()
        rejects.append((source_ids[i], records[i], f"over-long: {len(value)} characters > max_record_chars "
                        f"{cfg.max_record_chars}", value[:RAW_KEEP].encode()))
    keep = ~over_long
    source_ids, records, cleaned = source_ids[keep], records[keep], text.clean(texts.filter(pa.array(keep)), cfg.normalize)
    empty = pc.equal(pc.utf8_length(cleaned), 0).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(empty):
        rejects.append((source_ids[i], records[i], BLANK, cleaned[int(i)].as_py().encode()))
    source_ids, records, docs = source_ids[~empty], records[~empty], cleaned.filter(pa.array(~empty))

    sent_ids = np.zeros(len(docs), np.int32)
    if cfg.split_sentences:
        docs, parents, positions = text.explode(text.split_sentences(docs))
        source_ids, records, sent_ids = source_ids[parents.to_numpy()], records[parents.to_numpy()], positions.to_numpy()
    if cfg.lowercase:  # after splitting: the splitter looks for capitals
        docs = pc.utf8_lower(docs)
    uri_table = pa.array([uris.get(i, "") for i in range(max(uris) + 1)], pa.string())
    rows = pa.table({
        "source_id": pa.array(source_ids, pa.int32()), "source": uri_table.take(pa.array(source_ids)),
        "doc_id": pa.array(records, pa.int64()), "sent_id": pa.array(sent_ids.astype(np.int32)),
        "text": docs, "tokens": text.tokenize(docs, cfg.tokenize),
    }, schema=CORPUS_SCHEMA)
    reject_sources = np.array([r[0] for r in rejects], np.int32)
    rejects_table = pa.table({
        "source": uri_table.take(pa.array(reject_sources, pa.int32())), "line": pa.array([int(r[1]) for r in rejects], pa.int64()),
        "reason": pa.array([r[2] for r in rejects], pa.string()), "raw": pa.array([r[3] for r in rejects], pa.binary()),
    }, schema=REJECT_SCHEMA)
    return rows, rejects_table, reject_sources


def count_tokens(tokens: pa.ChunkedArray | pa.ListArray) -> pa.Table:
    """(token, count) of a column of token lists, by Arrow's hash aggregation."""
    counts = pc.value_counts(pc.list_flatten(tokens))
    return pa.table({"token": counts.field("values"), "count": counts.field("counts")})


def merge_counts(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return pa.table({"token": pa.array([], pa.string()), "count": pa.array([], pa.int64())})
    table = pa.concat_tables(tables)
    encoded = pc.dictionary_encode(table.column("token").combine_chunks())
    sums = np.bincount(encoded.indices.to_numpy(), weights=table.column("count").to_numpy(), minlength=len(encoded.dictionary))
    return pa.table({"token": encoded.dictionary, "count": pa.array(sums.astype(np.int64))})


def _manifest(cfg, sources, skipped, results, input_hash, seconds) -> dict:
    totals: Counter = Counter()
    reasons: Counter = Counter()
    per_source = [Counter() for _ in sources]
    for r in results:
        reasons.update(r["reasons"])
        totals.update(r["totals"])
        for source_id, c in r["counts"].items():
            totals.update(c)
            per_source[int(source_id)].update(c)
    counts = {k: totals.get(k, 0) for k in ("read", "documents", "rejected", "sentences", "tokens", "text_bytes")}
    counts["blank"] = reasons.get(BLANK, 0)
    counts["input_bytes"] = sum(s.size for s in sources)
    shards = [{"path": f"data/{r['file']}", "sha256": r["sha256"], "rows": r["totals"].get("sentences", 0)}
              for r in results]
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
