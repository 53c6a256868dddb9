"""The pipeline on a Ray cluster of two nodes started on this machine (Ray's own multi-node test
facility), which see one disk (runtime.shared_disk: a shared volume; tests/faults/test_share_nothing.py
has nodes that share only the bucket): ingest tasks and Ray Train workers land on both nodes, and the corpus and the
vocabulary equal those of a run on one local Ray with as many CPUs."""
import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROSE, write_lines
from tests.integration.conftest import mlflow_runs

SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]
CLUSTER = """
import sys
from ray.cluster_utils import Cluster

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": 200 * 2**20})
cluster.add_node(num_cpus=2, object_store_memory=200 * 2**20)
cluster.wait_for_nodes()
print(cluster.address, flush=True)
sys.stdin.read()  # until the test closes stdin
cluster.shutdown()
"""


@pytest.fixture
def two_node_cluster():
    """The address of a Ray cluster with two nodes of 2 CPUs each, in a process of its own."""
    process = subprocess.Popen([sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=120)


def run_pipeline(tmp_path, name: str, runtime: dict) -> dict:
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "runtime": {"state_dir": str(tmp_path / name), "executor": "ray", "shared_disk": True, **runtime},
        "ingest": {"sources": [str(tmp_path / "in")], "shard_mb": 0.002},
        "vocab": {"min_count": 1}, "downstream": [],
        "embeddings": {"dim": 8, "epochs": 1, "num_workers": 2}}))
    out = tmp_path / f"{name}.json"
    run = subprocess.run([*SEQPIPE, "pipeline", "--config", str(config), "--json", str(out)], capture_output=True,
                         text=True, timeout=540)
    assert run.returncode == 0, f"{name}: {run.stderr[-3000:]}\n{run.stdout[-2000:]}"
    return json.loads(out.read_text())


def test_pipeline_on_two_nodes_uses_both_and_equals_one_node(tmp_path, two_node_cluster):
    for i in range(8):
        write_lines(tmp_path / f"in/{i}.txt", [f"{line} Part {i}." for line in PROSE * 40])
    cluster = run_pipeline(tmp_path, "cluster", {"ray_address": two_node_cluster})
    _, runs = mlflow_runs(tmp_path / "cluster")
    nodes = {r.data.tags["seqpipe.stage"]: r.data.tags.get("seqpipe.ray_nodes", "") for r in runs
             if "seqpipe.stage" in r.data.tags}
    assert len(nodes["ingest"].split(",")) == 2, f"ingest tasks ran on {nodes['ingest']}"
    assert len(nodes["pretrain"].split(",")) == 2, f"the Ray Train workers ran on {nodes['pretrain']}"

    local = run_pipeline(tmp_path, "local", {"num_cpus": 4})  # one node, as many CPUs: the same shards
    assert cluster["corpus"]["content_hash"] == local["corpus"]["content_hash"]
    assert cluster["vocab"]["content_hash"] == local["vocab"]["content_hash"]
