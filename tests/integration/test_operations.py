"""Operations as a user runs them: `seqpipe up`, `seqpipe serve`, a run triggered through the
Prefect API as the UI does, the MLflow server, `compare`, `lineage`, `seqpipe down`."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import PROSE, write_lines

pytestmark = pytest.mark.slow
SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict:
    """The environment of a user's shell: no Prefect API of the test session."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}


def seqpipe(*args, config, timeout=240) -> subprocess.CompletedProcess:
    out = subprocess.run([*SEQPIPE, *args, "--config", str(config)], capture_output=True, text=True,
                         timeout=timeout, env=clean_env())
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ray_session):
    """A config file, the servers of `seqpipe up`, and `seqpipe serve`; stopped at the end."""
    import ray

    tmp_path = tmp_path_factory.mktemp("operations")
    corpus = [write_lines(tmp_path / f"in/{i}.txt", PROSE * 40) for i in range(2)]
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        # the flow runs join the test session's Ray instead of starting a second one
        "runtime": {"state_dir": str(tmp_path / "state"), "executor": "local",
                    "ray_address": ray.get_runtime_context().gcs_address},
        "services": {"prefect_port": free_port(), "mlflow_port": free_port()},
        "schedule": {"cron": "30 3 * * 1-5", "timezone": "Europe/Paris"},
        "ingest": {"sources": [str(p) for p in corpus]},
        "vocab": {"min_count": 2},
        "embeddings": {"dim": 8, "epochs": 1, "num_workers": 1},
    }))
    up = seqpipe("up", config=config)
    urls = dict(line.split()[:2] for line in up.stdout.splitlines())
    env = {**clean_env(), "PREFECT_API_URL": urls["prefect"] + "/api"}
    server = subprocess.Popen([*SEQPIPE, "serve", "--config", str(config)], env=env, start_new_session=True,
                              stdout=open(tmp_path / "serve.log", "w"), stderr=subprocess.STDOUT)
    try:
        yield config, urls, tmp_path
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        down = seqpipe("down", config=config)
        assert "prefect" in down.stderr and "mlflow" in down.stderr
        status = seqpipe("status", config=config)
        assert "up" not in status.stdout.split()


def wait_for_deployments(client, names: set, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = {f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()}
        if names <= set(found):
            return found
        time.sleep(1)
    raise AssertionError(f"deployments never appeared: {names - set(found)}")


def run_and_wait(client, deployment, parameters: dict, timeout: float = 400):
    """What the UI's Run button does: create a flow run of the deployment with the form's values."""
    run = client.create_flow_run_from_deployment(deployment.id, parameters=parameters)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.read_flow_run(run.id)
        if run.state.is_final():
            return run
        time.sleep(2)
    raise AssertionError(f"flow run {run.id} still {run.state.name} after {timeout} s")


def test_deployments_schedule_trigger_registry_compare_lineage(stack):
    from mlflow.tracking import MlflowClient
    from prefect.client.orchestration import SyncPrefectClient, get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config, urls, tmp_path = stack
    status = seqpipe("status", config=config)
    assert status.stdout.count(" up ") == 2 and urls["mlflow"] in status.stdout

    with temporary_settings({PREFECT_API_URL: urls["prefect"] + "/api"}), get_client(sync_client=True) as client:
        assert isinstance(client, SyncPrefectClient)
        expected = {"pipeline/seqpipe", "ingest/seqpipe", "vocab/seqpipe", "pretrain/seqpipe", "finetune-ner/seqpipe",
                    "finetune-lm/seqpipe", "finetune-translation/seqpipe", "finetune-speech/seqpipe",
                    "finetune-sentiment/seqpipe", "finetune-captioning/seqpipe"}
        deployments = wait_for_deployments(client, expected)
        nightly = deployments["pipeline/seqpipe"]
        [schedule] = nightly.schedules
        assert schedule.schedule.cron == "30 3 * * 1-5" and schedule.schedule.timezone == "Europe/Paris"
        assert schedule.active and nightly.global_concurrency_limit.limit == 1
        assert nightly.concurrency_options.collision_strategy == "ENQUEUE", "a second run waits, never overlaps"
        assert "config" in nightly.parameter_openapi_schema["properties"], "the UI renders a typed form"

        parameters = nightly.parameters
        first = run_and_wait(client, deployments["pretrain/seqpipe"], parameters)
        assert first.state.is_completed(), (tmp_path / "serve.log").read_text()[-3000:]
        changed = {"config": {**parameters["config"], "embeddings": {**parameters["config"]["embeddings"], "dim": 12}}}
        second = run_and_wait(client, deployments["pretrain/seqpipe"], changed)
        assert second.state.is_completed(), (tmp_path / "serve.log").read_text()[-3000:]
        artifact = client.read_artifacts()
        assert any(a.key == "seqpipe-run-summary" and "seqpipe-embeddings" in a.data for a in artifact)

    mlflow = MlflowClient(urls["mlflow"])
    experiment = mlflow.get_experiment_by_name("seqpipe")
    runs = mlflow.search_runs([experiment.experiment_id], "tags.`seqpipe.kind` = 'pipeline'")
    assert {r.data.params["embeddings.dim"] for r in runs} == {"8", "12"}
    versions = sorted(mlflow.search_model_versions("name='seqpipe-embeddings'"), key=lambda v: int(v.version))
    assert len(versions) == 2 and mlflow.get_registered_model("seqpipe-embeddings").aliases["champion"] == "1"
    assert "no analogy_acc metric" in versions[1].tags["seqpipe.promotion"], "nothing to compare: stays challenger"

    compared = seqpipe("compare", "--last", "2", config=config)
    assert "embeddings.dim" in compared.stdout and "ingest.sources" not in compared.stdout
    traced = seqpipe("lineage", "seqpipe-embeddings@champion", config=config)
    for row in ("seqpipe-embeddings v1 (champion)", "pretrain", "embeddings", "vocab", "corpus",
                str(tmp_path / "in" / "0.txt")):
        assert row in traced.stdout, traced.stdout
    served = seqpipe("similar", "fox", "-k", "3", "--embeddings", "models:/seqpipe-embeddings@champion", config=config)
    assert len(served.stdout.splitlines()) == 3, "the champion serves nearest neighbours from the registry"


def test_ui_pages_render_in_headless_chromium(stack):
    """The MLflow page of a run and the Prefect page of the nightly deployment, as a browser renders them."""
    import shutil

    from mlflow.tracking import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no headless Chromium here: install Debian's `chromium` package to run this UI check")
    config, urls, tmp_path = stack
    mlflow = MlflowClient(urls["mlflow"])
    experiment = mlflow.get_experiment_by_name("seqpipe") or mlflow.get_experiment(mlflow.create_experiment("seqpipe"))
    run = mlflow.create_run(experiment.experiment_id, run_name="ui-check-run")
    mlflow.set_terminated(run.info.run_id)
    with temporary_settings({PREFECT_API_URL: urls["prefect"] + "/api"}), get_client(sync_client=True) as client:
        nightly = wait_for_deployments(client, {"pipeline/seqpipe"})["pipeline/seqpipe"]
        pretrain = wait_for_deployments(client, {"pretrain/seqpipe"})["pretrain/seqpipe"]
        run_and_wait(client, pretrain, nightly.parameters)  # a flow run with a training stage
        progress = next(a for a in client.read_artifacts() if a.key == "pretrain-progress")
    pages = {f"{urls['mlflow']}/#/experiments/{experiment.experiment_id}/runs/{run.info.run_id}": ["ui-check-run"],
             f"{urls['prefect']}/deployments/deployment/{nightly.id}": ["seqpipe", "pipeline", "nightly", "At 03:30 AM, Monday through Friday"],
             f"{urls['prefect']}/artifacts/artifact/{progress.id}": ["pretrain-progress", "100%"]}
    for number, (url, names) in enumerate(pages.items()):
        dom = render(browser, url, tmp_path / f"page{number}.png", tmp_path / f"profile{number}")
        for name in names:
            text = re.sub(r"<[^>]+>", " ", dom)
            assert name in dom, f"{name!r} not on the rendered page {url}: {' '.join(text.split())[:3000]}"
        assert (tmp_path / f"page{number}.png").stat().st_size > 10_000, "a screenshot with content"


def render(browser: str, url: str, screenshot, profile) -> str:
    """The page's DOM after its scripts ran (and a screenshot of it), from headless Chromium."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--window-size=1400,1000"]
    subprocess.run([browser, *flags, f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    out = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    return out.stdout


@pytest.mark.faults  # about 3.5 minutes: in `make test-faults`
def test_twenty_runs_at_once_queue_and_all_complete(stack):
    """Load: 20 runs of one deployment created at once; the concurrency limit queues them,
    each completes, and neither the server nor the runner hit a database lock."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    config, urls, tmp_path = stack
    with temporary_settings({PREFECT_API_URL: urls["prefect"] + "/api"}), get_client(sync_client=True) as client:
        ingest = wait_for_deployments(client, {"ingest/seqpipe"})["ingest/seqpipe"]
        started = time.monotonic()
        runs = [client.create_flow_run_from_deployment(ingest.id) for _ in range(20)]
        deadline = started + 600
        while True:
            states = [client.read_flow_run(run.id).state for run in runs]
            if all(state.is_final() for state in states) or time.monotonic() > deadline:
                break
            time.sleep(2)
        elapsed = time.monotonic() - started
    print(f"load: 20 runs created at once, all final after {elapsed:.0f} s")
    assert [s.name for s in states] == ["Completed"] * 20, [s.name for s in states]
    logs = (tmp_path / "serve.log").read_text() + (tmp_path / "state" / "services" / "prefect.log").read_text()
    assert "database is locked" not in logs
