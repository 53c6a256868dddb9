"""Shared fixtures: tiny corpora written on the fly, local runtimes, one Ray per session."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

# The compiled kernels (numba) check every array index in tests: an overrun there is silent
# memory corruption in production. Their own cache, so production never loads checked code.
os.environ.setdefault("NUMBA_BOUNDSCHECK", "1")
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(os.environ.get("SEQPIPE_TEST_STATE", "/tmp/seqpipe-test-state"))
                                             / "numba-cache"))

import pytest  # noqa: E402

from seqpipe.core import environment
from seqpipe.config import IngestConfig, RuntimeConfig, VocabConfig

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

    ray.init(address="local", num_cpus=2, include_dashboard=False, configure_logging=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines))
    return path


@pytest.fixture(scope="module")
def corpus_and_vocab(tmp_path_factory):
    """A small ingested corpus and its vocabulary (min_count 2): (corpus uri, vocab uri, folder)."""
    return _corpus_and_vocab(tmp_path_factory)


def _corpus_and_vocab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain")
    runtime = RuntimeConfig(executor="local", state_dir=str(tmp / "state"))
    from seqpipe.data.ingest import run_ingest
    from seqpipe.data.vocab import run_vocab

    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(PROSE[i % 4].split(), size=12)) for i in range(3000)]
    corpus = run_ingest(IngestConfig(sources=[str(write_lines(tmp / "a.txt", lines))]), runtime)
    vocab = run_vocab(VocabConfig(min_count=2), corpus.uri, runtime)
    return corpus.uri, vocab.uri, tmp


def ray_processes() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "gcs_server|raylet|ray::|ray/dashboard|log_monitor|monitor.py"],
                         capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def kill_after_first_checkpoint(args: list[str], results: Path, run_prefix: str) -> dict:
    """Start a training command, SIGKILL it (and its local Ray) once Ray Train has registered
    a checkpoint; returns that checkpoint's progress.json."""
    import json
    import re
    import signal
    import sys
    import time

    ray_before = ray_processes()
    first = subprocess.Popen([sys.executable, *args], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and not list(results.glob(f"{run_prefix}-*/checkpoint_manager_snapshot.json")):
        time.sleep(0.2)
    assert first.poll() is None, "the run ended before its first checkpoint was registered"
    os.killpg(first.pid, signal.SIGKILL)
    snapshot = next(results.glob(f"{run_prefix}-*/checkpoint_manager_snapshot.json"))
    registered = sorted(set(re.findall(r"checkpoint_[0-9_.-]+[0-9]", snapshot.read_text())))
    first.wait()
    for pid in ray_processes() - ray_before:  # the killed driver's local Ray, not this session's
        os.kill(pid, signal.SIGKILL)
    return json.loads((snapshot.parent / registered[-1] / "progress.json").read_text())


@pytest.fixture
def s3_server(monkeypatch):
    """A real S3-compatible server (moto in server mode) on 127.0.0.1 with an empty bucket
    `seqpipe`; its endpoint and credentials are in the environment (child processes inherit them).
    Yields the environment variables."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import fsspec
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()  # clients made for an earlier test's server
    fsspec.filesystem("s3").mkdir("seqpipe")
    try:
        yield env
    finally:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{env['AWS_ENDPOINT_URL']}/moto-api/reset", method="POST"))
        server.stop()  # moto keeps its buckets in the process: reset above for the next test
