"""Ingestion stage: sources -> a sharded Parquet corpus + rejects + manifest.json.

One task per shard (newline-aligned byte ranges of large text files, or several small
files packed together) reads, normalises, splits and tokenises, then writes its shard. The
corpus folder is named by the hash of the inputs' content and the config, and only
appears once complete. With ingest.incremental, the rows of sources unchanged since the
newest earlier corpus are copied from it instead of read (seqpipe.data.ingest_reuse); the
shards come out the same either way, byte for byte.
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

from seqpipe.data import text
from seqpipe.core.artifacts import read_json, sha256_file, sha256_json, write_json
from seqpipe.config import IngestConfig, RuntimeConfig
from seqpipe.core.errors import RejectRateExceeded
from seqpipe.data.ingest_reuse import (Previous, Reuse, ReuseReader, find_previous, link_unchanged_shards, plan_reuse,
                                       shard_key)
from seqpipe.core.fanout import node_id, run_tasks, worker_count
from seqpipe.core.paths import check_path, readable_everywhere
from seqpipe.core.stage import output_folder, run_stage, stage_input_hash
from seqpipe.data.readers import RAW_KEEP, Batch, read_piece
from seqpipe.data.shards import (PIECE_BYTES, Item, pack_shards, recorded_sources, shard_target, text_estimate,
                                  with_reuse)
from seqpipe.data.sources import plan_sources

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
    piece_bytes = min(max_shard, PIECE_BYTES)
    out = output_folder(cfg.out, runtime, "corpus", "corpus", "").local.parent  # earlier corpora (incremental)
    sources, skipped = plan_sources(cfg.sources, cfg.format, piece_bytes, cfg.txt_unit, cfg.hf_split,
                                    check=lambda uri: check_path(uri, runtime, "ingest source"),
                                    known=recorded_sources(out, cfg, piece_bytes) if cfg.incremental else None)
    input_hash = stage_input_hash(config={k: getattr(cfg, k) for k in OUTPUT_FIELDS},
                                  sources=[(s.uri, s.sha256) for s in sources])
    final = output_folder(cfg.out, runtime, "corpus", "corpus", input_hash)

    def build(tmp: Path) -> dict:
        previous = find_previous(out, cfg.model_dump(mode="json", include=set(OUTPUT_FIELDS)),
                                 CORPUS_SCHEMA.to_string(), sources) if cfg.incremental else None
        total = sum(text_estimate(s) for s in sources)
        shards = pack_shards(sources, shard_target(total, worker_count(runtime), max_shard))
        started = time.perf_counter()
        results = _ingest_shards(tmp, sources, shards, previous, cfg, runtime, on_progress)
        manifest = _manifest(cfg, sources, skipped, results, time.perf_counter() - started, previous)
        _check_reject_rate(manifest, cfg.max_reject_rate, tmp, out / f"failed-{final.local.name}")
        return manifest

    return run_stage(final, "corpus", input_hash, build, _result)


def _ingest_shards(tmp: Path, sources: list, shards: list[list[Item]], previous: Previous | None, cfg: IngestConfig,
                   runtime, on_progress: Callable[[int, int], None] | None) -> list[dict]:
    """Each shard's result, in order: hard-linked from the earlier corpus when it holds the
    same shard, else ingested by a task (copying the rows of unchanged sources)."""
    for folder in ("data", "rejects", "counts"):
        (tmp / folder).mkdir()
    keys = [shard_key(items) for items in shards]
    linked = link_unchanged_shards(previous, keys, tmp) if previous else {}
    todo = {shard_id: items for shard_id, items in enumerate(shards) if shard_id not in linked}
    if previous:  # where the rows of unchanged sources in the other shards are
        reuse = plan_reuse(previous, sources, {source_id for items in todo.values() for source_id, *_ in items})
        todo = {shard_id: with_reuse(items, reuse) for shard_id, items in todo.items()}
    finished = len(linked)

    def report(_i: int, _result: dict) -> None:
        nonlocal finished
        finished += 1
        if on_progress:
            on_progress(finished, len(shards))

    tasks = [(str(tmp), shard_id, items, cfg) for shard_id, items in todo.items()]
    # nodes share no disk: files of this machine (and an earlier corpus's rows) are read here
    on_driver = bool(previous) or not all(readable_everywhere(source.uri) for source in sources)
    done = iter(run_tasks(ingest_shard, tasks, runtime, on_done=report, on_driver=on_driver, writes_into=str(tmp)))
    results = [{**(linked[i] if i in linked else next(done)), "key": key} for i, key in enumerate(keys)]
    for i in linked:
        results[i]["sources"] = [shards[i][0][0], shards[i][-1][0]]
    return results


def ingest_shard(folder: str, shard_id: int, items: list[Item], cfg: IngestConfig) -> dict:
    """Read pieces (or copy reused ones) into data/, rejects/ and counts/part-N.parquet.

    Batches of small files are processed together (each Arrow regex call costs ~1 ms of
    set-up), and the shard's token counts come free while its tokens are in memory, so
    the vocabulary stage only has to merge them. Returns the counts of the sources read.
    """
    uris = {source_id: source.uri for source_id, source, _, _ in items}
    shard = ShardWriter(Path(folder), f"part-{shard_id:05d}.parquet", cfg)
    reader = ReuseReader()
    read: Counter = Counter()
    text_bytes: Counter = Counter()
    pending: list[tuple[int, Batch]] = []
    pending_bytes = 0
    try:
        for source_id, source, piece, reuse in items:
            if reuse is not None:
                if pending:
                    shard.add(*process_batches(pending, uris, cfg))
                pending, pending_bytes = [], 0
                copy_reused(shard, source_id, reuse, reader)
                continue
            for batch in read_piece(source, piece, cfg):
                pending.append((source_id, batch))
                read[source_id] += batch.read
                size = text_bytes_of(batch.texts)
                text_bytes[source_id] += size
                pending_bytes += size
                if pending_bytes >= PROCESS_BYTES:
                    shard.add(*process_batches(pending, uris, cfg))
                    pending, pending_bytes = [], 0
        shard.add(*process_batches(pending, uris, cfg))
        result = shard.close()
    finally:
        reader.close()
        shard.abort()
    read_ids = sorted({sid for sid, _, _, reuse in items if reuse is None})
    result["counts"] = {sid: {"read": read[sid], "rejected": shard.rejected[sid], "text_bytes": text_bytes[sid],
                              "documents": read[sid] - shard.rejected[sid]} for sid in read_ids}
    result["sources"] = [items[0][0], items[-1][0]]
    result["node"] = node_id()
    return result


def copy_reused(shard: "ShardWriter", source_id: int, reuse: Reuse, reader: ReuseReader) -> None:
    """Write a reused piece's rows (under its new source id) and rejects (by line) to the shard."""
    for part in reader.rows(reuse):
        ids = pa.array(np.full(part.num_rows, source_id, np.int32))
        shard.add(part.set_column(0, CORPUS_SCHEMA.field(0), ids).cast(CORPUS_SCHEMA), REJECT_SCHEMA.empty_table())
    rejects = pa.concat_tables([t.cast(REJECT_SCHEMA) for t in reader.rejects(reuse)] or [REJECT_SCHEMA.empty_table()])
    shard.add(CORPUS_SCHEMA.empty_table(), rejects.take(pc.sort_indices(rejects, [("line", "ascending")])))


class ShardWriter:
    """The data/, rejects/ and counts/ files of one shard, and the totals of what went in."""

    def __init__(self, folder: Path, name: str, cfg: IngestConfig):
        self.folder, self.name = folder, name
        for part in ("data", "rejects", "counts"):  # a task on another node writes a folder of its own
            (folder / part).mkdir(parents=True, exist_ok=True)
        self.data = RowGroupWriter(folder / "data" / name, CORPUS_SCHEMA, cfg.row_group_rows,
                                   dictionary=["source", "tokens.list.element"])
        self.rejects = RowGroupWriter(folder / "rejects" / name, REJECT_SCHEMA, cfg.row_group_rows,
                                      dictionary=["source", "reason"])
        self.rejected: Counter = Counter()
        self.reasons: Counter = Counter()
        self.totals: Counter = Counter()
        self.token_counts: list[pa.Table] = []

    def add(self, rows: pa.Table, rejects: pa.Table, reject_sources: np.ndarray | None = None) -> None:
        self.data.write(rows)
        self.rejects.write(rejects)
        if reject_sources is not None:
            self.rejected.update(reject_sources.tolist())
        self.reasons.update(rejects.column("reason").to_pylist())
        if rows.num_rows:
            self.totals["sentences"] += rows.num_rows
            self.totals["tokens"] += int(pc.sum(pc.list_value_length(rows.column("tokens"))).as_py() or 0)
            self.token_counts.append(count_tokens(rows.column("tokens")))
            if len(self.token_counts) >= 64:  # merged in order: the same table as merging all at the end
                self.token_counts = [merge_counts(self.token_counts)]

    def close(self) -> dict:
        self.data.close()
        self.rejects.close()
        pq.write_table(merge_counts(self.token_counts), self.folder / "counts" / self.name)
        return {"file": self.name, "sha256": sha256_file(self.folder / "data" / self.name),
                "totals": {k: self.totals.get(k, 0) for k in ("sentences", "tokens")}, "reasons": dict(self.reasons)}

    def abort(self) -> None:
        """After an error: close the files without writing what is buffered (the folder is discarded)."""
        self.data.abort()
        self.rejects.abort()


class RowGroupWriter:
    """A Parquet file of row groups of exactly `rows` rows (the last one shorter), however the
    tables arrive: the same rows always give the same bytes, whether read or reused.

    Only the columns that repeat are dictionary-encoded (trying it on the text costs time
    and then falls back), and no min/max statistics are written (nothing filters on them):
    15% less time writing, the same size."""

    def __init__(self, path: Path, schema: pa.Schema, rows: int, dictionary: list[str]):
        self.writer = pq.ParquetWriter(path, schema, use_dictionary=dictionary, write_statistics=False)
        self.rows = rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.buffer.append(table)
        self.buffered += table.num_rows
        if self.buffered < self.rows:
            return
        table = pa.concat_tables(self.buffer)
        full = table.num_rows - table.num_rows % self.rows
        for start in range(0, full, self.rows):
            self.writer.write_table(table.slice(start, self.rows).combine_chunks(), row_group_size=self.rows)
        rest = table.slice(full)
        self.buffer, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows

    def close(self) -> None:
        if self.writer is None:
            return
        if self.buffered:
            self.writer.write_table(pa.concat_tables(self.buffer).combine_chunks(), row_group_size=self.rows)
        self.writer.close()
        self.writer, self.buffer, self.buffered = None, [], 0

    def abort(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            except (OSError, pa.ArrowException):  # the failure being reported (a full disk) hits the close too
                pass
        self.writer, self.buffer, self.buffered = None, [], 0


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
    blank = (source_ids[empty], records[empty])  # often most of the rejects: kept as arrays
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
    return rows, *_rejects_table(rejects, blank, uri_table)


def _rejects_table(rejects: list[tuple], blank: tuple[np.ndarray, np.ndarray],
                   uri_table: pa.Array) -> tuple[pa.Table, np.ndarray]:
    """The rejects (the listed ones, then the blank records), by source and line: the same
    order however the records were batched (a stable sort). Returns them and their source ids."""
    sources = np.concatenate([np.array([r[0] for r in rejects], np.int32), blank[0]]).astype(np.int32)
    lines = np.concatenate([np.array([int(r[1]) for r in rejects], np.int64), blank[1]]).astype(np.int64)
    order = np.lexsort((lines, sources))
    reasons = pa.concat_arrays([pa.array([r[2] for r in rejects], pa.string()), pa.repeat(pa.scalar(BLANK), len(blank[0]))])
    raws = pa.concat_arrays([pa.array([r[3] for r in rejects], pa.binary()),
                             pa.repeat(pa.scalar(b"", pa.binary()), len(blank[0]))])
    table = pa.table({"source": uri_table.take(pa.array(sources[order])), "line": pa.array(lines[order]),
                      "reason": reasons.take(pa.array(order)), "raw": raws.take(pa.array(order))}, schema=REJECT_SCHEMA)
    return table, sources[order]


def text_bytes_of(texts: pa.Array) -> int:
    """The UTF-8 bytes of a string array's values: from a plain array's offsets (no compute
    call, which costs more than a small file's lines), else by Arrow."""
    if isinstance(texts, pa.StringArray) and len(texts):
        offsets = np.frombuffer(texts.buffers()[1], np.int32)
        return int(offsets[texts.offset + len(texts)] - offsets[texts.offset])
    return int(pc.sum(pc.binary_length(texts)).as_py() or 0)


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


SOURCE_COUNTS = ("read", "documents", "rejected", "text_bytes")


def _manifest(cfg, sources, skipped, results, seconds, previous: Previous | None) -> dict:
    totals: Counter = Counter()
    reasons: Counter = Counter()
    per_source = [Counter() for _ in sources]
    for r in results:
        reasons.update(r["reasons"])
        totals.update(r["totals"])
        for source_id, c in r["counts"].items():
            per_source[int(source_id)].update(c)
    reused = previous.matches if previous else {}
    for new_id, old_id in reused.items():  # a reused source's counts are those it had when it was read
        per_source[new_id].update({k: previous.manifest["sources"][old_id][k] for k in SOURCE_COUNTS})
    for c in per_source:
        totals.update(c)
    counts = {k: totals.get(k, 0) for k in ("read", "documents", "rejected", "sentences", "tokens", "text_bytes")}
    counts["blank"] = reasons.get(BLANK, 0)
    counts["input_bytes"] = sum(s.size for s in sources)
    shards = [{"path": f"data/{r['file']}", "sha256": r["sha256"], "rows": r["totals"].get("sentences", 0),
               "tokens": r["totals"].get("tokens", 0), "reasons": r["reasons"], "sources": r["sources"],
               "key": r["key"]} for r in results]
    origin = {i: {"ingest": "reused", "reused_from": previous.folder.name} for i in reused}
    return {
        "schema": CORPUS_SCHEMA.to_string(), "content_hash": sha256_json([s["sha256"] for s in shards]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(seconds, 3),
        "config": cfg.model_dump(mode="json"),
        "sources": [{**s.describe(), **{k: c.get(k, 0) for k in SOURCE_COUNTS}, **origin.get(i, {"ingest": "read"})}
                    for i, (s, c) in enumerate(zip(sources, per_source))],
        "incremental": {"read_sources": len(sources) - len(reused), "reused_sources": len(reused),
                        "reused_from": previous.folder.name if previous else None},
        "skipped_files": skipped, "counts": counts, "reject_reasons": dict(reasons.most_common()),
        "nodes": sorted({r["node"] for r in results if r.get("node")}),  # the Ray nodes of its tasks
        "shards": shards, "metrics": _metrics(counts, len(sources), len(reused)),
        "datasets": [{"uri": s.uri, "digest": s.sha256, "context": "ingest"} for s in sources],
    }


def _metrics(counts: dict, sources: int, reused: int) -> dict:
    """What the ingest run logs: the counts, the reject rate (blank lines aside), sources read and reused."""
    read = counts["read"] - counts["blank"]
    return {**{k: float(v) for k, v in counts.items()}, "sources_read": sources - reused, "sources_reused": reused,
            "reject_rate": (counts["rejected"] - counts["blank"]) / read if read else 0.0}


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
