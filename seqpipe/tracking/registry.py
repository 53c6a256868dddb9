"""The MLflow model registry: the promotion gate, lineage of a model version, run comparison.

The gate compares a newly
registered version with the version under the `champion` alias on the same evaluation
set (same content hash): it becomes `champion` only when it is better by the configured
margin, else it is the `challenger`. Numbers measured on different sets are never
compared: the new version stays challenger and the reason says so.
"""
from __future__ import annotations

import glob
from dataclasses import asdict, dataclass
from pathlib import Path

from seqpipe.core.artifacts import sha256_file, sha256_json
from seqpipe.core.stage import Gate

CHAMPION, CHALLENGER = "champion", "challenger"
@dataclass
class Decision:
    model: str
    version: str
    metric: str | None
    value: float | None
    champion_version: str | None
    champion_value: float | None
    promoted: bool
    reason: str


def gate_metric(gate: Gate, metrics: dict) -> tuple[str | None, float | None]:
    """The metric that judges a version and its value among a stage's metrics (None when absent)."""
    for name in gate.metrics:
        if isinstance(metrics.get(name), (int, float)):
            return name, float(metrics[name])
    return None, None


def evaluation_set_hash(files: list[str | None], settings: dict | None = None) -> str:
    """Content hash of the evaluation data: the files (paths, folders or globs) and the settings
    that select the evaluated part of them (e.g. a dev fraction and seed)."""
    digests = [[Path(p).name, sha256_file(p)] for spec in files if spec for p in _expand(spec)]
    return sha256_json({"files": digests, "settings": settings or {}})


def decide(gate: Gate, metric: str | None, value: float | None, eval_hash: str, champion: dict | None,
           margin: float) -> tuple[bool, str]:
    """Whether a version with this metric value should replace the champion, and why."""
    if champion is None:
        return True, "first version measured: no champion yet"
    if metric is None or value is None:
        return False, f"no {'/'.join(gate.metrics) or 'gate'} metric to compare"
    if champion.get("seqpipe.eval_hash") != eval_hash or champion.get("seqpipe.gate_metric") != metric:
        return False, ("the champion was measured on a different evaluation set; compare them on one set, "
                       "then `seqpipe promote` by hand")
    best = float(champion["seqpipe.gate_value"])
    gain = value - best if gate.mode == "max" else best - value
    if gain > margin:
        return True, f"{metric} {value:.4g} beats the champion's {best:.4g} by {gain:.4g} (> margin {margin:g})"
    return False, f"{metric} {value:.4g} vs the champion's {best:.4g}: gain {gain:.4g} is not above margin {margin:g}"


def promote_if_better(model: str, version: str, metrics: dict, eval_hash: str, margin: float, gate: Gate) -> Decision:
    """Run the gate for a just-registered version: set its alias and record the decision on it.
    `gate` (the task stage's GATE) names the metrics that judge it."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    metric, value = gate_metric(gate, metrics)
    tags = {"seqpipe.eval_hash": eval_hash}
    if metric is not None:
        tags.update({"seqpipe.gate_metric": metric, "seqpipe.gate_value": repr(value)})
    for key, tag in tags.items():
        client.set_model_version_tag(model, version, key, tag)
    try:
        current = client.get_model_version_by_alias(model, CHAMPION)
    except MlflowException:  # no champion alias yet
        current = None
    champion = dict(current.tags) if current is not None and str(current.version) != str(version) else None
    promoted, reason = decide(gate, metric, value, eval_hash, champion, margin)
    if current is not None and champion is None:  # already the champion (e.g. promoted by hand)
        promoted, reason = True, "already the champion"
    client.set_registered_model_alias(model, CHAMPION if promoted else CHALLENGER, version)
    client.set_model_version_tag(model, version, "seqpipe.promotion", f"{CHAMPION if promoted else CHALLENGER}: {reason}")
    champion_value = float(champion["seqpipe.gate_value"]) if champion and "seqpipe.gate_value" in champion else None
    decision = Decision(model, str(version), metric, value, str(current.version) if current is not None else None,
                        champion_value, promoted, reason)
    _log_on_active_run(decision)
    return decision


def _log_on_active_run(decision: Decision) -> None:
    """The decision and both numbers on the stage run that registered the version."""
    import mlflow

    if mlflow.active_run() is None:
        return
    mlflow.set_tags({"seqpipe.promotion": CHAMPION if decision.promoted else CHALLENGER,
                     "seqpipe.promotion_reason": decision.reason,
                     "seqpipe.champion_version": decision.champion_version or ""})
    if decision.metric and decision.champion_value is not None:
        mlflow.log_metric(f"champion_{decision.metric}", decision.champion_value)


def promote(model: str, version: str) -> str | None:
    """Make `version` the champion by hand; returns the version it replaces."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    try:
        previous = str(client.get_model_version_by_alias(model, CHAMPION).version)
    except MlflowException:
        previous = None
    client.get_model_version(model, version)  # raises a clear MlflowException when it does not exist
    client.set_registered_model_alias(model, CHAMPION, version)
    client.set_model_version_tag(model, version, "seqpipe.promotion", f"{CHAMPION}: promoted by hand")
    return previous


def decision_markdown(decisions: list[Decision], run_links: dict[str, str]) -> str:
    """The Prefect artifact that summarises a run: stage runs and promotion decisions."""
    lines = ["# seqpipe pipeline run", "", "| stage | MLflow run |", "|---|---|"]
    lines += [f"| {stage} | [{link.rsplit('/', 1)[-1]}]({link}) |" for stage, link in run_links.items()]
    if decisions:
        lines += ["", "| model | version | metric | value | champion | champion value | decision |",
                  "|---|---|---|---|---|---|---|"]
        for d in decisions:
            lines.append(f"| {d.model} | {d.version} | {d.metric or '-'} | {_num(d.value)} | "
                         f"{d.champion_version or '-'} | {_num(d.champion_value)} | "
                         f"**{CHAMPION if d.promoted else CHALLENGER}**: {d.reason} |")
    return "\n".join(lines)


def as_dict(decision: Decision) -> dict:
    return asdict(decision)


def _num(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _expand(spec: str) -> list[str]:
    path = Path(spec)
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(glob.glob(spec)) if any(c in spec for c in "*?[") else [spec]
