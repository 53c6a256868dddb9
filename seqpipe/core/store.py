"""Stage folders on object storage (runtime.state_dir or a stage's `out` given as a URI such
as s3://bucket/seqpipe): published by manifest-last, used through local working copies.

Object stores have no rename, so a folder is published in three steps: its files are
uploaded under a hidden temporary prefix beside it (.tmp-<name>-<host>-<pid>-<id>/), copied
into place on the server, and `manifest.json` is written last. A folder counts as published
only when its manifest exists; readers (`is_published`, `fetch`) look at nothing else, so
they never see partial output. A temporary prefix whose writer is gone (the same host and
a dead process, or older than STALE_SECONDS) is deleted by the next publisher of that folder.

A stage builds into a local working copy (seqpipe.core.artifacts.atomic_folder) and
publishes it; a stage that reads an upstream folder reads the working copy, downloaded once
per machine (`fetch`). Published folders are immutable and named by their inputs' hash, so a
working copy whose manifest equals the published one is the folder.
"""
from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, is_complete, process_alive
from seqpipe.core.errors import OutputError
from seqpipe.core.paths import is_uri

MANIFEST = "manifest.json"
STALE_SECONDS = 24 * 3600  # another host's temporary prefix this old is a crashed writer's


@dataclass(frozen=True)
class Output:
    """Where a stage's folder is built (`local`) and where it is published (`uri`: the same
    folder for local state, a URI on object storage)."""
    local: Path
    uri: str

    @property
    def remote(self) -> bool:
        return is_uri(self.uri)


def working_copy(uri: str, cache: Path) -> Path:
    """The local folder that holds a copy of the object-storage folder `uri`."""
    scheme, rest = uri.split("://", 1)
    return Path(cache).resolve() / scheme / rest.strip("/")


def filesystem(uri: str):
    """The fsspec file system for `uri` (credentials and endpoint from the usual environment:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL for S3)."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(uri)[0]
    except ImportError as err:
        raise OutputError(f"{uri}: {err}") from None


def is_published(uri: str) -> bool:
    return filesystem(uri).exists(f"{uri.rstrip('/')}/{MANIFEST}")


def fetch(uri: str, local: Path) -> Path:
    """`local` holding the published folder `uri`: downloaded unless it already is a copy."""
    fs, remote = filesystem(uri), uri.rstrip("/")
    manifest = fs.cat_file(f"{remote}/{MANIFEST}")
    if is_complete(local) and (local / MANIFEST).read_bytes() == manifest:
        return local
    with atomic_folder(local) as tmp:
        if local.exists():  # an outdated copy (the published folder was deleted and rebuilt)
            shutil.rmtree(local)
        files = [path for path in fs.find(remote) if not path.endswith(f"/{MANIFEST}")]
        if files:
            fs.get(files, [str(_inside(tmp, _relative(path, fs._strip_protocol(remote)), uri)) for path in files])
        (tmp / MANIFEST).write_bytes(manifest)
    return local


def published(parent: str, prefix: str) -> list[str]:
    """The published folders under `parent` whose names start with `prefix`, oldest first."""
    fs = filesystem(parent)
    try:
        manifests = fs.glob(f"{fs._strip_protocol(parent).rstrip('/')}/{prefix}*/{MANIFEST}", detail=True)
    except FileNotFoundError:
        return []
    scheme = parent.split("://", 1)[0]
    ordered = sorted(manifests.items(), key=lambda item: str(item[1].get("LastModified") or item[1].get("mtime")))
    return [f"{scheme}://{path.rsplit('/', 1)[0]}" for path, _ in ordered]


def publish(local: Path, uri: str) -> bool:
    """Upload the complete folder `local` as `uri`, manifest last; False when another writer
    published it first (its copy is kept, ours dropped)."""
    fs, remote = filesystem(uri), uri.rstrip("/")
    parent, name = remote.rsplit("/", 1)
    _remove_stale_temporaries(fs, parent, name)
    tmp = f"{parent}/.tmp-{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    files = sorted(p for p in local.rglob("*") if p.is_file() and p != local / MANIFEST)
    try:
        if files:
            fs.put([str(p) for p in files], [f"{tmp}/{p.relative_to(local).as_posix()}" for p in files])
        if fs.exists(f"{remote}/{MANIFEST}"):
            return False
        if fs.exists(remote):  # an unpublished remainder of a writer that died while copying
            fs.rm(remote, recursive=True)
        if files:
            fs.copy([f"{tmp}/{p.relative_to(local).as_posix()}" for p in files],
                    [f"{remote}/{p.relative_to(local).as_posix()}" for p in files])
        fs.pipe_file(f"{remote}/{MANIFEST}", (local / MANIFEST).read_bytes())
        return True
    except OSError as err:
        raise OutputError(f"cannot publish {local.name} to {uri}: {err}; nothing was published "
                          "(the local copy is kept: rerun to publish it)") from None
    finally:
        _remove_quietly(fs, tmp)


def _remove_stale_temporaries(fs, parent: str, name: str) -> None:
    """Delete the temporary prefixes of crashed writers of `name` under `parent`."""
    try:
        entries = fs.ls(parent, detail=False, refresh=True)
    except FileNotFoundError:
        return
    prefix = f".tmp-{name}-"
    for entry in entries:
        base = entry.rstrip("/").rsplit("/", 1)[-1]
        if base.startswith(prefix) and _writer_gone(fs, entry, base[len(prefix):]):
            _remove_quietly(fs, entry)


def _writer_gone(fs, path: str, writer: str) -> bool:
    parts = writer.rsplit("-", 2)  # <host>-<pid>-<random>
    host, pid = (parts[0], parts[1]) if len(parts) == 3 else ("", "")
    if host == socket.gethostname() and pid.isdigit():
        return not process_alive(int(pid))
    modified = [info.get("LastModified") or info.get("mtime") for info in fs.find(path, detail=True).values()]
    newest = max((m.timestamp() if hasattr(m, "timestamp") else float(m) for m in modified if m), default=0.0)
    return time.time() - newest > STALE_SECONDS


def _remove_quietly(fs, path: str) -> None:
    try:
        fs.rm(path, recursive=True)
    except (FileNotFoundError, OSError):
        pass


def _relative(path: str, root: str) -> str:
    return path[len(root):].lstrip("/")


def _inside(folder: Path, key: str, uri: str) -> Path:
    """folder / key, refused when the key would leave the folder (`..`, an absolute path): an
    object key is anyone's who can write the bucket, a local path is this user's."""
    target = (folder / key).resolve()
    if ".." in key.split("/") or not target.is_relative_to(folder.resolve()):
        raise OutputError(f"{uri}: refusing object {key!r}, which would be written outside the folder's "
                          f"working copy; nothing of the folder was downloaded")
    return target
