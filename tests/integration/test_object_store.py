"""State on object storage: with runtime.state_dir s3://... (a real S3-compatible server on
127.0.0.1) the pipeline publishes every stage folder and Ray Train's checkpoints there, and
another machine (a fresh work_dir) reuses every stage and serves the model from the bucket."""
import json
import subprocess
import sys

import fsspec
import yaml

from tests.integration.test_concurrent_stages import small_pipeline
from seqpipe.tasks.ner.demo import build_ner_demo
from tests.conftest import PROSE
from tests.integration.conftest import mlflow_runs

SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]
STATE = "s3://seqpipe/state"


def run_pipeline(tmp_path, work: str) -> dict:
    """The small pipeline with NER downstream, its corpus read from the bucket and its NER data
    from a folder both machines see; `work` is the machine's own work_dir."""
    settings = small_pipeline(STATE, ner_workers=1, work_dir=str(tmp_path / work))
    ner_data = build_ner_demo(tmp_path / "shared", 200)
    settings.update(downstream=["ner"], ingest={"sources": ["s3://seqpipe/corpus/"]})
    settings["ner"].update({f"{split}_path": str(ner_data / f"{split}.txt") for split in ("train", "dev", "test")})
    config = tmp_path / f"{work}.yaml"
    config.write_text(yaml.safe_dump(settings))
    summary = tmp_path / f"{work}.json"
    run = subprocess.run([*SEQPIPE, "pipeline", "--config", str(config), "--json", str(summary)],
                         capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    return json.loads(summary.read_text())


def test_pipeline_state_on_s3_is_published_and_reused_elsewhere(tmp_path, s3_server):
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    s3.pipe_file("seqpipe/corpus/prose.txt", "\n".join(PROSE * 40).encode())
    first = run_pipeline(tmp_path, "machine-a")
    stages = {"corpus": "corpus", "vocab": "vocab", "embeddings": "embeddings", "ner": "ner"}  # summary key: folder
    for stage, section in stages.items():
        uri = first[stage]["uri"]
        assert uri.startswith(f"{STATE}/{section}/{section}-"), uri
        assert s3.exists(f"{uri}/manifest.json"), f"{stage} is not published on S3"
    assert s3.glob("seqpipe/state/ray_results/*/checkpoint_*"), "Ray Train checkpoints are on S3"
    assert not [p for p in s3.find("seqpipe/state") if p.endswith(".lease")], "no writer's lease is left"
    _, runs = mlflow_runs(tmp_path / "machine-a")
    assert {r.data.tags["seqpipe.output"] for r in runs if r.data.tags.get("seqpipe.stage") == "ner"} == {
        first["ner"]["uri"]}

    second = run_pipeline(tmp_path, "machine-b")  # nothing of machine-a's but the bucket
    assert all(second[stage]["reused"] for stage in stages), second
    assert {s: second[s]["uri"] for s in stages} == {s: first[s]["uri"] for s in stages}
    tag = subprocess.run([*SEQPIPE, "tag", "--model", first["ner"]["uri"],
                          "--set", f"runtime.state_dir={STATE}", "--set", f"runtime.work_dir={tmp_path / 'machine-c'}",
                          "Yesterday, Anna Smith met John Brown in Paris."], capture_output=True, text=True, timeout=300)
    assert tag.returncode == 0, tag.stderr[-3000:]
    assert (tmp_path / "machine-c" / "store" / "s3" / "seqpipe" / "state" / "ner").is_dir(), "served from a copy"
