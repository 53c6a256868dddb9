"""Incremental ingestion: the processed rows of unchanged sources come from an earlier corpus.

A source whose (uri, sha256) is listed in the newest earlier complete corpus of the same
output folder, written with the same output config, is not read again. A shard made of
exactly the pieces of an earlier shard (same sources, contents, byte ranges and source
ids: the same `shard_key`) is that shard's files, hard-linked: nothing is read or
written. Any other shard item of an unchanged source copies its rows and rejects from the
earlier shards, one Parquet row group at a time (found by the shard's source range in the
manifest and the row groups' min/max statistics), so memory stays bounded however large
the corpus is.
"""
from __future__ import annotations

import functools
import os
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seqpipe.core.artifacts import SCHEMA_VERSION, read_json, sha256_json
from seqpipe.data.sources import Source


@dataclass(frozen=True)
class Reuse:
    """Where the rows of one piece of an unchanged source are in an earlier corpus."""
    corpus: str               # the earlier corpus's folder name
    old_id: int               # the source's index in that corpus's manifest["sources"]
    uri: str
    first: int | None         # doc_id (and reject line) range [first, end) of the piece; None = open
    end: int | None
    data: tuple[str, ...]     # data/ shards that may hold its rows
    rejects: tuple[str, ...]  # rejects/ shards that may hold its rejects


@dataclass
class Previous:
    folder: Path
    manifest: dict
    matches: dict[int, int]  # new source id -> old source id


def find_previous(out: Path, config: dict, schema: str, sources: list[Source]) -> Previous | None:
    """The newest complete corpus in `out` written with `config` that holds any source unchanged."""
    wanted = {(s.uri, s.sha256): i for i, s in enumerate(sources) if s.sha256}
    for manifest in newest_manifests(out):
        if not _compatible(manifest, config, schema):
            continue
        matches = {wanted[key]: old for old, s in enumerate(manifest["sources"])
                   if (key := (s.get("uri"), s.get("sha256"))) in wanted}
        if matches:
            return Previous(Path(manifest["folder"]), manifest, matches)
    return None


def newest_manifests(out: Path) -> Iterator[dict]:
    """The manifests of the complete corpora in `out`, newest first, each with its "folder"."""
    for path in sorted(out.glob("corpus-*/manifest.json"), key=_mtime, reverse=True):
        try:
            yield {**_read_manifest(str(path), _mtime(path)), "folder": str(path.parent)}
        except (OSError, ValueError):
            continue


@functools.lru_cache(maxsize=2)
def _read_manifest(path: str, mtime_ns: int) -> dict:
    """One parse per manifest version: an ingest asks for the newest one twice (recorded
    file fingerprints, then the reusable shards), and a big corpus's runs to megabytes."""
    return read_json(path)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _compatible(manifest: dict, config: dict, schema: str) -> bool:
    """Same schema and output config, and written with the per-source and per-shard fields reuse needs."""
    return (manifest.get("kind") == "corpus" and manifest.get("schema_version") == SCHEMA_VERSION
            and manifest.get("schema") == schema and "incremental" in manifest
            and all(manifest.get("config", {}).get(k) == v for k, v in config.items())
            and all("text_bytes" in s for s in manifest.get("sources", []))
            and all("sources" in s for s in manifest.get("shards", [])))


def plan_reuse(previous: Previous, sources: list[Source], wanted: set[int]) -> dict[int, list[Reuse]]:
    """For each reused source id in `wanted`, one Reuse per piece (in the order of source.pieces)."""
    files: dict[int, list[str]] = {}
    for shard in previous.manifest["shards"]:  # each shard holds a contiguous range of source ids
        first, last = shard["sources"]
        for old_id in range(first, last + 1):
            files.setdefault(old_id, []).append(Path(shard["path"]).name)
    folder = previous.folder.resolve()
    plan = {}
    for new_id, old_id in previous.matches.items():
        if new_id not in wanted:
            continue
        names = files.get(old_id, [])
        data = tuple(str(folder / "data" / n) for n in names)
        rejects = tuple(str(folder / "rejects" / n) for n in names)
        pieces = sources[new_id].pieces
        bounds = [(p.first_line, n.first_line) for p, n in zip(pieces, pieces[1:])] + [(pieces[-1].first_line, None)]
        if len(pieces) == 1:
            bounds = [(None, None)]
        plan[new_id] = [Reuse(folder.name, old_id, sources[new_id].uri, first, end, data, rejects)
                        for first, end in bounds]
    return plan


def shard_key(items: list[tuple]) -> str:
    """What a shard is made of: each piece's source id, uri, content hash and line range.
    Written with the same output config, two shards with one key are the same bytes."""
    return sha256_json([[source_id, source.uri, source.sha256, piece.start, piece.end, piece.first_line]
                        for source_id, source, piece, _ in items])


def link_unchanged_shards(previous: Previous, keys: list[str], tmp: Path) -> dict[int, dict]:
    """Hard-link the earlier corpus's data/, rejects/ and counts/ files of every shard whose
    key it lists (a copy where the file system has no hard links); returns, for each
    linked shard id, what ingesting it would have returned (its sources' counts are the
    earlier manifest's, as for every reused source)."""
    earlier = {shard["key"]: shard for shard in previous.manifest["shards"] if "key" in shard}
    linked = {}
    for shard_id, key in enumerate(keys):
        shard = earlier.get(key)
        if shard is None:
            continue
        name, old = f"part-{shard_id:05d}.parquet", Path(shard["path"]).name
        for folder in ("data", "rejects", "counts"):
            _link(previous.folder / folder / old, tmp / folder / name)
        linked[shard_id] = {"file": name, "sha256": shard["sha256"], "reasons": shard["reasons"], "counts": {},
                            "totals": {"sentences": shard["rows"], "tokens": shard["tokens"]}}
    return linked


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, target)


class ReuseReader:
    """Reads reused rows and rejects row group by row group; keeps the last few row groups
    and open files, since consecutive sources usually share them."""

    KEEP = 4

    def __init__(self) -> None:
        self.files: OrderedDict[str, pq.ParquetFile] = OrderedDict()
        self.groups: OrderedDict[tuple[str, int], pa.Table] = OrderedDict()

    def rows(self, reuse: Reuse) -> Iterator[pa.Table]:
        """The piece's corpus rows, in their stored order (doc_id, sent_id), old source ids kept."""
        for path in reuse.data:
            for i in self._candidates(path, "source_id", reuse.old_id, "doc_id", reuse):
                table = self._group(path, i)
                yield table.filter(_mask(table, "source_id", reuse.old_id, "doc_id", reuse))

    def rejects(self, reuse: Reuse) -> Iterator[pa.Table]:
        for path in reuse.rejects:
            for i in self._candidates(path, "source", reuse.uri, "line", reuse):
                table = self._group(path, i)
                yield table.filter(_mask(table, "source", reuse.uri, "line", reuse))

    def _candidates(self, path: str, key: str, value, position: str, reuse: Reuse) -> Iterator[int]:
        """Row groups whose statistics do not rule out rows of (key == value, position in range)."""
        meta = self._file(path).metadata
        columns = {meta.schema.column(j).path: j for j in range(meta.num_columns)}
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            keys, places = group.column(columns[key]).statistics, group.column(columns[position]).statistics
            if keys is not None and keys.has_min_max:
                if not keys.min <= value <= keys.max:
                    continue
                if keys.min == keys.max and places is not None and places.has_min_max and (
                        (reuse.end is not None and places.min >= reuse.end)
                        or (reuse.first is not None and places.max < reuse.first)):
                    continue
            yield i

    def _file(self, path: str) -> pq.ParquetFile:
        if path not in self.files:
            if len(self.files) >= self.KEEP:
                self.files.popitem(last=False)[1].close()
            self.files[path] = pq.ParquetFile(path)
        self.files.move_to_end(path)
        return self.files[path]

    def _group(self, path: str, i: int) -> pa.Table:
        if (path, i) not in self.groups:
            if len(self.groups) >= self.KEEP:
                self.groups.popitem(last=False)
            self.groups[(path, i)] = self._file(path).read_row_group(i)
        self.groups.move_to_end((path, i))
        return self.groups[(path, i)]

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        self.files.clear()
        self.groups.clear()


def _mask(table: pa.Table, key: str, value, position: str, reuse: Reuse) -> pa.ChunkedArray:
    mask = pc.equal(table.column(key), value)
    if reuse.first is not None:
        mask = pc.and_(mask, pc.greater_equal(table.column(position), reuse.first))
    if reuse.end is not None:
        mask = pc.and_(mask, pc.less(table.column(position), reuse.end))
    return mask

