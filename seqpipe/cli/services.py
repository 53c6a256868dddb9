"""The local UI stack: a Prefect server and an MLflow server, with their state in the project folder.

`seqpipe up` starts both on `services.host` (127.0.0.1 by default), records their pids and
URLs in `<state_dir>/services/services.json` and waits until they answer; `seqpipe down`
stops them by those pids. While they run, every seqpipe command sends its flow runs and
MLflow runs to them (`use_running`); when they are down, it falls back to the embedded
defaults (ephemeral Prefect, MLflow on SQLite) over the very same databases.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from seqpipe.core.artifacts import process_alive
from seqpipe.core.errors import SeqpipeError


class ServiceError(SeqpipeError):
    """A server that would not start, with the end of its log."""


@dataclass
class Service:
    name: str
    url: str     # what a browser opens
    health: str  # what answers 200 when the server is ready
    pid: int
    log: str


def services_file(state_dir: str | Path) -> Path:
    return Path(state_dir).resolve() / "services" / "services.json"


def start(cfg) -> list[Service]:
    """Start the servers that are not running yet and wait until both answer."""
    records = _records(cfg.runtime.local_dir)
    services = []
    for name in ("prefect", "mlflow"):
        if name in records and _alive(records[name]["pid"]):
            service = Service(**records[name])  # running, or still starting
        else:
            service = _spawn(name, cfg)
            _record(cfg.runtime.local_dir, service)
        services.append(service)
    deadline = time.monotonic() + cfg.services.start_timeout_s
    for service in services:
        while not answers(service.health):
            if not _alive(service.pid) or time.monotonic() > deadline:
                reason = "exited" if not _alive(service.pid) else f"did not answer in {cfg.services.start_timeout_s:g} s"
                stop(cfg.runtime.local_dir, [service.name])
                raise ServiceError(f"the {service.name} server {reason}; end of {service.log}:\n{_tail(service.log)}")
            time.sleep(0.5)
    return services


def stop(state_dir: str | Path, names: list[str] | None = None) -> list[str]:
    """Stop the recorded servers (their whole process groups); returns the names stopped."""
    records = _records(state_dir)
    stopped = []
    for name in list(records):
        if names is not None and name not in names:
            continue
        pid = records.pop(name)["pid"]
        if _alive(pid):
            _terminate(pid)
            stopped.append(name)
    _write_records(state_dir, records)
    return stopped


def status(state_dir: str | Path) -> list[dict]:
    """Each recorded server: its record, whether its process lives and whether it answers."""
    out = []
    for record in _records(state_dir).values():
        alive = _alive(record["pid"])
        out.append({"service": record, "alive": alive, "healthy": alive and answers(record["health"])})
    return out


def use_running(cfg):
    """The config pointed at the running servers: MLflow unless tracking_uri is set, and
    Prefect (PREFECT_API_URL) unless the environment names one already."""
    healthy = {s["service"]["name"]: s["service"] for s in status(cfg.runtime.local_dir) if s["healthy"]}
    if "prefect" in healthy:
        os.environ.setdefault("PREFECT_API_URL", healthy["prefect"]["url"] + "/api")
    if "mlflow" in healthy and cfg.runtime.tracking_uri is None:
        runtime = cfg.runtime.model_copy(update={"tracking_uri": healthy["mlflow"]["url"]})
        cfg = cfg.model_copy(update={"runtime": runtime})
    return cfg


def server_command(name: str, cfg) -> tuple[list[str], dict, str, str]:
    """(argv, environment, browser URL, health URL) that start the `name` server; starts nothing.

    Both servers bind to `services.host` (127.0.0.1 unless configured otherwise)."""
    state = Path(cfg.runtime.local_dir).resolve()
    host, bin_dir = cfg.services.host, Path(sys.executable).parent
    browse_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    env = dict(os.environ)
    if name == "prefect":
        port = cfg.services.prefect_port
        command = [str(bin_dir / "prefect"), "server", "start", "--host", host, "--port", str(port)]
        # SQLite takes one writer at a time. The late-runs service marks every queued run Late in one
        # burst of writes that races the runs' own state changes ("database is locked" with 20 runs
        # queued); on this one-user stack, queued runs stay Scheduled instead (infra/'s Postgres keeps it)
        env.update(PREFECT_HOME=str(state / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_UI_API_URL=f"http://{browse_host}:{port}/api", PREFECT_SERVER_DATABASE_TIMEOUT="60",
                   PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED="false")
        env.pop("PREFECT_API_URL", None)
        url, health = f"http://{browse_host}:{port}", f"http://{browse_host}:{port}/api/health"
    else:
        port = cfg.services.mlflow_port
        command = [str(bin_dir / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{state / 'mlflow.db'}",
                   "--artifacts-destination", str(state / "mlartifacts"), "--workers", "1",
                   "--host", host, "--port", str(port)]
        env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
        url, health = f"http://{browse_host}:{port}", f"http://{browse_host}:{port}/health"
    return command, env, url, health


def _spawn(name: str, cfg) -> Service:
    state = Path(cfg.runtime.local_dir).resolve()
    command, env, url, health = server_command(name, cfg)
    log = services_file(state).parent / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=state, start_new_session=True)
    return Service(name, url, health, process.pid, str(log))


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    if not process_alive(pid):
        return False
    try:  # a zombie child of this process counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _terminate(pid: int, grace_s: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)  # what is left of the group: server workers
    except ProcessLookupError:
        pass


def _records(state_dir) -> dict:
    path = services_file(state_dir)
    return json.loads(path.read_text()) if path.exists() else {}


def _record(state_dir, service: Service) -> None:
    records = _records(state_dir)
    records[service.name] = asdict(service)
    _write_records(state_dir, records)


def _write_records(state_dir, records: dict) -> None:
    path = services_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=2))
    tmp.replace(path)


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
