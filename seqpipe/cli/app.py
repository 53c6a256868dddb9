"""The `seqpipe` typer app and what every command group shares: the config options, config
loading, and one red line instead of a traceback for a user error. The command groups
(seqpipe.cli.data, .embeddings, .models, .ops) register on this app; seqpipe.cli imports them
all. Heavy libraries (Prefect, Ray, MLflow, torch) load lazily."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from seqpipe.core.errors import SeqpipeError

DEFAULT_CONFIG = Path("conf/pipeline.yaml")
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="seqpipe: corpus ingestion, vocabulary and sequence-model training pipelines.")
console = Console(stderr=True, soft_wrap=True)

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config (default: conf/pipeline.yaml if present).")
SetOption = typer.Option(None, "--set", "-s", help="Override a config key, e.g. --set vocab.min_count=3 (repeatable).")
VerboseOption = typer.Option(False, "--verbose", "-v", help="Show Ray's, Prefect's and MLflow's output live instead "
                             "of writing it to the run's log file.")


def friendly_errors(fn):
    """Show a user error as one red line and exit 1, instead of a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SeqpipeError as err:
            console.print(f"[bold red]error:[/] {err}", highlight=False)
            raise typer.Exit(1) from None
    return wrapper


def load(config: Optional[Path], sets: Optional[List[str]], extra: tuple[str, ...] = ()):
    from seqpipe.core import environment
    from seqpipe.cli import services
    from seqpipe.config import load_config

    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    cfg = load_config(path, list(extra) + list(sets or []))
    environment.prepare(cfg.runtime.local_dir)
    return services.use_running(cfg)  # the servers of `seqpipe up`, when they run


def _newest(cfg, kind: str, required: bool = True) -> Optional[str]:
    """The most recently written <kind>-<hash> folder under the configured output folder."""
    from seqpipe.core.artifacts import is_complete
    from seqpipe.core.errors import InputError

    from seqpipe.core import store
    from seqpipe.core.paths import is_uri

    section = getattr(cfg, kind, None) if kind != "corpus" else cfg.ingest
    root = getattr(section, "out", None) or f"{cfg.runtime.state_dir.rstrip('/')}/{kind}"
    if is_uri(root):
        found = store.published(root, f"{kind}-")
    else:
        found = [str(p) for p in sorted((p for p in Path(root).glob(f"{kind}-*") if is_complete(p)),
                                        key=lambda p: p.stat().st_mtime)]
    if not found and required:
        raise InputError(f"no {kind} folder under {root}; run `seqpipe pipeline` (or the {kind} stage) first")
    return found[-1] if found else None
