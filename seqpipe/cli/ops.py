"""The operations commands of `seqpipe`: pipeline (the Prefect flow), up, down, status (the local UI stack), serve
(deployments + the nightly schedule), compare, lineage, promote (the MLflow registry)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from seqpipe.cli.app import ConfigOption, SetOption, VerboseOption, app, console, friendly_errors, load


@app.command()
@friendly_errors
def pipeline(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption,
             stage: Optional[str] = typer.Option(None, help="Only this stage and what it needs: ingest, vocab, "
                                                 "pretrain, finetune-ner, finetune-lm, finetune-translation, "
                                                 "finetune-speech, finetune-sentiment, finetune-captioning "
                                                 "(default: every stage)."),
             verbose: bool = VerboseOption,
             json_file: Optional[Path] = typer.Option(None, "--json", help="Write the run's outputs, metrics and "
                                                      "promotion decisions to this JSON file.")):
    """Run the whole pipeline as a Prefect flow (local Prefect, Ray and MLflow by default)."""
    from seqpipe.cli.live import RunConsole
    from seqpipe.core import progress
    from seqpipe.core.artifacts import write_json
    from seqpipe.core.errors import InputError

    cfg = load(config, set_)
    from flows.pipeline import pipeline as pipeline_flow
    from flows.stages import STAGE_FLOWS

    if stage is not None and stage not in STAGE_FLOWS:
        raise InputError(f"no stage {stage!r}; choose from {', '.join(STAGE_FLOWS)}")
    with RunConsole(cfg.runtime.local_dir, "pipeline", verbose) as run_console, progress.listening(run_console):
        summary = (STAGE_FLOWS[stage] if stage else pipeline_flow)(config=cfg)
    run_console.summary(summary.get("links", {}))
    if json_file:
        write_json(json_file, summary)
    run_console.quiet_until_exit()


@app.command()
@friendly_errors
def up(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Start the Prefect and MLflow servers (state in the project folder) and print their URLs."""
    from seqpipe.cli import services

    cfg = load(config, set_)
    with console.status("starting the Prefect and MLflow servers"):
        started = services.start(cfg)
    for service in started:
        print(f"{service.name:8} {service.url}   (pid {service.pid}, log {service.log})")
    console.print("seqpipe commands now use these servers; `seqpipe down` stops them.")


@app.command()
@friendly_errors
def down(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Stop the servers `seqpipe up` started."""
    from seqpipe.cli import services

    cfg = load(config, set_)
    stopped = services.stop(cfg.runtime.local_dir)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
@friendly_errors
def status(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """What runs: the servers, and where flow runs and MLflow runs go."""
    import os

    from seqpipe.cli import services
    from seqpipe.core.secrets import redact_uri

    cfg = load(config, set_)
    table = Table("service", "url", "pid", "state")
    for s in services.status(cfg.runtime.local_dir):
        state = "up" if s["healthy"] else "starting or hung" if s["alive"] else "dead (run `seqpipe up`)"
        table.add_row(s["service"]["name"], redact_uri(s["service"]["url"]), str(s["service"]["pid"]), state)
    Console().print(table)
    prefect_api = redact_uri(os.environ.get("PREFECT_API_URL", ""))
    mlflow_uri = redact_uri(cfg.runtime.tracking_uri or "")
    print(f"Prefect: {prefect_api or 'embedded (ephemeral, ' + os.environ['PREFECT_HOME'] + ')'}")
    print(f"MLflow:  {mlflow_uri or f'embedded (SQLite, {cfg.runtime.local_dir}/mlflow.db)'}")


@app.command()
@friendly_errors
def serve(config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Register the deployments (pipeline with the nightly schedule, one per stage) and run their
    flow runs until interrupted. Needs a Prefect server: `seqpipe up` or PREFECT_API_URL."""
    import os

    from seqpipe.core.errors import InputError
    from seqpipe.core.secrets import redact_uri

    cfg = load(config, set_)
    if not os.environ.get("PREFECT_API_URL"):
        raise InputError("schedules and deployments need a Prefect server: run `seqpipe up` first "
                         "(or set PREFECT_API_URL)")
    from flows.deploy import serve_deployments

    console.print(f"serving deployments on {redact_uri(os.environ['PREFECT_API_URL'])}; the pipeline runs at "
                  f"'{cfg.schedule.cron}' ({cfg.schedule.timezone}){'' if cfg.schedule.active else ', paused'}")
    serve_deployments(cfg)


@app.command()
@friendly_errors
def compare(
    runs: Optional[List[str]] = typer.Argument(None, help="MLflow run ids (default: the last N pipeline runs)."),
    last: int = typer.Option(2, "--last", "-n", help="Compare the newest N runs."),
    stage: Optional[str] = typer.Option(None, help="With --last: runs of this stage (ner, lm, ...) instead."),
    config: Optional[Path] = ConfigOption,
    set_: Optional[List[str]] = SetOption,
):
    """Print the params and metrics that differ between runs."""
    from seqpipe.tracking import runs as tracking
    from seqpipe.core.errors import InputError
    from seqpipe.tracking.lineage import compare_runs, last_runs

    cfg = load(config, set_)
    tracking.configure(cfg.runtime)
    run_ids = list(runs or []) or last_runs(cfg.runtime.experiment, last, stage)
    if len(run_ids) < 2:
        raise InputError(f"need two runs to compare, found {len(run_ids)}")
    names, params, metrics = compare_runs(run_ids)
    for title, rows in (("param", params), ("metric", metrics)):
        table = Table(title, *names, title=f"{len(rows)} {title}s differ")
        for key, values in rows:
            table.add_row(key, *values)
        Console(width=200).print(table)


@app.command()
@friendly_errors
def lineage(model: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME/VERSION, e.g. seqpipe-ner@champion."),
            config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Where a registered model came from: run, pipeline run, embeddings, vocabulary, corpus, source files."""
    from seqpipe.tracking import runs as tracking
    from seqpipe.tracking.lineage import lineage as model_lineage

    cfg = load(config, set_)
    tracking.configure(cfg.runtime)
    rows = model_lineage(model)
    width = max(len(what) for what, _, _ in rows)
    for what, where, detail in rows:  # plain lines: paths stay whole, for copying and grepping
        print(f"{what:<{width}}  {where}" + (f"  [{detail}]" if detail else ""))


@app.command()
@friendly_errors
def promote(model: str = typer.Argument(..., help="Registered model name, e.g. seqpipe-ner."),
            version: str = typer.Argument(..., help="The version to make champion."),
            config: Optional[Path] = ConfigOption, set_: Optional[List[str]] = SetOption):
    """Make a model version the champion by hand (the gate does it after each run)."""
    from seqpipe.tracking import registry
    from seqpipe.tracking import runs as tracking

    cfg = load(config, set_)
    tracking.configure(cfg.runtime)
    previous = registry.promote(model, version)
    console.print(f"{model} v{version} is champion (was {f'v{previous}' if previous else 'none'})")
