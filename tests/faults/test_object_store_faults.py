"""Publishing to object storage killed midway (a real S3-compatible server on 127.0.0.1):
nothing counts as published, and the next writer cleans the dead writer's temporary prefix;
a pipeline killed during ingestion with its state on S3 publishes no corpus, and its rerun does."""
import json
import os
import signal
import subprocess
import sys
import time

import fsspec
import pytest
import yaml

from seqpipe.core.artifacts import read_json
from seqpipe.core import store
from seqpipe.core.store import fetch, is_published, publish
from tests.faults.test_killed_pipeline import SEQPIPE, write_corpus

from .conftest import COUNTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def kill_when(process: subprocess.Popen, seen, what: str, timeout: float = 180) -> None:
    """SIGKILL the process group of `process` as soon as seen() is true."""
    deadline = time.monotonic() + timeout
    while not seen():
        assert process.poll() is None and time.monotonic() < deadline, f"{what} ended before it could be killed"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    COUNTS["faults injected"] += 1


def temporaries(s3, prefix: str) -> list[str]:
    """Writers' leases and the files of writer prefixes that no published manifest names."""
    s3.invalidate_cache()
    paths = s3.find(prefix)
    named = set()
    for path in paths:
        if path.endswith("/manifest.json"):
            files = (json.loads(s3.cat_file(path)).get("published") or {}).get("files")
            named.add(f"{path.rsplit('/', 1)[0]}/{files}/")
    return [p for p in paths if p.endswith(".lease") or ("/files-" in p and not any(p.startswith(n) for n in named))]


def test_publishing_killed_midway_publishes_nothing(tmp_path, s3_server, monkeypatch):
    folder = tmp_path / "vocab-0123456789abcdef"
    (folder / "data").mkdir(parents=True)
    for i in range(300):
        (folder / "data" / f"part-{i:04d}.bin").write_bytes(os.urandom(20_000))
    (folder / "manifest.json").write_text('{"kind": "vocab", "content_hash": "0123"}')
    uri = "s3://seqpipe/state/vocab/vocab-0123456789abcdef"
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    writer = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; from seqpipe.core.store "
                               "import publish; publish(Path(sys.argv[1]), sys.argv[2])", str(folder), uri],
                              start_new_session=True)
    kill_when(writer, lambda: temporaries(s3, "seqpipe/state/vocab"), "publishing")
    assert not is_published(uri), "a killed writer published the folder"

    monkeypatch.setattr(store, "LEASE_SECONDS", 3.0)
    time.sleep(3.5)  # the dead writer's lease lapses
    assert publish(folder, uri), "the next writer publishes it"
    assert not temporaries(s3, "seqpipe/state/vocab"), "the dead writer's temporary prefix is removed"
    copy = fetch(uri, tmp_path / "copy")
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert (copy / "data" / "part-0123.bin").read_bytes() == (folder / "data" / "part-0123.bin").read_bytes()
    assert not publish(folder, uri), "a published folder is not written again"


def test_pipeline_killed_during_ingestion_with_state_on_s3(tmp_path, s3_server):
    documents = write_corpus(tmp_path / "in", files=24, lines=12_000)
    work = tmp_path / "work"
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"runtime": {"state_dir": "s3://seqpipe/state", "work_dir": str(work),
                                                  "executor": "local"},
                                      "ingest": {"sources": [str(tmp_path / "in")], "shard_mb": 1}}))
    command = [*SEQPIPE, "pipeline", "--stage", "ingest", "--config", str(config)]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    building = work / "store" / "s3" / "seqpipe" / "state" / "corpus"
    kill_when(first, lambda: list(building.glob(".tmp-corpus-*/data/part-00001.parquet")), "ingestion")
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    assert not s3.glob("seqpipe/state/corpus/corpus-*/manifest.json"), "no corpus is published by a killed run"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    [manifest] = s3.glob("seqpipe/state/corpus/corpus-*/manifest.json")
    assert not temporaries(s3, "seqpipe/state"), "no temporary prefix is left"
    copy = fetch(f"s3://{manifest.rsplit('/', 1)[0]}", tmp_path / "copy")
    assert read_json(copy / "manifest.json")["counts"]["documents"] == documents, "every line once"
    assert len(list((copy / "data").glob("*.parquet"))) == len(read_json(copy / "manifest.json")["shards"])
