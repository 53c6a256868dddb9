"""A Ray Train worker process killed mid-epoch: Ray Train restarts the workers
(FailureConfig), they resume from the last checkpoint, and the run ends as an
uninterrupted one does, with no epoch counted twice."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqpipe.tasks.ner.demo import build_ner_demo

from .conftest import COUNTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]
EPOCHS = 4
RUN_NER = """
import json, sys
from seqpipe.config import EncoderConfig, NerConfig, RuntimeConfig, TrainConfig
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.ner import stage
cfg = NerConfig(**json.loads(sys.argv[1]), out=sys.argv[2], encoder=EncoderConfig(hidden=32),
                train=TrainConfig(epochs=%d, patience=None, batch_size=8, lr=0.01, num_workers=2, max_failures=2))
print(stage.run(cfg, StageInputs(), RuntimeConfig(state_dir=sys.argv[3], ray_address=sys.argv[4])).uri)
""" % EPOCHS


def train_workers() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "RayTrainWorker"], capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def start(files: dict, folder: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", RUN_NER, json.dumps(files), str(folder / "ner"),
                             str(folder / "state"), address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads((Path(out.strip().splitlines()[-1]) / "metrics.json").read_text())


def test_a_killed_worker_is_restarted_and_resumes_from_the_last_checkpoint(tmp_path, ray_session):
    import ray

    address = ray.get_runtime_context().gcs_address
    data = build_ner_demo(tmp_path / "data", sentences=300, seed=3)
    files = {f"{split}_path": str(data / f"{split}.txt") for split in ("train", "dev", "test")}

    run = start(files, tmp_path / "killed", address)
    results = tmp_path / "killed" / "state" / "ray_results"
    deadline = time.monotonic() + 300
    while not list(results.glob("ner-*/checkpoint_manager_snapshot.json")):  # epoch 1 is saved
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.2)
    victims = train_workers()  # this run's: the test session's Ray has no other train run
    assert victims, "no Ray Train worker process found"
    os.kill(min(victims), signal.SIGKILL)  # mid-epoch 2
    COUNTS["faults injected"] += 1
    while not train_workers() - victims:  # Ray Train replaces the worker group
        assert run.poll() is None and time.monotonic() < deadline, "no new workers were started"
        time.sleep(0.2)
    resumed = finish(run)
    uninterrupted = finish(start(files, tmp_path / "clean", address))

    assert resumed["epochs"] == len(resumed["history"]) == EPOCHS, "no epoch counted twice or lost"
    assert abs(resumed["test_f1"] - uninterrupted["test_f1"]) < 0.1, (resumed["test_f1"], uninterrupted["test_f1"])
