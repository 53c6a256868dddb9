"""Incremental ingestion: the processed rows of unchanged sources come from an earlier corpus.

A source whose (uri, sha256) is listed in the newest earlier complete corpus of the same
output folder, written with the same output config, is not read again: each of its shard
items copies its rows and rejects from that corpus's shards instead, one Parquet row group
at a time (found by the shard's source range in the manifest and the row groups' min/max
statistics), so memory stays bounded however large the corpus is.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seqpipe.core.artifacts import SCHEMA_VERSION, read_json
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
    for path in sorted(out.glob("corpus-*/manifest.json"), key=_mtime, reverse=True):
        try:
            manifest = read_json(path)
        except (OSError, ValueError):
            continue
        if not _compatible(manifest, config, schema):
            continue
        matches = {wanted[key]: old for old, s in enumerate(manifest["sources"])
                   if (key := (s.get("uri"), s.get("sha256"))) in wanted}
        if matches:
            return Previous(path.parent, manifest, matches)
    return None


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


def plan_reuse(previous: Previous, sources: list[Source]) -> dict[int, list[Reuse]]:
    """For each reused source id, one Reuse per piece (in the order of source.pieces)."""
    files: dict[int, list[str]] = {}
    for shard in previous.manifest["shards"]:  # each shard holds a contiguous range of source ids
        first, last = shard["sources"]
        for old_id in range(first, last + 1):
            files.setdefault(old_id, []).append(Path(shard["path"]).name)
    folder = previous.folder.resolve()
    plan = {}
    for new_id, old_id in previous.matches.items():
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

