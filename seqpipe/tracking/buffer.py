"""Metrics that could not reach the MLflow server: kept on disk and sent later, never lost.

Training workers log each epoch's metrics with short timeouts (a stopped server must not
stall training for the MLflow client's minutes of retries). What fails is appended to
`<state_dir>/mlflow-buffer/<run_id>.jsonl`; every seqpipe command that reaches the server
sends what is pending, and a stage whose run still has pending metrics at its end fails
with a message that says where they are.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator

BUFFER = "mlflow-buffer"
QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


@contextlib.contextmanager
def quick_requests() -> Iterator[None]:
    """MLflow HTTP calls that fail in seconds instead of retrying for minutes."""
    saved = {key: os.environ.get(key) for key in QUICK}
    os.environ.update(QUICK)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def buffer_file(state_dir: str, run_id: str) -> Path:
    return Path(state_dir).resolve() / BUFFER / f"{run_id}.jsonl"


def keep(state_dir: str, run_id: str, metrics: list, error: Exception) -> Path:
    """Append metrics (mlflow.entities.Metric) that could not be logged."""
    path = buffer_file(state_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for m in metrics:
            f.write(json.dumps({"key": m.key, "value": m.value, "timestamp": m.timestamp, "step": m.step}) + "\n")
    print(f"MLflow unreachable ({type(error).__name__}): {len(metrics)} metric values of run {run_id} kept "
          f"in {path}; they are sent when the server is back", file=sys.stderr, flush=True)
    return path


def send_pending(tracking_uri: str, state_dir: str, run_id: str | None = None) -> int:
    """Send the kept metrics (of one run, or all); returns how many values are still pending."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    folder = Path(state_dir).resolve() / BUFFER
    paths = [buffer_file(state_dir, run_id)] if run_id else sorted(folder.glob("*.jsonl"))
    client, left = MlflowClient(tracking_uri), 0
    for path in paths:
        if not path.exists():
            continue
        claimed = path.with_name(f"{path.name}.{os.getpid()}.sending")  # new values go to a new file
        path.rename(claimed)
        values = [Metric(**json.loads(line)) for line in claimed.read_text(encoding="utf-8").splitlines() if line]
        try:
            with quick_requests():
                for start in range(0, len(values), 1000):
                    client.log_batch(path.stem, metrics=values[start:start + 1000])
            claimed.unlink()
        except Exception:  # still unreachable: keep them all (a resend of a sent value only duplicates a point)
            with open(path, "a", encoding="utf-8") as f:
                f.write(claimed.read_text(encoding="utf-8"))
            claimed.unlink()
            left += len(values)
    return left
