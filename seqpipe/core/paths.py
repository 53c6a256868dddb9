"""Where data may come from: with runtime.strict_paths on, every data path a config or a
manifest names must lie under one of runtime.data_roots (or the state folder).

Local paths are compared after `Path.resolve()`, so `..` and symlinks that lead outside a
root are refused. URIs (s3://..., hf:NAME) are allowed only under a root given as a URI
prefix (e.g. `s3://bucket/corpora/`). With strict_paths off (the default) nothing is checked.
"""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

from seqpipe.core.errors import InputError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://|^hf:")


def allowed_roots(runtime_or_roots) -> list[str] | None:
    """The roots to check against: None when nothing is checked (strict_paths off).

    Takes a RuntimeConfig (its data_roots plus its state folder, when strict) or a list
    of roots (already decided: checked), or None (not checked)."""
    if runtime_or_roots is None:
        return None
    if isinstance(runtime_or_roots, (list, tuple)):
        return [str(root) for root in runtime_or_roots]
    if not runtime_or_roots.strict_paths:
        return None
    state = runtime_or_roots.state_dir
    return [*runtime_or_roots.data_roots, state, *([str(runtime_or_roots.local_dir)] if is_uri(state) else [])]


def is_uri(path: str | Path) -> bool:
    return isinstance(path, str) and bool(_SCHEME.match(path))


def readable_everywhere(uri: str) -> bool:
    """Whether every machine of a cluster reads `uri` as this one does: a URL of a shared store
    (s3://, gs://, https://...), not a path of this machine (nor file://, nor hf:, which reads
    this machine's dataset cache)."""
    return "://" in uri and not uri.startswith(("file://", "local://", "memory://"))


def is_within(path: str | Path, roots: Sequence[str]) -> bool:
    """True when `path` (resolved: symlinks and .. followed) lies under one of `roots`."""
    if is_uri(path):
        return ".." not in PurePosixPath(str(path).split(":", 1)[1]).parts and any(
            _uri_prefix(path, root) for root in roots if is_uri(root))
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop, an unknown ~user
        return False
    return any(resolved.is_relative_to(_resolve_root(root)) for root in roots if not is_uri(root))


def check_path(path: str | Path, runtime_or_roots, what: str) -> Path | str:
    """`path` itself when allowed (resolved when checked; a URI unchanged), else an InputError."""
    roots = allowed_roots(runtime_or_roots)
    if roots is None:
        return path if is_uri(path) else Path(path)
    if not is_within(path, roots):
        listed = ", ".join(roots) or "none"
        raise InputError(f"{what} {path} is outside the data roots ({listed}); add its folder to "
                         f"runtime.data_roots or turn runtime.strict_paths off")
    return path if is_uri(path) else Path(path).expanduser().resolve()


def check_paths(paths: Iterable[str | Path], runtime_or_roots, what: str) -> None:
    """check_path for each path (nothing to do when strict_paths is off)."""
    if allowed_roots(runtime_or_roots) is not None:
        for path in paths:
            check_path(path, runtime_or_roots, what)


def _resolve_root(root: str) -> Path:
    try:
        return Path(root).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(root).absolute()


def _uri_prefix(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path == root or path.startswith(root + ("" if root.endswith((":", "://")) else "/"))


def load_weights(path: str | Path) -> dict:
    """A state dict saved with torch.save, read with torch.load(weights_only=True): tensors and
    plain containers only, never arbitrary pickled objects; anything else is an InputError."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\. Please|\n\n|$)", str(err), re.S)
        reason = " ".join(found.group(1).split())[:300] if found else "not loadable with weights_only=True"
        raise InputError(f"{path}: refused to load: not a plain weights file (seqpipe loads tensors and plain "
                         f"containers only, never pickled objects): {reason}") from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise InputError(f"{path}: not a readable torch weights file: {str(err).strip()[:300]}") from None
