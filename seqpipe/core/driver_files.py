"""The driver's files for Ray tasks and Ray Train workers on other machines, which never read
the driver's disk: a cluster shares nothing but the bucket (runtime.state_dir on object storage).

The driver hands a path on with `send`, which leaves it as it is on a single machine (or with
runtime.shared_disk) and, on a cluster of several nodes, attaches how another node gets the same bytes: the folder's URI when
the path is the working copy of a folder published on object storage (fetched once per machine
into that machine's store cache, checked against its digests), else the files themselves in
Ray's object store. `received` turns what was sent back into local paths on the node it runs
on: the driver's own node uses the driver's paths. `send_paths` / `received_paths` do the same
for every absolute path inside a task's configuration.
"""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from seqpipe.core import store
from seqpipe.core.fanout import get_object, node_id, put_object, several_nodes


@dataclass(frozen=True)
class Sent:
    """A path of the driver's machine, as a task or worker on any node can get it."""
    path: str               # on the driver's machine
    node: str               # the driver's Ray node
    uri: str | None = None  # the published folder on object storage that `path` is a working copy of
    files: Any = None       # else, on a cluster of several nodes: Ray's object ref of {relative name: bytes}


def send(path: str | Path, runtime) -> Sent:
    """`path` (a file or a folder of this machine) for tasks and workers on any node."""
    path, here = str(Path(path).resolve()), node_id()
    if runtime.shared_disk or not several_nodes():
        return Sent(path, here)
    uri = published_uri(Path(path), runtime.store_cache)
    return Sent(path, here, uri) if uri else Sent(path, here, files=put_object(_read_files(Path(path))))


def received(sent: Sent, runtime, scratch: Path) -> str:
    """The local path holding what `sent` names, on this node: the driver's own path on its
    node, a working copy of a published folder, or the sent files written under `scratch`."""
    if sent.node == node_id():
        return sent.path
    if sent.uri:
        return str(store.fetch(sent.uri, store.working_copy(sent.uri, runtime.store_cache)))
    if sent.files is None:  # sent to a cluster of one node, or with runtime.shared_disk
        return sent.path
    files = get_object(sent.files)
    target = Path(tempfile.mkdtemp(dir=scratch)) / Path(sent.path).name
    if list(files) == [""]:  # a single file
        target.write_bytes(files[""])
        return str(target)
    for rel, data in files.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(data)
    target.mkdir(exist_ok=True)
    return str(target)


def send_paths(config: Any, runtime) -> Any:
    """`config` with every absolute path of an existing file or folder in it (in dicts and lists,
    at any depth) replaced by what `send` makes of it."""
    if isinstance(config, dict):
        return {key: send_paths(value, runtime) for key, value in config.items()}
    if isinstance(config, list):
        return [send_paths(value, runtime) for value in config]
    if isinstance(config, str) and config.startswith("/") and Path(config).exists():
        return send(config, runtime)
    return config


@contextmanager
def received_paths(config: Any, runtime) -> Iterator[Any]:
    """`config` with every `Sent` in it replaced by its local path on this node; files that
    came through Ray's object store live in a temporary folder until the block ends."""
    scratch = Path(tempfile.mkdtemp(prefix="seqpipe-received-"))
    try:
        yield _replace_sent(config, runtime, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def published_uri(path: Path, cache: Path) -> str | None:
    """The published folder on object storage of which `path` is the working copy under `cache`
    (runtime.store_cache); None for any other path, and for a copy that is not (yet) published."""
    try:
        parts = path.resolve().relative_to(Path(cache).resolve()).parts
    except ValueError:
        return None
    if len(parts) < 2:
        return None
    uri = f"{parts[0]}://{'/'.join(parts[1:])}"
    manifest = path / store.MANIFEST
    if not manifest.is_file() or not store.is_published(uri):
        return None
    return uri if store.filesystem(uri).cat_file(f"{uri}/{store.MANIFEST}") == manifest.read_bytes() else None


def _replace_sent(config: Any, runtime, scratch: Path) -> Any:
    if isinstance(config, Sent):
        return received(config, runtime, scratch)
    if isinstance(config, dict):
        return {key: _replace_sent(value, runtime, scratch) for key, value in config.items()}
    if isinstance(config, list):
        return [_replace_sent(value, runtime, scratch) for value in config]
    return config


def _read_files(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
