"""The `pipeline` Prefect flow: demo data (when no sources are given) -> ingest -> vocab -> pretrain
-> the downstream stages (NER tagger, language model, translation, speech recognition).

Every stage is the same Prefect task: flows.step.run_step (its MLflow run under the
pipeline's parent run, the library stage, logging, registration and the promotion gate).
The downstream stages are submitted side by side where the cluster has room for their workers
(runtime.max_concurrent_stages).
Stages skip their work when their content-addressed output already exists, so an
unchanged rerun costs one pass of hashing over the inputs.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.settings import PREFECT_UI_URL
from prefect.artifacts import create_markdown_artifact

from flows.progress import StageProgressArtifact
from flows.step import TASKS, config_section, describe, run_step
from seqpipe.config import DemoConfig, PipelineConfig, RuntimeConfig
from seqpipe.core import progress
from seqpipe.core.progress import Update
from seqpipe.core.errors import SeqpipeError
from seqpipe.core.stage import StageInputs
from seqpipe.data.demo_corpus import build_demo_corpus
from seqpipe.tracking import registry
from seqpipe.tracking import runs as tracking
from seqpipe.training.scaling import stages_at_once

UPSTREAM = ("ingest", "vocab", "pretrain")
DOWNSTREAM = tuple(s for s in TASKS if s not in UPSTREAM)  # ner, lm, translation, speech: in this order


def retry_on_io_errors(task, task_run, state) -> bool:
    """Retry transient failures (a flaky disk or bucket), never a user error such as bad input."""
    try:
        state.result()
    except SeqpipeError:
        return False
    except Exception:
        return True
    return False


@task(name="demo-corpus")
def demo_task(runtime: RuntimeConfig, demo: DemoConfig) -> str:
    folder = build_demo_corpus(runtime.local_dir, demo.max_mb, demo.corpus)
    get_run_logger().info("demo corpus: %s", folder)
    return str(folder)


@task(name="stage", retries=1, retry_delay_seconds=5, retry_condition_fn=retry_on_io_errors)
def stage_task(stage: str, cfg, inputs: StageInputs, runtime: RuntimeConfig, parent_run_id: str | None,
               promotion, name: str | None = None, register_as: str | None = None) -> tuple:
    """flows.step.run_step as a Prefect task: the stage's MLflow run, its output, the gate; its
    progress as an artifact and log lines of the task run."""
    logger = get_run_logger()
    with progress.listening(StageProgressArtifact(name or stage, logger)):
        outcome = run_step(stage, cfg, inputs, runtime, promotion, parent_run_id, name, register_as)
    logger.info(describe(name or stage, outcome))
    return outcome.result, outcome.decision


def stage_call(stage: str, cfg, inputs: StageInputs, runtime: RuntimeConfig, config: PipelineConfig, run_id: str,
               name: str | None = None, register_as: str | None = None) -> tuple:
    """The stage's Prefect task and its arguments."""
    call = stage_task.with_options(name=name or stage, retries=2 if stage in ("ingest", "vocab") else 1)
    return call, (stage, cfg, inputs, runtime, run_id, config.promotion, name, register_as)


@flow(name="pipeline")
def pipeline(config: PipelineConfig = PipelineConfig()) -> dict:
    """Ingest the sources (or the demo corpus), build the vocabulary, pretrain embeddings, fine-tune."""
    return run_stages(config, "all")


def run_stages(config: PipelineConfig, target: str) -> dict:
    """Every stage up to `target` (one of UPSTREAM or DOWNSTREAM, or "all": the configured downstream
    stages). Stages whose output exists are reused, so a stage deployment costs only its own work."""
    downstream = config.downstream if target == "all" else [target] if target in DOWNSTREAM else []
    last = len(UPSTREAM) if target not in UPSTREAM else UPSTREAM.index(target) + 1
    config = demo_data_where_missing(config, downstream)
    summary, decisions = {}, []
    with tracking.pipeline_run(config.runtime, config, name="pipeline" if target == "all" else target) as run_id:
        inputs = StageInputs()
        upstream_runtime = config.runtime.model_copy(update={"max_concurrent_stages": None})  # the whole cluster
        for stage, key, field in (("ingest", "corpus", "corpus"), ("vocab", "vocab", "vocab"),
                                  ("pretrain", "embeddings", "embeddings"))[:last]:
            call, args = stage_call(stage, getattr(config, config_section(stage)), inputs, upstream_runtime, config,
                                    run_id)
            result, decision = call(*args)
            summary[key], inputs = result.model_dump(), inputs.model_copy(update={field: result.uri})
            decisions.append(decision)
        for name, (result, decision) in run_downstream(config, downstream, inputs, run_id):
            summary[name] = result.model_dump()
            decisions.append(decision)
    summary["promotion"] = [d for d in decisions if d]
    links = publish_summary(config, run_id, summary["promotion"])
    return {"mlflow_run_id": run_id, **summary, "links": links}


def run_downstream(config: PipelineConfig, downstream: list[str], inputs: StageInputs, run_id: str) -> list[tuple]:
    """(run name, (result, decision)) of every downstream run, in the configured order.

    They depend only on the upstream outputs (speech also on the character LM it fuses with),
    so up to stages_at_once of them train side by side, each asking Ray for its share of the
    cluster; the rest wait their turn. After a failure no new run starts: the running ones
    finish (and register), then the first error is raised, as a sequential run would.
    """
    runs = [(stage, name, cfg, register_as)
            for stage in DOWNSTREAM if stage in downstream or (stage == "lm" and needs_char_lm(config, downstream))
            for name, cfg, register_as in stage_runs(stage, config, downstream)]
    limit = stages_at_once(config.runtime, [cfg.train for _, _, cfg, _ in runs])
    runtime = config.runtime.model_copy(update={"max_concurrent_stages": limit})
    lms = [name for stage, name, _, _ in runs if stage == "lm"]
    after = {"speech": lms if config.speech.fusion_lm == "auto" else []}
    for _, name, _, _ in runs:  # in the pipeline's order, before any starts
        progress.report(Update(name, "queued"))
    results, running, pending, failure = {}, {}, list(runs), None
    while pending or running:
        while failure is None and len(running) < limit:
            ready = next((r for r in pending if all(n in results for n in after.get(r[0], []))), None)
            if ready is None:
                break
            pending.remove(ready)
            stage, name, cfg, register_as = ready
            lm = fusion_lm(config, {n: r[0].model_dump() for n, r in results.items()}) if stage == "speech" else None
            call, args = stage_call(stage, cfg, inputs.model_copy(update={"lm": lm}) if lm else inputs, runtime,
                                    config, run_id, name, register_as)
            running[call.submit(*args)] = name
        if not running:
            break
        future = next(as_completed(list(running)))
        name = running.pop(future)
        try:
            results[name] = future.result()
        except Exception as err:  # the first failure is raised once the running stages finish
            failure = failure or err
    if failure is not None:
        raise failure
    return [(name, results[name]) for _, name, _, _ in runs]


def needs_char_lm(config: PipelineConfig, downstream: list[str]) -> bool:
    return "speech" in downstream and config.speech.fusion_lm == "auto"


def stage_runs(stage: str, config: PipelineConfig, downstream: list[str]) -> list[tuple]:
    """(run name, config, registered name) of each run of a downstream stage: the `lm` stage
    when asked for, and `lm-char`, the character LM that speech fuses with, when needed."""
    cfg = getattr(config, config_section(stage))
    if stage != "lm":
        return [(stage, cfg, None)]
    runs = [("lm", cfg, None)] if "lm" in downstream else []
    if needs_char_lm(config, downstream) and not (runs and cfg.level == "char"):
        runs.append(("lm-char", cfg.model_copy(update={"level": "char"}), "seqpipe-char-lm"))
    return runs


def fusion_lm(config: PipelineConfig, summary: dict) -> str | None:
    """With speech.fusion_lm "auto", the corpus's character LM; otherwise the stage resolves its own."""
    if config.speech.fusion_lm != "auto":
        return None
    return summary.get("lm-char", summary.get("lm", {})).get("uri")


def demo_data_where_missing(config: PipelineConfig, downstream: list[str]) -> PipelineConfig:
    """Demo data (and the demo's training budget) for every stage whose data is not configured."""
    runtime, demo, update = config.runtime, config.demo, {}
    if not config.ingest.sources:
        folder = demo_task(runtime, demo)
        update["ingest"] = config.ingest.model_copy(update={"sources": [f"{folder}/*.txt"]})
        update["lm"] = on_demo_data(config.lm, demo.train_minutes)
    for stage in downstream:  # a stage that names no data of its own gets its generated demo set
        cfg = getattr(config, config_section(stage))
        with_demo = TASKS[stage].with_demo_data(cfg, runtime.local_dir, demo)
        if with_demo is not cfg:
            minutes = {"speech": demo.speech_train_minutes, "captioning": demo.captioning_train_minutes}
            update[stage] = on_demo_data(with_demo, minutes.get(stage, demo.train_minutes))
            get_run_logger().info("%s: no data configured, training on the generated demo set", stage)
    return config.model_copy(update=update)


def on_demo_data(cfg, minutes: float):
    """A downstream stage's config with the demo's training budget, unless it sets its own."""
    if cfg.train.max_minutes is not None:
        return cfg
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_minutes": minutes})})


def publish_summary(config: PipelineConfig, run_id: str, decisions: list[dict]) -> dict[str, str]:
    """A Prefect markdown artifact: links to the MLflow runs and the promotion decisions.
    Returns the links a person follows next: the pipeline's MLflow run, the Prefect flow run."""
    services = config.services
    mlflow_ui = f"http://{services.host}:{services.mlflow_port}"
    links = tracking.run_links(config.runtime, run_id, mlflow_ui)
    markdown = registry.decision_markdown([registry.Decision(**d) for d in decisions], links)
    create_markdown_artifact(markdown, key="seqpipe-run-summary", description="MLflow runs and model promotion")
    mlflow_link = next(iter(links.values()))
    if not config.runtime.tracking_uri:  # SQLite: the link works while `seqpipe up` serves it
        mlflow_link += "  (served by `seqpipe up`)"
    prefect_link = flow_run.ui_url if PREFECT_UI_URL.value() else "embedded, no UI (`seqpipe up` starts one)"
    return {"MLflow": mlflow_link, "Prefect": prefect_link}
