"""What every record reader shares: one Reject, the reject policy (count, keep, and fail
clearly past the limit), the seeded held-out split of the training records, and reading
a possibly compressed data file."""
from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from seqpipe.core.errors import InputError, RejectRateExceeded

REJECT_TEXT_CHARS = 2000  # of a rejected record's raw text, kept in rejects.jsonl
# What reading a user's Parquet file may raise: a bad footer or page (Arrow), an unreadable
# file, or column names that are not UTF-8 (pyarrow decodes them while opening the file).
PARQUET_ERRORS = (OSError, pa.ArrowException, UnicodeDecodeError)
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}  # by suffix; anything else: open


@dataclass
class Reject:
    """A record a reader refused: where it is, why, and its raw text (truncated)."""
    origin: str            # the file holding the problem
    line: int              # 1-based line (or row) of the problem
    reason: str
    text: str

    @classmethod
    def of(cls, origin, line: int, reason: str, text: str) -> "Reject":
        return cls(str(origin), line, reason, text[:REJECT_TEXT_CHARS])

    @property
    def source(self) -> str:  # the CoNLL reader's name for the file
        return self.origin


def hold_out(records: list, fraction: float, seed: int) -> tuple[list, list]:
    """(rest, held out): a seeded random `fraction` of the records (at least one), both in
    their original order."""
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    cut = max(1, int(len(order) * fraction))
    return [records[i] for i in sorted(order[cut:])], [records[i] for i in sorted(order[:cut])]


def enforce_reject_policy(rejects: list[tuple[str, str]], read: int, max_rate: float, unit: str, setting: str,
                          files: list[str], long_unit: str | None = None) -> None:
    """rejects: (file:line, reason) of each rejected record, in reading order; read: records read;
    unit: what a record is ("sentences"), long_unit its name when none is found (default: unit).

    No record at all, any reject with max_rate 0, every record rejected: InputError naming the
    first reject; a reject share over max_rate: RejectRateExceeded with the first three.
    """
    if read == 0:
        raise InputError(f"{', '.join(files)}: no {long_unit or unit} found")
    if not rejects:
        return
    where, reason = rejects[0]
    counts = f"{len(rejects)} of {read} {unit} rejected"
    if max_rate <= 0:
        raise InputError(f"{where}: {reason} ({counts}; set {setting} to accept and skip them)")
    if len(rejects) == read:
        raise InputError(f"{where}: {reason} (all {read} {unit} rejected)")
    rate = len(rejects) / read
    if rate > max_rate:
        examples = "; ".join(f"{w}: {r}" for w, r in rejects[1:3])
        more = f"; then {examples}" if examples else ""
        raise RejectRateExceeded(f"{where}: {reason}{more} ({counts}, {rate:.1%} > {setting} {max_rate:.1%})")


def data_files(spec: str | None, what: str = "data file") -> list[str]:
    """The files a split names: a file, a folder (every file under it) or a glob; [] for none."""
    if not spec:
        return []
    paths = sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]
    out = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path}: no such {what}")
        out += sorted(str(p) for p in path.rglob("*") if p.is_file()) if path.is_dir() else [str(path)]
    if not out:
        raise InputError(f"{spec}: matches no files")
    return out


def read_bytes(path: Path) -> bytes:
    """A data file's bytes, decompressed by its suffix (.gz, .bz2, .xz); a clear error if unreadable."""
    opener = OPENERS.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as err:
        raise InputError(f"{path}: cannot be read: {err}") from None


def open_for_writing(path: Path):
    """A text file opened for writing, compressed by its suffix like read_bytes reads it."""
    return OPENERS.get(path.suffix.lower(), open)(path, "wt", encoding="utf-8", newline="\n")
