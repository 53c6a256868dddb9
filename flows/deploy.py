"""Prefect deployments: the whole pipeline on a nightly schedule, and one deployment per stage.

`seqpipe serve` registers them with the Prefect server and runs their flow runs in this
process (`prefect.serve`): trigger them from the UI (Deployments -> Run, with a typed form
of the config) or let the schedule fire. Teams with work pools register them with infra/prefect/deploy.py.
"""
from __future__ import annotations

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

from flows.pipeline import pipeline
from flows.stages import STAGE_FLOWS
from seqpipe.config import PipelineConfig

DEPLOYMENT = "seqpipe"  # every flow's deployment has this name: `prefect deployment run pipeline/seqpipe`


def deployments(config: PipelineConfig) -> list:
    """The pipeline deployment (with the nightly schedule) and the stage deployments; the given
    config is every deployment's default parameter, which a run from the UI can change."""
    # one run at a time per deployment; more wait in the queue (two trainings would share the cores)
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
    parameters = {"config": config.model_dump(mode="json")}
    nightly = Cron(config.schedule.cron, timezone=config.schedule.timezone, active=config.schedule.active)
    out = [pipeline.to_deployment(
        DEPLOYMENT, schedule=nightly, parameters=parameters, concurrency_limit=one_at_a_time,
        tags=["seqpipe", "nightly"], description="Nightly retraining: every stage, the promotion gate, a summary.",
        entrypoint_type=EntrypointType.MODULE_PATH)]
    for name, stage_flow in STAGE_FLOWS.items():
        out.append(stage_flow.to_deployment(
            DEPLOYMENT, parameters=parameters, concurrency_limit=one_at_a_time, tags=["seqpipe", name],
            description=stage_flow.description, entrypoint_type=EntrypointType.MODULE_PATH))
    return out


def serve_deployments(config: PipelineConfig) -> None:
    """Register the deployments and run their flow runs here, one at a time, until interrupted.

    pause_on_shutdown=False: stopping this process must not pause the nightly schedule
    (Prefect's default would, and delete its scheduled runs).
    """
    serve(*deployments(config), pause_on_shutdown=False, limit=1)
