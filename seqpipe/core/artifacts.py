"""Immutable, content-addressed artifact folders.

A stage writes into a hidden temporary folder beside its destination and renames it
into place only when complete, so a crash never leaves a half-written artifact, and a
rerun whose destination already exists is a no-op.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

from seqpipe.core.errors import OutputError

SCHEMA_VERSION = 1
RACY_NS = 2_000_000_000  # a file changed this recently is not cached: a same-tick rewrite would look unchanged


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def sha256_file(path: str | Path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | Path], cache: str | Path | None = None) -> list[str]:
    """The sha256 of each file's content, in order.

    With `cache` (a JSON file of path -> [size, mtime_ns, ctime_ns, sha256]), a file whose
    size and timestamps are those it had when it was hashed is not read again; a file
    changed in the last RACY_NS is hashed but not cached. A missing, corrupt or unwritable
    cache only costs the hashing.
    """
    known = _read_digests(cache) if cache else {}
    fresh: dict[str, list] = {}
    digests = []
    for path in (os.path.abspath(p) for p in paths):
        stat = os.stat(path)  # before reading: a change while hashing then misses the cache next time
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]
        entry = known.get(path)
        cached = entry[3] if isinstance(entry, list) and len(entry) == 4 and entry[:3] == stamp else None
        digests.append(cached or sha256_file(path))
        if cached is None and time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > RACY_NS:
            fresh[path] = stamp + [digests[-1]]
    if cache and fresh:
        _write_digests(Path(cache), {**known, **fresh})
    return digests


def _read_digests(cache: str | Path) -> dict:
    try:
        known = read_json(cache)
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _write_digests(cache: Path, digests: dict) -> None:
    """Replace the cache file atomically (concurrent writers lose entries, never corrupt it)."""
    tmp = cache.with_name(f".{cache.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(digests), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        tmp.unlink(missing_ok=True)


def json_text(obj: Any) -> str:
    """Indented for people, unless it is over a megabyte (a corpus of thousands of files):
    json's indenting encoder is pure Python, ten times slower than the compact one."""
    text = json.dumps(obj, default=str)
    if len(text) < 1 << 20:
        text = json.dumps(obj, indent=2, default=str)
    return text + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    Path(path).write_text(json_text(obj), encoding="utf-8")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def is_complete(folder: str | Path) -> bool:
    """A published artifact always has its manifest; temporary folders are hidden."""
    return (Path(folder) / "manifest.json").is_file()


@contextlib.contextmanager
def atomic_folder(final: str | Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes `final` (renamed) only if the block succeeds."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(final)
        tmp = final.parent / f".tmp-{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as err:
        raise OutputError(f"cannot write to {final.parent}: {err.strerror or err}") from None
    try:
        yield tmp
        try:
            os.rename(tmp, final)  # atomic: onto an existing folder it fails, whoever got there first
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not final.exists():
                raise
            shutil.rmtree(tmp)  # a concurrent run published the same content first
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError) and _is_write_failure(err):
            raise OutputError(f"cannot write {final.name} in {final.parent}: {err.strerror or err}; "
                              "nothing was published (free space or fix the folder, then rerun)") from None
        raise


WRITE_FAILURES = {errno.ENOSPC: "No space left", errno.EFBIG: "File too large", errno.EDQUOT: "Disk quota",
                  errno.EROFS: "Read-only file system"}


def _is_write_failure(err: OSError) -> bool:
    """A full disk, a size limit or a read-only disk, also when pyarrow reports it as text only."""
    return err.errno in WRITE_FAILURES or any(text in str(err) for text in WRITE_FAILURES.values())


def _remove_stale_temporaries(final: Path) -> None:
    """Delete temporaries left by crashed runs (their process is gone) for this destination."""
    for tmp in final.parent.glob(f".tmp-{final.name}-*"):
        pid = tmp.name[len(f".tmp-{final.name}-"):].split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
