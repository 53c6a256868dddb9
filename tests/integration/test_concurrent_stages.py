"""Downstream stages side by side: where the cluster has room for two stages' workers they
train at once (their MLflow runs overlap in time) and both register; where one stage's workers
fill the CPUs they run one after another, without waiting on each other forever."""
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

from seqpipe.config import PipelineConfig, RuntimeConfig, TrainConfig
from seqpipe.training.scaling import stages_at_once
from tests.integration.conftest import mlflow_runs

SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]


def small_pipeline(state_dir, ner_workers: int, **runtime) -> dict:
    """Demo data, NER and the word LM downstream, each a few seconds of training."""
    return {"runtime": {"state_dir": str(state_dir), "executor": "ray", **runtime},
            "vocab": {"min_count": 1}, "embeddings": {"dim": 8, "epochs": 1, "num_workers": 1},
            "downstream": ["ner", "lm"], "demo": {"max_mb": 0.2, "ner_sentences": 200},
            "ner": {"encoder": {"hidden": 8}, "train": {"epochs": 3, "num_workers": ner_workers}},
            "lm": {"dev_sentences": 20, "max_sentences": 400, "encoder": {"hidden": 16, "layers": 1},
                   "train": {"epochs": 3, "num_workers": 1}}}


def intervals(state_dir) -> dict[str, tuple[int, int]]:
    """(start, end) in ms of each downstream stage's MLflow run; both models registered."""
    client, runs = mlflow_runs(state_dir)
    spans = {r.data.tags["seqpipe.stage"]: (r.info.start_time, r.info.end_time) for r in runs
             if r.data.tags.get("seqpipe.stage") in ("ner", "lm")}
    assert set(spans) == {"ner", "lm"}
    for model in ("seqpipe-ner", "seqpipe-lm"):
        assert client.search_model_versions(f"name='{model}'"), f"{model} was not registered"
    return spans


def test_stages_at_once_follows_the_workers_and_the_cpus(ray_session):
    local = RuntimeConfig(executor="ray")  # the session's Ray: 2 CPUs
    one, two = TrainConfig(num_workers=1), TrainConfig(num_workers=2)
    assert stages_at_once(local, [two, one, two]) == 1, "two workers fill 2 CPUs"
    assert stages_at_once(local, [one, one, one]) == 2
    assert stages_at_once(local, [TrainConfig(num_workers=1, threads_per_worker=2), one]) == 1
    assert stages_at_once(local, [TrainConfig(num_workers=1, use_gpu=True), one]) == 1, "no GPU: one at a time"
    assert stages_at_once(local.model_copy(update={"max_concurrent_stages": 3}), [two, two]) == 2
    assert stages_at_once(local, []) == 1


def test_two_stages_overlap_where_the_cluster_holds_both(tmp_path, ray_session):
    """Its own local Ray with 4 CPUs (more than this machine's cores: enough to place both)."""
    config = tmp_path / "wide.yaml"
    config.write_text(yaml.safe_dump(small_pipeline(tmp_path / "wide", ner_workers=2, num_cpus=4)))
    run = subprocess.run([*SEQPIPE, "pipeline", "--config", str(config)], capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    (ner_start, ner_end), (lm_start, lm_end) = intervals(tmp_path / "wide").values()
    assert max(ner_start, lm_start) < min(ner_end, lm_end), "the two stages did not train at the same time"
    table = run.stdout[run.stdout.index("run summary"):]
    assert table.index("ner") < table.index("lm"), "the summary lists the stages in the pipeline's order"


def test_stages_queue_where_one_fills_the_cpus(tmp_path, prefect_harness, ray_session):
    from flows.pipeline import pipeline

    cfg = PipelineConfig.model_validate(small_pipeline(tmp_path / "narrow", ner_workers=2))  # 2 workers, 2 CPUs
    summary = pipeline(config=cfg)
    spans = intervals(tmp_path / "narrow")
    first, second = sorted(spans.values())
    assert first[1] <= second[0], f"the stages overlapped on 2 CPUs: {spans}"
    assert not summary["ner"]["reused"] and not summary["lm"]["reused"]


RACE = """
import threading
from seqpipe.config import RuntimeConfig
from seqpipe.core import fanout
barrier, errors = threading.Barrier(2), []
def start():
    barrier.wait()
    try:
        fanout.ensure_ray(RuntimeConfig(num_cpus=1))
    except Exception as error:
        errors.append(repr(error))
threads = [threading.Thread(target=start) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
import ray
assert not errors and ray.is_initialized(), errors
ray.shutdown()
print("one Ray")
"""


def test_two_stage_threads_starting_ray_at_once_start_one(tmp_path):
    """A rerun whose upstream stages are reused starts Ray from two stage threads at once: two
    ray.init calls in one process made it lose its GCS and terminate."""
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short (socket paths), its own: not the session Ray's
    try:
        run = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=150, cwd=tmp_path,
                             env={**os.environ, "RAY_TMPDIR": ray_tmp})
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert run.returncode == 0 and "one Ray" in run.stdout, run.stderr[-2000:]
