"""Finding and fingerprinting input sources: files, folders, globs, fsspec URIs, HF datasets.

`plan_sources` turns what the user typed into a list of `Source`s, each with its size,
sha256 and the byte ranges ("pieces") that can be read in parallel. A local file whose
size and modification time (ns) are those an earlier corpus recorded keeps the sha256 and
pieces recorded there instead of being read again (as git's index and make trust them;
touch a file to have it hashed anew).
"""
from __future__ import annotations

import glob as globlib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable

import fsspec
from fsspec.compression import compr

from seqpipe.core.errors import InputError

COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}
FORMATS = {".txt": "txt", ".text": "txt", ".md": "txt", ".rst": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
           ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
LINE_FORMATS = {"txt", "jsonl"}  # one record per line: safe to split at newlines
HF_PREFIX = "hf:"
BLOCK = 8 << 20


@dataclass(frozen=True)
class Piece:
    """Byte range [start, end) of an uncompressed line-based file; end None = to EOF."""
    start: int = 0
    end: int | None = None
    first_line: int = 1


@dataclass
class Source:
    uri: str
    format: str
    compression: str | None = None
    size: int = 0
    sha256: str = ""
    pieces: list[Piece] = field(default_factory=lambda: [Piece()])
    spec: int = 0          # which of the user's specs (files, folders, globs) it came from
    mtime_ns: int = 0      # local files: when it was last modified, as it was hashed

    def describe(self) -> dict:
        pieces = {"pieces": [[p.start, p.end, p.first_line] for p in self.pieces]} if len(self.pieces) > 1 else {}
        return {"uri": self.uri, "format": self.format, "compression": self.compression,
                "size": self.size, "sha256": self.sha256, "mtime_ns": self.mtime_ns, **pieces}


def plan_sources(specs: list[str], fmt: str = "auto", piece_bytes: int = 32 << 20,
                 txt_unit: str = "line", hf_split: str = "train",
                 check: Callable[[str], object] | None = None,
                 known: dict[str, dict] | None = None) -> tuple[list[Source], list[str]]:
    """Resolve and fingerprint every source; returns (sources, skipped files in folders).

    `check` (seqpipe.core.paths.check_path under runtime.strict_paths) sees each resolved file or
    URI before it is read, and raises to refuse it. `known`: an earlier corpus's source
    entries by uri (`Source.describe`), made with the same format, txt_unit and piece_bytes."""
    found, skipped = [], []
    for number, spec in enumerate(specs):
        f, s = _resolve(spec, fmt)
        found += [(*entry, number) for entry in f]
        skipped += s
    seen, sources = set(), []
    for uri, source_fmt, compression, number in found:
        if uri not in seen:
            seen.add(uri)
            if check is not None:
                check(uri)
            splittable = source_fmt in LINE_FORMATS and not (source_fmt == "txt" and txt_unit == "file")
            source = Source(uri, source_fmt, compression, spec=number)
            if source_fmt == "hf":
                sources.append(_fingerprint_hf(source, hf_split))
            elif not _recorded(source, (known or {}).get(uri)):
                sources.append(_fingerprint(source, piece_bytes, splittable))
            else:
                sources.append(source)
    if not sources:
        raise InputError(f"no input found in {specs}")
    return sources, skipped


def detect(path: str, fmt: str = "auto") -> tuple[str, str | None] | None:
    """(format, compression) from the file name; None when the extension is unknown."""
    suffixes = PurePosixPath(path).suffixes
    compression = COMPRESSIONS.get(suffixes[-1].lower()) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    if fmt != "auto":
        return fmt, compression
    found = FORMATS.get(suffixes[-1].lower()) if suffixes else None
    return (found, compression) if found else None


def open_binary(source: Source):
    """A binary file object over the (decompressed) content of a file or URI."""
    raw = open_raw(source.uri)
    return compr[source.compression](raw, mode="rb") if source.compression else raw


def open_raw(uri: str):
    """The stored bytes; plain open() for local paths (fsspec's set-up costs 0.1 ms a file)."""
    return open(uri, "rb") if "://" not in uri else fsspec.open(uri, "rb").open()


def is_hf_saved_dataset(path: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, name)) for name in ("dataset_dict.json", "state.json"))


def _resolve(spec: str, fmt: str) -> tuple[list[tuple], list[str]]:
    if spec.startswith(HF_PREFIX) or (fmt == "hf") or is_hf_saved_dataset(spec):
        return [(spec, "hf", None)], []
    fs, paths, unstrip = _expand(spec)
    if not paths or (len(paths) == 1 and not fs.exists(paths[0])):
        hint = " (did you mean a glob? quote it so the shell does not expand it)" if globlib.has_magic(spec) else ""
        raise InputError(f"no input matches {spec!r}{hint}")
    found, skipped = [], []
    explicit = len(paths) == 1 and not globlib.has_magic(spec)
    for path in sorted(paths):
        if fs.isdir(path):
            for child in sorted(_files_under(fs, path)):
                name = PurePosixPath(child).name
                if name.startswith("."):
                    continue
                kind = detect(child, fmt)
                (found.append((unstrip(child), *kind)) if kind else skipped.append(unstrip(child)))
        else:
            kind = detect(path, fmt)
            if kind is None and explicit:  # a named file with no known extension: plain text
                kind = ("txt", COMPRESSIONS.get(PurePosixPath(path).suffix.lower()))
            (found.append((unstrip(path), *kind)) if kind else skipped.append(unstrip(path)))
    return found, skipped


def _recorded(source: Source, entry: dict | None) -> bool:
    """Take size, sha256 and pieces from an earlier record of this local file if its size and
    modification time are still the recorded ones."""
    if entry is None or "://" in source.uri or not entry.get("mtime_ns"):
        return False
    try:
        stat = os.stat(source.uri)
    except OSError:
        return False
    if (stat.st_size, stat.st_mtime_ns) != (entry["size"], entry["mtime_ns"]) or entry["format"] != source.format:
        return False
    source.size, source.sha256, source.mtime_ns = entry["size"], entry["sha256"], entry["mtime_ns"]
    source.pieces = [Piece(*p) for p in entry.get("pieces", [])] or [Piece()]
    return True


def _expand(spec: str):
    """(file system, matching paths, how to make a path a URI again). Local globs go through
    Python's glob, which lists a folder of thousands of files four times faster than fsspec."""
    if "://" not in spec:
        from fsspec.implementations.local import LocalFileSystem

        path = os.path.abspath(os.path.expanduser(spec))
        return LocalFileSystem(), globlib.glob(path, recursive=True) if globlib.has_magic(path) else [path], str
    fs, _, paths = fsspec.get_fs_token_paths(spec)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return fs, paths, str if protocol in ("file", "local") else (lambda p: f"{protocol}://{p}")


def _files_under(fs, path: str) -> list[str]:
    if "file" in fs.protocol:
        return [os.path.join(root, name) for root, _, names in os.walk(path) for name in names]
    return fs.find(path)


def _fingerprint(source: Source, piece_bytes: int, splittable: bool) -> Source:
    """Hash the raw bytes; for uncompressed line formats also cut newline-aligned pieces."""
    splittable = splittable and source.compression is None
    if "://" not in source.uri:
        source.mtime_ns = os.stat(source.uri).st_mtime_ns  # before reading: a later write shows
    digest, size, lines = hashlib.sha256(), 0, 0
    pieces, piece_start, piece_line = [], 0, 1
    with open_raw(source.uri) as f:
        while block := f.read(BLOCK):
            digest.update(block)
            search_from = piece_start + piece_bytes - size
            while splittable and search_from < len(block):
                cut = block.find(b"\n", max(search_from, 0))
                if cut < 0:
                    break
                line_at_cut = lines + block.count(b"\n", 0, cut + 1)
                pieces.append(Piece(piece_start, size + cut + 1, piece_line))
                piece_start, piece_line = size + cut + 1, line_at_cut + 1
                search_from = piece_start + piece_bytes - size
            lines += block.count(b"\n")
            size += len(block)
    pieces.append(Piece(piece_start, None, piece_line))
    source.size, source.sha256, source.pieces = size, digest.hexdigest(), pieces
    return source


def _fingerprint_hf(source: Source, split: str) -> Source:
    dataset = load_hf(source.uri, split)
    source.size = int(dataset.data.nbytes)
    source.sha256 = hashlib.sha256(dataset._fingerprint.encode()).hexdigest()
    return source


def load_hf(spec: str, split: str = "train"):
    """A Hugging Face dataset saved with save_to_disk, or hf:NAME_OR_PATH for load_dataset."""
    import datasets

    try:
        if spec.startswith(HF_PREFIX):
            dataset = datasets.load_dataset(spec[len(HF_PREFIX):], split=split)
        else:
            dataset = datasets.load_from_disk(spec)
    except Exception as err:  # datasets raises many types; the user needs the source and the reason
        raise InputError(f"{spec}: cannot load as a Hugging Face dataset: {err}") from None
    if isinstance(dataset, datasets.DatasetDict):
        if split not in dataset:
            raise InputError(f"{spec}: no split {split!r} (has {sorted(dataset)}); set ingest.hf_split")
        dataset = dataset[split]
    return dataset
