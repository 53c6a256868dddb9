"""The MLflow server stopped mid-training: training goes on, the epochs' metrics wait on disk,
the stage fails clearly at its end, and once the server is back every value reaches it."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqpipe.config import RuntimeConfig
from seqpipe.tasks.ner.demo import build_ner_demo
from seqpipe.cli.services import answers

from .conftest import COUNTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]
EPOCHS = 4
RUN_NER = """
import json, sys
from seqpipe.tracking import runs as tracking
from seqpipe.config import EncoderConfig, NerConfig, RuntimeConfig, TrainConfig
from seqpipe.core.stage import StageInputs
from seqpipe.tasks.ner import stage
runtime = RuntimeConfig(state_dir=sys.argv[3], ray_address=sys.argv[4], tracking_uri=sys.argv[5])
cfg = NerConfig(**json.loads(sys.argv[1]), out=sys.argv[2], encoder=EncoderConfig(hidden=32),
                train=TrainConfig(epochs=%d, patience=None, batch_size=8, num_workers=1))
with tracking.stage_run(runtime, "ner", cfg) as run_id:
    print(run_id, flush=True)
    stage.run(cfg, StageInputs(), runtime, mlflow_run_id=run_id)
""" % EPOCHS


def mlflow_server(folder: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--artifacts-destination", str(folder / "artifacts"), "--workers", "1", "--host", "127.0.0.1",
         "--port", str(port)], env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not answers(f"http://127.0.0.1:{port}/health"):
        assert server.poll() is None and time.monotonic() < deadline, "the MLflow server did not start"
        time.sleep(0.5)
    return server


def test_training_outlives_an_mlflow_outage_and_loses_no_metric(tmp_path, ray_session):
    import ray
    from mlflow.tracking import MlflowClient

    from seqpipe.tracking import runs as tracking

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    server = mlflow_server(tmp_path / "mlflow", port)
    data = build_ner_demo(tmp_path / "data", sentences=300, seed=3)
    files = {f"{split}_path": str(data / f"{split}.txt") for split in ("train", "dev", "test")}
    state = tmp_path / "state"
    run = subprocess.Popen([sys.executable, "-c", RUN_NER, json.dumps(files), str(tmp_path / "ner"),
                            str(state), ray.get_runtime_context().gcs_address, uri],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = run.stdout.readline().strip()
    client, deadline = MlflowClient(uri), time.monotonic() + 300
    while not client.get_metric_history(run_id, "train_loss"):  # epoch 1 reached the server
        assert run.poll() is None and time.monotonic() < deadline, "the run ended before its first epoch was logged"
        time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(30)
    COUNTS["faults injected"] += 1

    _, err = run.communicate(timeout=600)
    assert run.returncode == 1, err[-3000:]
    assert "stage ner finished, but MLflow" in err and "kept in" in err, err[-3000:]
    assert list((tmp_path / "ner").glob("ner-*/manifest.json")), "training went on and published its model"
    assert (state / "mlflow-buffer" / f"{run_id}.jsonl").exists()

    server = mlflow_server(tmp_path / "mlflow", port)  # back, same database
    try:
        runtime = RuntimeConfig(state_dir=str(state), tracking_uri=uri)
        tracking.configure(runtime)  # what any seqpipe command does first
        steps = [m.step for m in client.get_metric_history(run_id, "train_loss")]
        COUNTS["records lost"] += EPOCHS - len(set(steps))
        assert sorted(set(steps)) == list(range(1, EPOCHS + 1)), "every epoch's metrics reached MLflow"
        assert not list((state / "mlflow-buffer").glob("*.jsonl"))
        assert tracking.close_orphaned_runs(runtime) == [run_id], "the run left open is marked FAILED"
        assert client.get_run(run_id).info.status == "FAILED"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
