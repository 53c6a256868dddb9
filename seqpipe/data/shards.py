"""How an ingest cuts its sources into shards, and which earlier files it can trust.

A shard is the unit of work (one task) and of reuse: a nightly ingest hard-links the
shards made of exactly the pieces of an earlier shard (seqpipe.data.ingest_reuse), so
where shards end must depend on the sources around them only (`pack_shards`), and the
files whose size and modification time have not changed are not hashed again
(`recorded_sources`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from seqpipe.config import IngestConfig
from seqpipe.data.ingest_reuse import Reuse, newest_manifests
from seqpipe.data.sources import Piece, Source

PIECE_BYTES = 4 << 20  # large text files are cut into newline-aligned pieces of this size
COMPRESSION_RATIO = 3  # what a shard counts a compressed file as: the text in it (gzip gives English 3x)


def recorded_sources(out: Path, cfg: IngestConfig, piece_bytes: int) -> dict[str, dict]:
    """The newest earlier corpus's source entries by uri, if it cut files into pieces as this
    ingest will (same format, txt_unit and piece size): plan_sources trusts them for files
    whose size and modification time have not changed."""
    for manifest in newest_manifests(out):
        config = manifest.get("config", {})
        if (config.get("format"), config.get("txt_unit")) == (cfg.format, cfg.txt_unit) and \
                min(int(config.get("shard_mb", 0) * 2**20), PIECE_BYTES) == piece_bytes:
            return {entry["uri"]: entry for entry in manifest.get("sources", []) if "uri" in entry}
    return {}


def shard_target(total: int, workers: int, max_shard: int) -> int:
    """About two shards per worker, at most max_shard, at least a piece; rounded down to a
    power of two, so that a nightly ingest of a few more files packs the same way (the
    target moves only when the corpus doubles or halves)."""
    share = max(PIECE_BYTES, total // (2 * workers))
    return min(max_shard, 1 << (share.bit_length() - 1))


Item = tuple[int, Source, Piece, "Reuse | None"]  # (source id, source, piece, where its rows are if reused)


def pack_shards(sources: list[Source], shard_bytes: int) -> list[list[Item]]:
    """Group pieces into shards of about shard_bytes: big files are split, small ones packed.

    Where a shard ends depends on the sources around it only, so that a nightly ingest
    finds the shards away from what changed as they were (`link_unchanged_shards`): a
    shard ends after a source whose uri draws a cut, with probability text / shard_bytes,
    where a source's text is its size, 3x for a compressed one (`text_estimate`: the
    expected shard holds shard_bytes of text, so compressed and plain shards take as long); before and after a source cut into pieces; and
    where the next piece would take it past twice shard_bytes (big files: shard_bytes).
    After an added, removed or resized source the packing falls back into step at the next
    cut. Each of the user's specs (a folder, a glob) starts a shard of its own, so that a
    nightly ingest with a new spec reads only it. It depends on the sources only, not on
    which are reused, so an incremental ingest writes the same shards as a full one."""
    shards, current, size = [], [], 0

    def close() -> None:
        nonlocal current, size
        if current:
            shards.append(current)
        current, size = [], 0

    for source_id, source in enumerate(sources):
        split = len(source.pieces) > 1
        if split or source_id and source.spec != sources[source_id - 1].spec:
            close()
        for piece in source.pieces:
            piece_size = (text_estimate(source) if piece.end is None else piece.end) - piece.start
            if current and size + piece_size > (shard_bytes if split else 2 * shard_bytes):
                close()
            current.append((source_id, source, piece, None))
            size += piece_size
        if split or _draws_cut(source.uri, text_estimate(source) / shard_bytes):
            close()
    close()
    return shards


def text_estimate(source: Source) -> int:
    """The bytes of text a source is expected to give, which is what a shard's work is in."""
    return source.size * (COMPRESSION_RATIO if source.compression else 1)


def with_reuse(items: list[Item], reuse: dict[int, list[Reuse]]) -> list[Item]:
    """The items, each piece of a reused source with where its rows are (plan_reuse)."""
    return [(source_id, source, piece, reuse[source_id][source.pieces.index(piece)] if source_id in reuse else None)
            for source_id, source, piece, _ in items]


def _draws_cut(uri: str, probability: float) -> bool:
    draw = int.from_bytes(hashlib.sha256(uri.encode()).digest()[:8], "big") / 2**64
    return draw < probability
