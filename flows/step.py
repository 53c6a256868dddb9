"""One pipeline step, the same for every stage: open the stage's MLflow run, run the stage,
log what its manifest lists, register a new model and put it through the promotion gate.

The Prefect flow (flows/pipeline.py) runs it as a task; `seqpipe finetune` calls it
directly, so a model trained from the command line passes the same gate. Nothing here
imports Prefect.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel

from seqpipe.config import PromotionConfig, RuntimeConfig
from seqpipe.core import progress, store
from seqpipe.core.artifacts import sha256_json
from seqpipe.core.progress import Update
from seqpipe.core.stage import StageInputs, local_folder
from seqpipe.data.ingest import run_ingest
from seqpipe.data.vocab import run_vocab
from seqpipe.tasks.captioning import stage as captioning
from seqpipe.tasks.embeddings import stage as embeddings
from seqpipe.tasks.lm import stage as lm
from seqpipe.tasks.ner import stage as ner
from seqpipe.tasks.sentiment import stage as sentiment
from seqpipe.tasks.speech import stage as speech
from seqpipe.tasks.translation import stage as translation
from seqpipe.tracking import registry
from seqpipe.tracking import runs as tracking
from seqpipe.tracking.epochs import watch_epochs

# stage name -> task stage module (run, REGISTER_AS, GATE, with_demo_data, evaluation_set); a new task is one line
TASKS = {"pretrain": embeddings, "ner": ner, "lm": lm, "translation": translation, "speech": speech,
         "sentiment": sentiment, "captioning": captioning}
DATA_STAGES = {"ingest": lambda cfg, inputs, runtime, run_id: run_ingest(cfg, runtime, on_progress=_shards_written),
               "vocab": lambda cfg, inputs, runtime, run_id: run_vocab(cfg, inputs.corpus, runtime)}


@dataclass
class StepOutcome:
    result: BaseModel  # the stage's result: uri, content_hash, reused, metrics (or counts / stats)
    version: str | None  # the model version registered now (None: reused, a data stage, or not registered)
    decision: dict | None  # the promotion gate's decision on that version


def config_section(stage: str) -> str:
    """The PipelineConfig field of a stage ("pretrain" reads `embeddings`)."""
    return "embeddings" if stage == "pretrain" else stage


def run_step(stage: str, cfg: BaseModel, inputs: StageInputs, runtime: RuntimeConfig, promotion: PromotionConfig,
             parent_run_id: str | None = None, name: str | None = None,
             register_as: str | None = None) -> StepOutcome:
    """Run `stage` ("ingest", "vocab", or a key of TASKS) as MLflow run `name` (default: the stage).

    A new output of a task stage is registered as `register_as` (default: the stage's
    REGISTER_AS) and gated; a reused one was registered and gated by the run that wrote it,
    else (that run crashed first, or this machine's MLflow has never seen it) it is now; of
    processes finishing one folder at once, one registers it (`_to_register`).
    """
    task, name = TASKS.get(stage), name or stage
    epochs = _epochs(cfg)
    progress.report(Update(name, "start", total=epochs or 0, unit="epochs" if epochs else "shards"))
    started = time.monotonic()
    with tracking.stage_run(runtime, name, cfg, parent_run_id) as run_id:
        inputs = local_inputs(inputs, runtime)
        if task:
            with watch_epochs(run_id, name, epochs or 0):
                result = task.run(cfg, inputs, runtime, run_id)
        else:
            result = DATA_STAGES[stage](cfg, inputs, runtime, run_id)
        model = _to_register(result, (register_as or task.REGISTER_AS) if task else None, runtime)
        version = tracking.log_output(local_folder(result.uri, runtime.store_cache), result.reused, model, result.uri)
        decision = None
        if version is not None and promotion.enabled:
            margin = promotion.margins.get(model, promotion.margin)
            eval_set = registry.evaluation_set_hash(*task.evaluation_set(cfg, inputs))
            decision = registry.as_dict(registry.promote_if_better(model, version, result.metrics, eval_set, margin,
                                                                   task.GATE))
    outcome = StepOutcome(result, version, decision)
    progress.report(Update(name, "end", summary=summarize(stage, outcome, time.monotonic() - started)))
    return outcome


def _to_register(result: BaseModel, model: str | None, runtime: RuntimeConfig) -> str | None:
    """`model` when this process is the one to register the stage's output, else None.

    Many processes may finish the same folder at once (two nightly runs, a run and a `seqpipe
    finetune`): one publishes it, the others reuse it, and exactly one of them registers it in
    their MLflow, the first to claim it (seqpipe.core.store.claim). A folder already registered
    there (by the run that wrote it, or a later one) is not registered again."""
    if not model or (result.reused and tracking.registered_version(model, result.uri)):
        return None
    registry_id = sha256_json(tracking.tracking_uri(runtime))[:12]  # each MLflow registers it once
    return model if store.claim(result.uri, f"registered-as-{model}-in-{registry_id}") else None


def local_inputs(inputs: StageInputs, runtime: RuntimeConfig) -> StageInputs:
    """The upstream folders as this machine reads them (working copies of those on object storage)."""
    return StageInputs(**{field: local_folder(uri, runtime.store_cache) for field, uri in inputs.model_dump().items()})


def summarize(stage: str, outcome: StepOutcome, seconds: float) -> dict:
    """A stage's row in a run's summary: new or reused, the headline metric and its baseline,
    the model version and the gate's verdict, the time."""
    result, task = outcome.result, TASKS.get(stage)
    row = {"reused": result.reused, "seconds": round(seconds, 1), "version": outcome.version,
           "decision": outcome.decision}
    metrics = result.metrics if task else getattr(result, "counts", None) or getattr(result, "stats", {})
    if task is not None:
        headline, baseline = next((m for m in task.GATE.metrics if m in metrics), None), task.GATE.baseline
        headline = headline or next((m for m in ("words_per_s", "loss") if m in metrics), None)  # no analogy set
        row["metric"] = (headline, metrics[headline]) if headline else None
        row["baseline"] = (baseline, metrics[baseline]) if baseline in metrics else None
    elif stage == "ingest":
        row["metric"] = ("tokens", metrics.get("tokens"))
    else:
        row["metric"] = ("size", metrics.get("size"))
    return row


def _epochs(cfg: BaseModel) -> int | None:
    """How many epochs a training stage's config asks for (None: a data stage)."""
    train = getattr(cfg, "train", None)
    return getattr(train, "epochs", None) or getattr(cfg, "epochs", None)


def _shards_written(done: int, total: int) -> None:
    progress.report(Update("ingest", "advance", done, total, "shards"))


def describe(stage: str, outcome: StepOutcome) -> str:
    """One line for the log: the output, new or reused, the model version and the gate's verdict."""
    result = outcome.result
    line = f"{stage} {result.uri} ({'reused' if result.reused else 'new'}"
    line += f", model version {outcome.version})" if outcome.version else ")"
    task = TASKS.get(stage)
    if task is not None:
        line += "".join(f": {m} {result.metrics[m]:.4g}" for m in task.GATE.metrics[:1] if m in result.metrics)
    if outcome.decision:
        d = outcome.decision
        line += f"; {d['model']} v{d['version']} -> {'champion' if d['promoted'] else 'challenger'}: {d['reason']}"
    return line
