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

from seqpipe.core.artifacts import read_json, sha256_file
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


def test_pipeline_killed_during_training_resumes_and_reuses_finished_stages(tmp_path, ray_session):
    import ray
    from mlflow.tracking import MlflowClient

    write_corpus(tmp_path / "in", files=4, lines=6_000)
    state = tmp_path / "state"
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "runtime": {"state_dir": str(state), "executor": "local", "ray_address": ray.get_runtime_context().gcs_address},
        "ingest": {"sources": [str(tmp_path / "in")]}, "vocab": {"min_count": 2},
        "embeddings": {"dim": 32, "epochs": 4, "num_workers": 1}}))
    command = [*SEQPIPE, "pipeline", "--stage", "pretrain", "--config", str(config)]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((state / "ray_results").glob("*/checkpoint_manager_snapshot.json")):  # epoch 1 is saved
        assert first.poll() is None and time.monotonic() < deadline, "training ended before it could be killed"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    COUNTS["faults injected"] += 1
    assert not list((state / "embeddings").glob("embeddings-*"))

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    [embeddings] = (state / "embeddings").glob("embeddings-*")
    assert len(read_json(embeddings / "manifest.json")["metrics"]["epoch_seconds"]) == 4, "no epoch counted twice"
    assert not list(state.glob("*/.tmp-*")), "no partial artifact"
    client = MlflowClient(f"sqlite:///{state / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("seqpipe").experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"], "no orphaned run"
    reused = {r.data.tags["seqpipe.stage"] for r in runs if r.data.tags.get("seqpipe.reused") == "True"}
    assert {"ingest", "vocab"} <= reused, "the rerun reused the stages the killed run finished"
