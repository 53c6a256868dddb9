"""Stage folders on object storage (runtime.state_dir or a stage's `out` given as a URI such
as s3://bucket/seqpipe): published by one conditional create of the manifest, used through
local working copies.

Many writers may build the same folder at once (two nightly runs, a run and a `seqpipe
finetune`, machines of a cluster). Each uploads its files under a prefix of its own inside
the folder, `files-<writer id>/`, then creates `manifest.json` only if none exists (S3's
`If-None-Match: *`; exclusive create on other file systems). Exactly one writer wins; the
published manifest names the winner's prefix and the sha256 of each of its files, so a
published folder is always one writer's whole output. A loser removes its prefix and uses
the winner's folder. A folder counts as published only when its manifest exists; readers
(`is_published`, `fetch`) look at nothing else, and `fetch` checks every file against its
digest and refuses any key that would leave the folder.

While it uploads, a writer keeps a lease: `files-<id>.lease`, rewritten every quarter of
LEASE_SECONDS. A prefix that no manifest names and whose lease is older than LEASE_SECONDS
(by the store's clock; machines' clocks must agree within a lease) is a dead or stalled
writer's, and the next writer of the folder removes it. A writer that could not renew its
lease in time gives up without publishing, so a stalled writer whose prefix was removed
never publishes it. Folders published before this layout (files beside the manifest) are
still read.

A stage builds into a local working copy (seqpipe.core.artifacts.atomic_folder) and
publishes it; a stage that reads an upstream folder reads the working copy, downloaded once
per machine (`fetch`). Published folders are immutable and named by their inputs' hash, so a
working copy whose manifest equals the published one is the folder.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, is_complete, json_text, sha256_file
from seqpipe.core.errors import OutputError
from seqpipe.core.paths import is_uri

MANIFEST = "manifest.json"
FILES = "files-"  # a writer's prefix inside the folder: files-<writer id>/
LEASE = ".lease"  # beside it: files-<writer id>.lease, the writer's heartbeat
LEASE_SECONDS = float(os.environ.get("SEQPIPE_STORE_LEASE_SECONDS", 120))
CLAIM_SECONDS = 900  # a claim (`claim`) older than this is a dead claimer's: registering takes seconds


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
    """`local` holding the published folder `uri`: downloaded unless it already is a copy, each
    file checked against the manifest's digest."""
    fs, remote = filesystem(uri), uri.rstrip("/")
    manifest = fs.cat_file(f"{remote}/{MANIFEST}")
    if _copy_of(local, manifest):
        return local
    digests, sources = _published_files(fs, remote, manifest)
    if local.exists() and not _copy_of(local, manifest):  # outdated (the folder was deleted and rebuilt)
        shutil.rmtree(local, ignore_errors=True)
    with atomic_folder(local) as tmp:  # a copy another process finished first wins; ours is dropped
        targets = [str(_inside(tmp, rel, uri)) for rel in sources.values()]
        if sources:
            fs.get(list(sources), targets)
        for rel, digest in digests.items():
            if sha256_file(tmp / rel) != digest:
                raise OutputError(f"{uri}: {rel} does not match the digest its manifest lists; the folder "
                                  "was changed after it was published (delete it to rebuild it)")
        (tmp / MANIFEST).write_bytes(manifest)
    return local


def _copy_of(local: Path, manifest: bytes) -> bool:
    """Whether `local` is a complete working copy of the folder published with `manifest`."""
    return is_complete(local) and (local / MANIFEST).read_bytes() == manifest


def _published_files(fs, remote: str, manifest: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """({file: sha256}, {object key: file}) of a published folder: the files of the prefix its
    manifest names, or (a folder published before writers had prefixes) every object beside it."""
    published = json.loads(manifest).get("published")
    root = fs._strip_protocol(remote)
    if published:
        prefix = f"{root}/{published['files']}"
        return published["digests"], {f"{prefix}/{rel}": rel for rel in published["digests"]}
    keys = [path for path in fs.find(remote) if not path.endswith(f"/{MANIFEST}")]
    return {}, {key: _relative(key, root) for key in keys}


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


def claim(folder: str, what: str, stale_after: float = CLAIM_SECONDS) -> bool:
    """Whether this process is the one to do `what` once for the stage folder `folder` (a URI or
    a local path), such as registering it as a model: the first of many processes to create
    `<parent>/.claims/<folder name>.<what>` wins (a conditional create, as `publish`). A claim
    older than `stale_after` seconds is taken over: its claimer died before doing it (the caller
    checks first whether it was done)."""
    parent, name = folder.rstrip("/").rsplit("/", 1)
    path, stamp = f"{parent}/.claims/{name}.{what}", json.dumps({"host": socket.gethostname(), "pid": os.getpid()})
    if not is_uri(folder):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(stamp)
            return True
        except FileExistsError:
            if time.time() - Path(path).stat().st_mtime <= stale_after:
                return False
            Path(path).write_text(stamp, encoding="utf-8")
            return True
    fs = filesystem(folder)
    if _create_exclusive(fs, path, stamp.encode()):
        return True
    if not _lapsed(fs.info(path), stale_after):
        return False
    fs.pipe_file(path, stamp.encode())
    return True


def publish(local: Path, uri: str) -> bool:
    """Upload the complete folder `local` as `uri`; False when another writer published it first
    (its folder is kept, ours dropped). On success the local manifest is the published one."""
    fs, remote = filesystem(uri), uri.rstrip("/")
    if fs.exists(f"{remote}/{MANIFEST}"):
        return False
    _remove_abandoned(fs, remote)
    writer = f"{FILES}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file() and p != local / MANIFEST)
    manifest = json.loads((local / MANIFEST).read_text(encoding="utf-8"))
    manifest["published"] = {"files": writer, "digests": {rel: sha256_file(local / rel) for rel in files}}
    data = json_text(manifest).encode()
    won = False
    try:
        with _Lease(fs, f"{remote}/{writer}{LEASE}") as lease:
            if files:
                fs.put([str(local / rel) for rel in files], [f"{remote}/{writer}/{rel}" for rel in files])
            lease.check(uri)
            won = _create_exclusive(fs, f"{remote}/{MANIFEST}", data)
        if won:
            _check_complete(fs, remote, writer, len(files), uri)
            (local / MANIFEST).write_bytes(data)
        return won
    except OSError as err:
        raise OutputError(f"cannot publish {local.name} to {uri}: {err}; nothing was published "
                          "(the local copy is kept: rerun to publish it)") from None
    finally:
        if not won:
            _remove_quietly(fs, f"{remote}/{writer}")


class _Lease:
    """A writer's heartbeat object, rewritten every LEASE_SECONDS / 4 by a thread until the block
    ends (then removed); `check` fails when it could not be renewed within a lease."""

    def __init__(self, fs, path: str):
        # a client of its own: the uploads' requests fill the shared client's connections
        self.fs = type(fs)(**fs.storage_options, skip_instance_cache=True)
        self.path, self.stop, self.renewed = path, threading.Event(), 0.0

    def _renew(self) -> None:
        self.fs.pipe_file(self.path, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
        self.renewed = time.monotonic()

    def _beat(self) -> None:
        while not self.stop.wait(LEASE_SECONDS / 4):
            try:
                self._renew()
            except OSError:
                pass  # check() notices a lease not renewed in time

    def __enter__(self) -> "_Lease":
        self._renew()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="seqpipe-store-lease")
        self.thread.start()
        return self

    def check(self, uri: str) -> None:
        """Give up when the lease may have lapsed: another writer may have removed our prefix."""
        self.fs.invalidate_cache(self.path)
        if time.monotonic() - self.renewed > LEASE_SECONDS * 0.75 or not self.fs.exists(self.path):
            raise OutputError(f"cannot publish {uri}: this writer's lease lapsed while it uploaded (stalled "
                              f"over {LEASE_SECONDS:g} s), so its files may have been removed; nothing was "
                              "published (rerun to publish it)")

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        _remove_quietly(self.fs, self.path)


def _create_exclusive(fs, path: str, data: bytes) -> bool:
    """Write `path` only if it does not exist (one writer of many wins); False when it existed."""
    try:
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except TypeError:  # a file system without mode="create": its exclusive open
        try:
            with fs.open(path, "xb") as f:
                f.write(data)
        except FileExistsError:
            return False
    return True


def _check_complete(fs, remote: str, writer: str, count: int, uri: str) -> None:
    """After winning: our prefix still holds every file (a writer stalled between its lease check
    and its create may have lost them); else the manifest we created is withdrawn."""
    fs.invalidate_cache(f"{remote}/{writer}")
    if count and len(fs.find(f"{remote}/{writer}")) != count:
        _remove_quietly(fs, f"{remote}/{MANIFEST}")
        raise OutputError(f"cannot publish {uri}: this writer stalled past its lease and its files were removed "
                          "by another writer; nothing was published (rerun to publish it)")


def _remove_abandoned(fs, remote: str) -> None:
    """Remove the prefixes of writers of this folder that are dead or stalled: no lease, or one
    older than LEASE_SECONDS, and not the prefix a manifest names (a winner removes its lease
    after creating the manifest, so the manifest is read after the listing)."""
    try:
        entries = fs.ls(remote, detail=True, refresh=True)
    except FileNotFoundError:
        return
    try:
        named = (json.loads(fs.cat_file(f"{remote}/{MANIFEST}")).get("published") or {}).get("files")
    except FileNotFoundError:
        named = None
    leases = {_base(e["name"])[: -len(LEASE)]: e for e in entries if e["name"].endswith(LEASE)}
    writers = {_base(e["name"]).removesuffix(LEASE) for e in entries if _base(e["name"]).startswith(FILES)}
    for writer in writers - {named}:
        if _lapsed(leases.get(writer)):  # the files first: a prefix without its lease is abandoned
            _remove_quietly(fs, f"{remote}/{writer}")
            _remove_quietly(fs, f"{remote}/{writer}{LEASE}")


def _base(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _lapsed(lease: dict | None, seconds: float | None = None) -> bool:
    """Whether `lease` (an object's info) is older than `seconds` (default: LEASE_SECONDS, read now)."""
    if lease is None:
        return True
    modified = lease.get("LastModified") or lease.get("mtime") or lease.get("created")
    stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified or 0)
    return time.time() - stamp > (LEASE_SECONDS if seconds is None else seconds)


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
