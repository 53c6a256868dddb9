"""The pipeline process killed mid-ingestion, then rerun: it completes, with no partial
artifact, no lost or duplicated rows, and no MLflow run left RUNNING."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from seqpipe.artifacts import read_json, sha256_file
from tests.conftest import PROSE

from .conftest import COUNTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]
SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]


def write_corpus(folder: Path, files: int, lines: int) -> int:
    words = " ".join(PROSE).split()
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(files):
        text = "\n".join(" ".join(rng.choice(words, size=15)) for _ in range(lines))
        (folder / f"part-{i:03d}.txt").write_text(text + "\n")
    return files * lines


def test_pipeline_killed_during_ingestion_reruns_cleanly(tmp_path):
    from mlflow.tracking import MlflowClient

    documents = write_corpus(tmp_path / "in", files=24, lines=12_000)
    state = tmp_path / "state"
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"runtime": {"state_dir": str(state), "executor": "local"},
                                      "ingest": {"sources": [str(tmp_path / "in")], "shard_mb": 1}}))
    command = [*SEQPIPE, "pipeline", "--stage", "ingest", "--config", str(config)]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list((state / "corpus").glob(".tmp-corpus-*/data/part-00001.parquet")):  # mid-ingestion
        assert first.poll() is None and time.monotonic() < deadline, "ingestion ended before it could be killed"
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the flow, its Prefect server, everything
    first.wait()
    COUNTS["faults injected"] += 1
    assert not list((state / "corpus").glob("corpus-*")), "no corpus is published by a killed run"

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    [corpus] = (state / "corpus").glob("corpus-*")
    assert not list((state / "corpus").glob(".tmp-*")), "the killed run's temporary folder is cleaned up"
    manifest = read_json(corpus / "manifest.json")
    shards = sorted((corpus / "data").glob("*.parquet"))
    assert [s["path"] for s in manifest["shards"]] == [f"data/{p.name}" for p in shards], "no stray or duplicate shard"
    assert all(sha256_file(corpus / s["path"]) == s["sha256"] for s in manifest["shards"])
    rows = pq.read_table(corpus / "data", columns=["source", "doc_id"])
    keys = set(zip(rows.column("source").to_pylist(), rows.column("doc_id").to_pylist()))
    COUNTS["records lost"] += documents - len(keys)
    assert len(keys) == documents == manifest["counts"]["documents"], "every line once"

    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("seqpipe").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"], "no orphaned run"
    killed = [r for r in runs if r.info.status == "FAILED"]
    assert killed and all("ended without closing" in r.data.tags["seqpipe.failure"] for r in killed)
    assert {r.data.tags.get("seqpipe.stage") for r in runs if r.info.status == "FINISHED"} >= {"ingest"}
