"""One flow per stage, for the stage deployments (`ingest`, `vocab`, `pretrain`, `finetune-ner`, ...).

Each takes the whole pipeline config (the Prefect UI renders it as a typed form) and runs
its stage and whatever the stage needs: upstream stages whose output exists are reused,
so retraining the tagger does not re-ingest an unchanged corpus. Prefect deploys a flow by
its module path, so each is a module-level name: `flows.stages:finetune_ner`; a downstream
task of flows.step.TASKS gets its `finetune_<stage>` flow here without a line of its own.
"""
from prefect import flow

from flows.pipeline import DOWNSTREAM, run_stages
from flows.step import TASKS
from seqpipe.config import PipelineConfig


def stage_flow(target: str, name: str, description: str):
    """The flow `name` that runs run_stages(config, target)."""
    def run(config: PipelineConfig = PipelineConfig()) -> dict:
        return run_stages(config, target)

    run.__name__ = run.__qualname__ = name.replace("-", "_")
    run.__doc__ = description
    return flow(name=name, description=description)(run)


ingest = stage_flow("ingest", "ingest", "Ingest the sources (or the demo corpus) into a Parquet corpus.")
vocab = stage_flow("vocab", "vocab", "Ingest, then build the vocabulary and the negative-sampling table.")
pretrain = stage_flow("pretrain", "pretrain", "Ingest, vocabulary, then pretrain word embeddings.")
STAGE_FLOWS = {f.name: f for f in (ingest, vocab, pretrain)}
for _stage in DOWNSTREAM:  # finetune_ner, finetune_lm, ...: the first line of the stage's docstring describes it
    _flow = stage_flow(_stage, f"finetune-{_stage}", TASKS[_stage].__doc__.strip().splitlines()[0])
    globals()[f"finetune_{_stage}"] = STAGE_FLOWS[_flow.name] = _flow
