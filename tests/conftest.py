"""Shared fixtures: tiny corpora written on the fly, local runtimes, one Ray per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqpipe import environment
from seqpipe.config import IngestConfig, RuntimeConfig

environment.prepare(Path(os.environ.get("SEQPIPE_TEST_STATE", "/tmp/seqpipe-test-state")))

PROSE = [
    "The quick brown fox jumps over the lazy dog. It was not amused!",
    "Dr. Watson met Sherlock Holmes in London. They shared rooms at Baker Street.",
    "Word embeddings map words to vectors. Similar words get similar vectors.",
    "A language model assigns a probability to every sentence.",
]


@pytest.fixture
def runtime(tmp_path: Path) -> RuntimeConfig:
    return RuntimeConfig(executor="local", state_dir=str(tmp_path / "state"))


@pytest.fixture
def ingest_cfg(tmp_path: Path):
    def make(*sources, **kw) -> IngestConfig:
        kw.setdefault("out", str(tmp_path / "corpus"))
        return IngestConfig(sources=[str(s) for s in sources], **kw)
    return make


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (starting Ray costs seconds)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines))
    return path
