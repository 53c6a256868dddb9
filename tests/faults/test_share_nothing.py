"""A Ray cluster whose machines share nothing but the bucket: a head node beside the driver and
a second node started in a mount namespace of its own (`unshare --mount`), where empty tmpfs
folders hide the driver's working folders. With runtime.state_dir on the S3-compatible test
server, the pipeline (ingest, vocab, pretraining, NER) runs tasks and Ray Train workers on both
nodes and gives the corpus and the vocabulary of a run on one machine."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec
import pytest
import yaml

from seqpipe.config import IngestConfig, RuntimeConfig, VocabConfig
from seqpipe.data.ingest import run_ingest
from seqpipe.data.vocab import run_vocab
from seqpipe.tasks.ner.demo import build_ner_demo
from tests.conftest import PROSE, ray_processes
from tests.integration.conftest import mlflow_runs

pytestmark = pytest.mark.faults
SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]
RAY = str(Path(sys.executable).with_name("ray"))
STATE = "s3://seqpipe/state"
SOURCES = "s3://seqpipe/corpus/"
SECRET = "driver-only.txt"  # a file of the driver's, which the second node must not see


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0"})


def wait_for_nodes(address: str, count: int, logs: list[Path]) -> None:
    check = (f"import ray, time; ray.init(address='{address}', logging_level='ERROR')\n"
             f"for _ in range(120):\n    if sum(n['Alive'] for n in ray.nodes()) >= {count}: break\n    time.sleep(1)\n"
             f"else: raise SystemExit('only ' + str(sum(n['Alive'] for n in ray.nodes())) + ' nodes')")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 0, done.stderr[-2000:] + "".join(log.read_text()[-2000:] for log in logs)


@pytest.fixture
def isolated_cluster(tmp_path, s3_server):
    """(address, hidden folder): a head node with 1 CPU and a node with 1 CPU that sees neither
    the test's folders nor the driver's Ray folders."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("this test needs root and unshare(1) to give the second Ray node a disk of its own")
    port, before = free_port(), ray_processes()
    head_dir, node_dir = tempfile.mkdtemp(prefix="sn-h-"), tempfile.mkdtemp(prefix="sn-n-")  # short: socket paths
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus", "1", "--disable-usage-stats", "--block", "--object-store-memory", str(200 * 2**20)]
    head = start([RAY, "start", "--head", "--port", str(port), "--include-dashboard=false", "--temp-dir", head_dir,
                  *common], tmp_path / "head.log")
    wait_for_nodes(address, 1, [tmp_path / "head.log"])
    hidden = [str(tmp_path), os.environ.get("SEQPIPE_TEST_STATE", "/tmp/seqpipe-test-state"), head_dir, node_dir]
    mounts = " && ".join(f"mount -t tmpfs tmpfs {folder}" for folder in hidden if Path(folder).is_dir())
    node = start(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                  f"{mounts} && exec {RAY} start --address {address} --node-ip-address 127.0.0.2 "
                  f"--temp-dir {node_dir} {' '.join(common)}"], tmp_path / "node.log")
    try:
        wait_for_nodes(address, 2, [tmp_path / "head.log", tmp_path / "node.log"])
        yield address
    finally:
        for process in (node, head):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (node, head):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        time.sleep(2)
        for pid in ray_processes() - before:  # anything of this cluster's that outlived its node
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(head_dir, ignore_errors=True)
        shutil.rmtree(node_dir, ignore_errors=True)


def other_node_sees(address: str, path: Path) -> list[bool]:
    """Whether a task on each node that is not the driver's sees `path`."""
    script = ("import os, ray\nray.init(address='%s', logging_level='ERROR')\n"
              "from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On\n"
              "me = ray.get_runtime_context().get_node_id()\n"
              "look = ray.remote(num_cpus=0)(lambda: os.path.exists(%r))\n"
              "print([ray.get(look.options(scheduling_strategy=On(n['NodeID'], soft=False)).remote())"
              " for n in ray.nodes() if n['Alive'] and n['NodeID'] != me])" % (address, str(path)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1].lower())


def run_pipeline(tmp_path, address: str) -> dict:
    ner_data = build_ner_demo(tmp_path / "ner-data", 200)  # the driver's files: the NER stage reads them there
    config = tmp_path / "cluster.yaml"
    config.write_text(yaml.safe_dump({
        "runtime": {"state_dir": STATE, "work_dir": str(tmp_path / "driver"), "executor": "ray",
                    "ray_address": address},
        "ingest": {"sources": [SOURCES], "shard_mb": 0.002}, "vocab": {"min_count": 1},
        "embeddings": {"dim": 8, "epochs": 1, "num_workers": 2}, "downstream": ["ner"],
        "ner": {"encoder": {"hidden": 8}, "train": {"epochs": 2, "num_workers": 2},
                **{f"{split}_path": str(ner_data / f"{split}.txt") for split in ("train", "dev", "test")}}}))
    out = tmp_path / "cluster.json"
    run = subprocess.run([*SEQPIPE, "pipeline", "--config", str(config), "--json", str(out)], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert run.returncode == 0, run.stderr[-4000:] + run.stdout[-2000:]
    return json.loads(out.read_text())


def test_pipeline_on_machines_that_share_only_the_bucket(tmp_path, isolated_cluster):
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    for i in range(8):
        s3.pipe_file(f"{SOURCES.removeprefix('s3://')}{i}.txt",
                     "".join(f"{line} Part {i}.\n" for line in PROSE * 40).encode())
    (tmp_path / SECRET).write_text("the driver's")
    assert other_node_sees(isolated_cluster, tmp_path / SECRET) == [False], "the second node sees the driver's disk"

    summary = run_pipeline(tmp_path, isolated_cluster)
    _, runs = mlflow_runs(tmp_path / "driver")
    stage_runs = {r.data.tags["seqpipe.stage"]: r for r in runs if "seqpipe.stage" in r.data.tags}
    for stage in ("ingest", "pretrain", "ner"):
        nodes = stage_runs[stage].data.tags.get("seqpipe.ray_nodes", "")
        assert len(nodes.split(",")) == 2, f"{stage} ran on {nodes!r}, not on both nodes"
    assert stage_runs["ner"].data.metrics.get("dev_f1") is not None, "the NER epochs reached MLflow"
    for stage in ("corpus", "vocab", "embeddings", "ner"):
        assert summary[stage]["uri"].startswith(f"{STATE}/"), summary[stage]["uri"]

    one_machine = RuntimeConfig(executor="local", state_dir=str(tmp_path / "one-machine"))
    corpus = run_ingest(IngestConfig(sources=[SOURCES], shard_mb=0.002), one_machine)
    vocab = run_vocab(VocabConfig(min_count=1), corpus.uri, one_machine)
    assert summary["corpus"]["content_hash"] == corpus.content_hash
    assert summary["vocab"]["content_hash"] == vocab.content_hash
