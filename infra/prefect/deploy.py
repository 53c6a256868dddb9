"""Register seqpipe's deployments with a Prefect work pool (process or kubernetes).

The deployments are those of `seqpipe serve` (flows/deploy.py: `pipeline/seqpipe` with its
nightly schedule, and one per stage), but their runs are executed by a worker of the pool
instead of the serving process. Run it where the config should be resolved, usually inside
the stack, so that the container's SEQPIPE__... variables (Ray address, MLflow URI, state
folder) become the deployments' default parameters:

    docker compose -f infra/docker-compose.yml --env-file infra/.env exec prefect-worker \
        python infra/prefect/deploy.py                      # pool `seqpipe`
    prefect deployment run pipeline/seqpipe                  # then trigger it (or from the UI)

The flows are imported by module path (they are installed in the image), so no code
storage is needed; a run can still override any of the config from the UI.
"""
from __future__ import annotations

import argparse
from pathlib import Path

APP = Path(__file__).resolve().parents[2]  # /app in the image: flows/, conf/


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(APP / "conf" / "pipeline.yaml"))
    parser.add_argument("--set", dest="sets", action="append", default=[], help="section.key=value (repeatable)")
    parser.add_argument("--pool", default="seqpipe", help="work pool (created as --pool-type if missing)")
    parser.add_argument("--pool-type", default="process", choices=["process", "kubernetes"])
    parser.add_argument("--image", default=None, help="kubernetes pools: the image of the flow-run Jobs")
    args = parser.parse_args(argv)

    from prefect import deploy
    from flows.deploy import deployments
    from seqpipe.config import load_config

    cfg = load_config(args.config, args.sets)
    ensure_pool(args.pool, args.pool_type)
    ids = deploy(*deployments(cfg), work_pool_name=args.pool, image=args.image, build=False, push=False,
                 print_next_steps_message=False, ignore_warnings=True)
    print(f"{len(ids)} deployments on pool {args.pool}: pipeline/seqpipe and the stage flows")


def ensure_pool(name: str, pool_type: str) -> None:
    """Create the work pool with its worker type's default job template, unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.base import BaseWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return
        except ObjectNotFound:
            pass
        worker = BaseWorker.get_worker_class_from_type(pool_type)
        if worker is None:
            raise SystemExit(f"no Prefect worker of type {pool_type!r} is installed (prefect[kubernetes]?)")
        client.create_work_pool(WorkPoolCreate(name=name, type=pool_type,
                                               base_job_template=worker.get_default_base_job_template()))


if __name__ == "__main__":
    main()
