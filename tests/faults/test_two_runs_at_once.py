"""Two seqpipe pipelines started at once on one machine, while the test session's own Ray
runs too (as when the nightly run fires during `make test`): each uses the Ray it started,
both finish, and each prints its stage lines and summary, not the libraries' output."""
import subprocess
import sys

import pytest
import yaml

from .conftest import COUNTS

pytestmark = [pytest.mark.faults, pytest.mark.slow]
SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]


def test_two_pipelines_at_once_each_on_its_own_ray(tmp_path, ray_session):
    commands = []
    for name in ("first", "second"):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({
            "runtime": {"state_dir": str(tmp_path / name), "executor": "ray"},  # ray_address: local, its own
            "vocab": {"min_count": 1}, "embeddings": {"dim": 8, "epochs": 1, "num_workers": 1},
            "downstream": ["ner"], "demo": {"max_mb": 0.2, "ner_sentences": 60},
            "ner": {"encoder": {"hidden": 8}, "train": {"epochs": 1, "num_workers": 1}}}))
        commands.append([*SEQPIPE, "pipeline", "--config", str(config)])
    runs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    outputs = [run.communicate(timeout=540) for run in runs]
    COUNTS["faults injected"] += 1
    for run, (out, err), name in zip(runs, outputs, ("first", "second")):
        assert run.returncode == 0, f"{name}: {err[-3000:]}\n{out[-2000:]}"
        lines = out.splitlines()
        log = tmp_path / name / "logs" / lines[0].rsplit("/", 1)[-1]
        assert lines[0].startswith("log of Ray, Prefect, MLflow and the workers: ") and log.is_file()
        assert len(lines) <= 40, f"{name} printed {len(lines)} lines:\n{out}"
        assert all(any(line.startswith(stage) for line in lines) for stage in ("ingest", "vocab", "pretrain", "ner"))
        assert "run summary" in out and "MLflow: " in out
        assert "RayTrainWorker" not in out + err and "Ray Train" not in out, "the workers' output is in the log"
        assert "Failed to query Ray Train Controller" not in log.read_text()
