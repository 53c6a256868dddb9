"""Static checks of infra/ (docker compose, Dockerfile, Kubernetes): no Docker, no cluster, no network.

What this cannot check (nothing here starts a container) is listed in infra/README.md.
"""
import importlib.metadata
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from seqpipe.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|ACCESS_KEY|AUTH_STRING|API_KEY")
REQUIRED_SERVICES = {"postgres", "minio", "mlflow", "prefect-server", "prefect-worker", "ray-head", "ray-worker"}
K8S_KINDS = {"Namespace", "ConfigMap", "PersistentVolumeClaim", "RayCluster", "RayJob", "ServiceAccount", "Role",
             "RoleBinding", "Deployment"}


def compose() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def services() -> dict:
    return compose()["services"]


def k8s_docs() -> list[tuple[str, dict]]:
    return [(p.name, d) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"
            for d in yaml.safe_load_all(p.read_text()) if d is not None]


def k8s(kind: str) -> list[dict]:
    return [d for _, d in k8s_docs() if d["kind"] == kind]


def command(svc: dict) -> str:
    cmd = svc.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def flag(cmd: str, name: str) -> str:
    match = re.search(rf"{name}[ =]\"?([^\s\"]+)", cmd)
    assert match, f"{name} missing from {cmd!r}"
    return match.group(1)


def containers(doc) -> list[dict]:
    """Every container spec anywhere in a manifest (pods of Deployments, RayCluster groups, ...)."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found += value
            else:
                found += containers(value)
    elif isinstance(doc, list):
        for item in doc:
            found += containers(item)
    return found


# --- every file parses ---------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.y*ml")), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_yaml_file_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs)


# --- docker compose ------------------------------------------------------------------------

def test_compose_has_every_service_with_an_image():
    svcs = services()
    assert REQUIRED_SERVICES <= set(svcs)
    for name, svc in svcs.items():
        assert "image" in svc or "build" in svc, name


def test_dependencies_exist_and_health_conditions_have_healthchecks():
    svcs = services()
    for name, svc in svcs.items():
        deps = svc.get("depends_on", {})
        for dep, spec in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            assert dep in svcs, f"{name} depends on unknown service {dep}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in svcs[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"
    assert svcs["mlflow"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


def test_named_volumes_are_declared_and_shared_state_is_mounted_on_every_seqpipe_node():
    doc = compose()
    for name, svc in doc["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in doc["volumes"], f"{name}: volume {source} not declared"
    for name in ("prefect-worker", "ray-head", "ray-worker"):
        assert "seqpipe-state:/srv/seqpipe" in doc["services"][name]["volumes"], name


def test_published_ports_bind_to_localhost_by_default():
    published = 0
    for name, svc in services().items():
        for port in svc.get("ports", []):
            assert isinstance(port, str), f"{name}: use the HOST:PORT:PORT string form"
            host = port.rsplit(":", 2)[0]
            assert host == "127.0.0.1" or re.fullmatch(r"\$\{\w+:-127\.0\.0\.1\}", host), f"{name}: {port}"
            published += 1
    assert published >= 5
    assert "ports" not in services()["postgres"]  # the databases stay inside the compose network


def _environment(svc: dict) -> dict:
    env = svc.get("environment", {})
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_no_literal_secrets_in_compose():
    text = (INFRA / "docker-compose.yml").read_text()
    for name, svc in services().items():
        for key, value in _environment(svc).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{name}.{key} must be a ${{VAR:?}} reference"
            if "://" in str(value) and "@" in str(value):  # credentials inside a URL
                assert "${" in str(value), f"{name}.{key}"
    for url in re.findall(r"\w+(?:\+\w+)?://[^\s\"']*@", text):
        assert "${" in url or "$${" in url, url
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{(\w+):\?", code))
    example = {line.split("=", 1)[0] for line in (INFRA / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert required <= example, f".env.example lacks {required - example}"
    assert not (INFRA / ".env").exists() or "infra/.env" not in os.popen(f"git -C {ROOT} ls-files infra/.env").read()


def _seqpipe_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for svc in services().values():
        for key, value in _environment(svc).items():
            found.setdefault(key, set()).add(str(value))
    for doc in k8s("ConfigMap"):
        for key, value in doc.get("data", {}).items():
            found.setdefault(key, set()).add(str(value))
    for _, doc in k8s_docs():
        for c in containers(doc):
            for item in c.get("env", []):
                if "value" in item:
                    found.setdefault(item["name"], set()).add(str(item["value"]))
    found.update({m: {"x"} for m in re.findall(r"SEQPIPE__\w+", (INFRA / "docker" / "Dockerfile").read_text())})
    return {k: v for k, v in found.items() if k.startswith("SEQPIPE__")}


def test_every_seqpipe_variable_names_a_real_config_key(monkeypatch):
    variables = _seqpipe_variables()
    assert {"SEQPIPE__RUNTIME__STATE_DIR", "SEQPIPE__RUNTIME__TRACKING_URI", "SEQPIPE__RUNTIME__RAY_ADDRESS"} <= set(variables)
    for name in [n for n in os.environ if n.startswith("SEQPIPE__")]:
        monkeypatch.delenv(name)
    for name, values in variables.items():
        for value in values:
            monkeypatch.setenv(name, value)
            try:
                load_config(None)
            except ConfigError as err:
                pytest.fail(f"{name}={value}: {err}")
            monkeypatch.delenv(name)


def test_mlflow_server_uses_postgres_and_s3():
    svc = services()["mlflow"]
    cmd = command(svc)
    assert "mlflow server" in cmd
    assert flag(cmd, "--backend-store-uri").startswith("postgresql+psycopg2://mlflow:$${MLFLOW_DB_PASSWORD}@postgres:5432/mlflow")
    assert flag(cmd, "--artifacts-destination") == "s3://mlflow/"
    assert flag(cmd, "--host") == "0.0.0.0" and flag(cmd, "--port") == "5000"
    assert "mlflow" in flag(cmd, "--allowed-hosts").split(",")  # clients reach it as http://mlflow:5000
    env = _environment(svc)
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "mlflow" in command(services()["minio-init"])  # the bucket exists before the server starts
    init = (INFRA / "docker" / "postgres-init.sh").read_text()
    assert "CREATE DATABASE mlflow" in init and "CREATE DATABASE prefect" in init


def test_prefect_server_and_worker_agree():
    svcs = services()
    server_env = _environment(svcs["prefect-server"])
    assert server_env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://prefect:")
    assert "4200" in command(svcs["prefect-server"]) and any(p.endswith(":4200:4200") for p in svcs["prefect-server"]["ports"])
    assert command(svcs["prefect-worker"]) == "prefect worker start --pool seqpipe --type process"
    worker_env = _environment(svcs["prefect-worker"])
    assert worker_env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker_env["SEQPIPE__RUNTIME__TRACKING_URI"] == "http://mlflow:5000"
    assert worker_env["SEQPIPE__RUNTIME__STATE_DIR"] == "/srv/seqpipe"


def test_ray_ports_agree_between_compose_readme_and_kubernetes():
    svcs = services()
    head, worker = command(svcs["ray-head"]), command(svcs["ray-worker"])
    assert head.startswith("ray start --head --block") and "--dashboard-host 0.0.0.0" in head
    gcs, client = flag(head, "--port"), flag(head, "--ray-client-server-port")
    assert (gcs, client) == ("6379", "10001")
    assert flag(worker, "--address") == f"ray-head:{gcs}" and "--block" in worker
    assert any(p.endswith(f":{client}:{client}") for p in svcs["ray-head"]["ports"])
    assert any(p.endswith(":8265:8265") for p in svcs["ray-head"]["ports"])
    assert _environment(svcs["prefect-worker"])["SEQPIPE__RUNTIME__RAY_ADDRESS"] == f"ray://ray-head:{client}"
    assert _environment(svcs["ray-head"])["SEQPIPE__RUNTIME__RAY_ADDRESS"] == "auto"
    assert "replicas" in svcs["ray-worker"]["deploy"]
    readme = (INFRA / "README.md").read_text()
    assert f"ray://127.0.0.1:{client}" in readme and "http://127.0.0.1:5000" in readme
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in readme
    (env,) = [d for d in k8s("ConfigMap") if d["metadata"]["name"] == "seqpipe-env"]
    assert env["data"]["SEQPIPE__RUNTIME__RAY_ADDRESS"].endswith(f"-head-svc.seqpipe.svc.cluster.local:{client}")


def test_image_versions_match_this_environment():
    """Ray Client needs the same Ray and Python on both sides; the Prefect server the same Prefect."""
    ray_version = importlib.metadata.version("ray")
    pins = dict(line.split("==", 1) for line in (INFRA / "docker" / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["ray"] == ray_version and pins["prefect"] == importlib.metadata.version("prefect")
    assert pins["mlflow"] == importlib.metadata.version("mlflow")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    assert f"ARG PYTHON_VERSION={python}" in dockerfile and "FROM python:${PYTHON_VERSION}-slim" in dockerfile
    assert services()["prefect-server"]["image"] == f"prefecthq/prefect:{pins['prefect']}-python{python}"
    cluster_specs = [d["spec"] for d in k8s("RayCluster")] + [d["spec"]["rayClusterSpec"] for d in k8s("RayJob")]
    assert cluster_specs and all(spec["rayVersion"] == ray_version for spec in cluster_specs)


def test_dockerfile_installs_cpu_torch_then_the_project_and_copies_what_exists():
    text = (INFRA / "docker" / "Dockerfile").read_text()
    assert "--index-url ${TORCH_INDEX} torch==${TORCH_VERSION}" in text
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text
    assert re.search(r"pip install -c \S+ \. ", text)
    assert text.index("torch==${TORCH_VERSION}") < text.index("pip install -c /tmp/constraints.txt .")
    for src in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, flags=re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"COPY {part}: missing"
    targets = set(re.findall(r"^FROM .* AS (\w+)$", text, flags=re.M))
    for svc in services().values():
        if "build" in svc:
            assert svc["build"]["target"] in targets and svc["build"]["dockerfile"] == "infra/docker/Dockerfile"
    assert (INFRA / "docker" / "Dockerfile.dockerignore").read_text().count(".venv")
    assert compile((INFRA / "prefect" / "deploy.py").read_text(), "deploy.py", "exec")


def test_compose_validates_against_the_compose_spec_schema_when_one_is_on_disk():
    """The compose-spec JSON schema is not shipped here and tests never download: opt in with
    COMPOSE_SPEC_SCHEMA=/path/to/compose-spec.json."""
    schema_path = os.environ.get("COMPOSE_SPEC_SCHEMA")
    if not schema_path:
        pytest.skip("no compose-spec schema on disk (set COMPOSE_SPEC_SCHEMA to validate)")
    import json

    import jsonschema

    jsonschema.validate(compose(), json.loads(Path(schema_path).read_text()))


# --- Kubernetes ----------------------------------------------------------------------------

def test_every_manifest_has_identity_and_the_kinds_are_the_expected_set():
    docs = k8s_docs()
    for file, doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), file
    assert {d["kind"] for _, d in docs} == K8S_KINDS
    assert not k8s("Secret")  # secrets are created out of band, never committed


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_credentials_in_containers_come_only_from_secrets():
    configmaps = {d["metadata"]["name"]: d for d in k8s("ConfigMap")}
    for file, doc in k8s_docs():
        for c in containers(doc):
            for item in c.get("env", []):
                if SECRET_NAME.search(item["name"]):
                    assert "value" not in item and "secretKeyRef" in item.get("valueFrom", {}), f"{file}: {item['name']}"
            for source in c.get("envFrom", []):
                assert "secretRef" in source or source["configMapRef"]["name"] in configmaps, file
    for name, cm in configmaps.items():
        assert not [k for k in cm["data"] if SECRET_NAME.search(k)], f"credential in ConfigMap {name}"


def test_raycluster_autoscales_a_cpu_and_a_gpu_group():
    (cluster,) = k8s("RayCluster")
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True and spec["authOptions"]["mode"] == "token"
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    gpu = groups["gpu"]
    assert gpu["minReplicas"] == 0
    (c,) = gpu["template"]["spec"]["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "cpu" in groups and groups["cpu"]["maxReplicas"] >= groups["cpu"]["minReplicas"]


def test_rayjob_runs_seqpipe_with_the_mounted_config_and_cleans_up():
    (job,) = k8s("RayJob")
    spec = job["spec"]
    assert spec["entrypoint"].split()[:2] == ["seqpipe", "pipeline"]
    config_path = spec["entrypoint"].split("--config ")[1].split()[0]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in head["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in head["volumes"]}
    (conf,) = [n for n, path in mounts.items() if config_path.startswith(path + "/")]
    cm_name = volumes[conf]["configMap"]["name"]
    (cm,) = [d for d in k8s("ConfigMap") if d["metadata"]["name"] == cm_name]
    key = config_path.rsplit("/", 1)[1]
    cfg = yaml.safe_load(cm["data"][key])
    load_config(None, [f"{section}={yaml.safe_dump(value, default_flow_style=True).strip()}"
                       for section, value in cfg.items()])  # the mounted config is a valid pipeline config
    assert {e["name"]: e.get("value") for e in head["containers"][0]["env"]}["SEQPIPE__RUNTIME__RAY_ADDRESS"] == "auto"


def test_prefect_worker_runs_a_kubernetes_pool_and_may_create_jobs():
    (deployment,) = k8s("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["command"] == ["prefect", "worker", "start", "--pool", "seqpipe-k8s", "--type", "kubernetes"]
    env = {e["name"]: e for e in c["env"]}
    assert "configMapKeyRef" in env["PREFECT_API_URL"]["valueFrom"] or "secretKeyRef" in env["PREFECT_API_URL"]["valueFrom"]
    (role,) = k8s("Role")
    jobs = [r for r in role["rules"] if "jobs" in r["resources"]]
    assert jobs and "create" in jobs[0]["verbs"] and "batch" in jobs[0]["apiGroups"]
    (binding,) = k8s("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"] == k8s("ServiceAccount")[0]["metadata"]["name"]


def test_state_volume_is_read_write_many_and_mounted_where_state_dir_points():
    (pvc,) = k8s("PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    (env,) = [d for d in k8s("ConfigMap") if d["metadata"]["name"] == "seqpipe-env"]
    state = env["data"]["SEQPIPE__RUNTIME__STATE_DIR"]
    for doc in k8s("RayCluster") + k8s("RayJob"):
        for c in containers(doc):
            assert state in [m["mountPath"] for m in c["volumeMounts"]], doc["metadata"]["name"]


def test_prefect_yaml_deploys_the_flows_of_seqpipe_serve():
    import importlib

    from flows.deploy import DEPLOYMENT
    from flows.pipeline import pipeline
    from flows.stages import STAGE_FLOWS
    from seqpipe.config import ScheduleConfig

    spec = yaml.safe_load((INFRA / "prefect" / "prefect.yaml").read_text())
    flows = set()
    for deployment in spec["deployments"]:
        path, _, name = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flows.add(getattr(module, name).name)
        assert deployment["name"] == DEPLOYMENT and deployment["concurrency_limit"]["limit"] == 1
        assert deployment["work_pool"]["name"] == "seqpipe"
    assert flows == {pipeline.name, *STAGE_FLOWS}
    [nightly] = spec["deployments"][0]["schedules"]
    assert (nightly["cron"], nightly["timezone"]) == (ScheduleConfig().cron, ScheduleConfig().timezone)
