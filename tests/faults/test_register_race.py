"""Processes that finish the same stage folder at once (two nightly runs, a run and a `seqpipe
finetune`) against a real S3-compatible server and a real MLflow server on 127.0.0.1: one
publishes the folder, and exactly one version of it is registered, with its own metrics."""
import json
import os
import socket
import subprocess
import sys
import time

import fsspec
import pytest

from seqpipe.core import store
from tests.faults.racing_stage import INPUT_HASH, REGISTER_AS
from tests.faults.test_mlflow_outage import mlflow_server

pytestmark = pytest.mark.faults
PROCESSES = 4
STEP = """
import json, sys
from flows import step
from seqpipe.config import NerConfig, PromotionConfig, RuntimeConfig
from seqpipe.core.stage import StageInputs
from tests.faults import racing_stage

step.TASKS["race"] = racing_stage
runtime = RuntimeConfig(state_dir="s3://seqpipe/state", work_dir=sys.argv[1], tracking_uri=sys.argv[2])
outcome = step.run_step("race", NerConfig(), StageInputs(), runtime, PromotionConfig())
print(json.dumps({"reused": outcome.result.reused, "version": outcome.version, "uri": outcome.result.uri,
                  "metrics": outcome.result.metrics}))
"""


def test_racing_steps_register_one_version_of_the_one_published_folder(tmp_path, s3_server):
    from mlflow.tracking import MlflowClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = mlflow_server(tmp_path / "mlflow", port)
    try:
        env = {**os.environ, "RACE_START": str(time.time() + 25)}  # every process imported and building
        steps = [subprocess.Popen([sys.executable, "-c", STEP, str(tmp_path / f"machine-{i}"),
                                   f"http://127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for i in range(PROCESSES)]
        outcomes = [step.communicate(timeout=300) for step in steps]
        assert all(step.returncode == 0 for step in steps), [err[-2000:] for _, err in outcomes]
        said = [json.loads(out.strip().splitlines()[-1]) for out, _ in outcomes]
        uri = f"s3://seqpipe/state/race/race-{INPUT_HASH[:16]}"
        assert {s["uri"] for s in said} == {uri} and [s["reused"] for s in said].count(False) == 1, said
        registered = [s for s in said if s["version"]]
        assert len(registered) == 1, f"{len(registered)} processes registered the folder: {said}"

        client = MlflowClient(f"http://127.0.0.1:{port}")
        versions = client.search_model_versions(f"name = '{REGISTER_AS}'")
        assert len(versions) == 1, [v.version for v in versions]
        published = json.loads(fsspec.filesystem("s3", skip_instance_cache=True).cat_file(f"{uri}/manifest.json"))
        run = client.get_run(versions[0].run_id)
        assert run.data.tags["seqpipe.output"] == uri
        assert run.data.tags["seqpipe.output_hash"] == published["content_hash"], "registered: the published folder"
        assert run.data.metrics["test_f1"] == pytest.approx(published["metrics"]["test_f1"])
        assert all(s["metrics"] == published["metrics"] for s in said), "every process judged the one folder"
        assert store.is_published(uri)
    finally:
        server.terminate()
        server.wait(timeout=30)
