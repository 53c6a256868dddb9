"""What a run shows on the terminal: one live line per stage (new or reused, a bar over
shards or epochs with the time left, the metric that matters), then a summary table and
the links. Everything else that Ray, Prefect, MLflow and the workers print goes to a log
file under the state folder, named in the first line; `--verbose` shows it live instead.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from seqpipe.core.progress import Update

# the epoch metric a live line shows first, by stage; the loss comes after it
LIVE_METRICS = ("dev_f1", "dev_bleu", "dev_cer", "dev_perplexity", "analogy_acc", "words_per_s")


class RunConsole:
    """The terminal during a run: fds 1 and 2 go to the log file (the workers' and the
    servers' output too), this console writes to where they pointed before."""

    def __init__(self, state_dir: str, command: str, verbose: bool = False):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.log = Path(state_dir).resolve() / "logs" / f"{command}-{stamp}-{os.getpid()}.log"
        self.verbose, self.saved, self.rows, self.order = verbose, None, [], []
        self.console = Console(soft_wrap=True)
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "RunConsole":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if not self.verbose:
            self.saved = (os.dup(1), os.dup(2))
            terminal = os.isatty(self.saved[0])
            self.console = Console(file=os.fdopen(os.dup(self.saved[0]), "w", buffering=1), soft_wrap=True,
                                   force_terminal=terminal or None, width=None if terminal else 120)
            self._output_to_log()
        self.console.print(f"log of Ray, Prefect, MLflow and the workers: {self.log}", highlight=False)
        if self.console.is_terminal and not self.verbose:
            self.progress = Progress(TextColumn("{task.fields[stage]:<13}"), TextColumn("{task.fields[state]:<7}"),
                                     BarColumn(bar_width=24), TextColumn("{task.fields[count]:>13}"),
                                     TimeRemainingColumn(), TextColumn("{task.fields[metric]}", table_column=Column(
                                         no_wrap=True, overflow="ellipsis", ratio=1)),
                                     console=self.console, redirect_stdout=False, redirect_stderr=False)
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.saved is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(self.saved[0], 1)
            os.dup2(self.saved[1], 2)
            for fd in self.saved:
                os.close(fd)
            self.saved = None
        if exc[0] is not None and not self.verbose:
            print(f"the run failed; what Ray, Prefect and MLflow printed is in {self.log}", file=sys.stderr)

    def quiet_until_exit(self) -> None:
        """After the last line: what the libraries print as the process ends (Prefect stopping
        its temporary server) goes to the log file too."""
        if not self.verbose:
            self._output_to_log()

    def _output_to_log(self) -> None:
        """File descriptors 1 and 2 (this process's and its children's output) to the log file."""
        sys.stdout.flush()
        sys.stderr.flush()
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)

    def __call__(self, update: Update) -> None:
        """A progress listener (seqpipe.core.progress): queue, start, advance or end a stage's line."""
        if update.stage not in self.order:  # stages side by side start and end in any order, but queue in order
            self.order.append(update.stage)
        if update.kind == "end":
            self.rows.append((update.stage, update.summary))
        if self.progress is None:  # not a terminal, or --verbose: a plain line when a stage ends
            if update.kind == "end":
                self.console.print(f"{update.stage:<13} {_state(update.summary)}  {_headline(update.summary)}",
                                   highlight=False)
            return
        if update.stage not in self.tasks:
            self.tasks[update.stage] = self.progress.add_task("", total=None, stage=update.stage, state="running",
                                                              count="", metric="", start=update.kind != "queued")
        task = self.tasks[update.stage]
        if update.kind == "queued":
            self.progress.update(task, state="queued")
        elif update.kind == "start":
            self.progress.start_task(task)
            self.progress.update(task, state="running")
        elif update.kind == "advance":
            self.progress.update(task, completed=update.done, total=update.total or None,
                                 count=f"{update.done}/{update.total} {update.unit}", metric=_live_metric(update.metrics))
        elif update.kind == "end":
            total = self.progress.tasks[task].total or 1
            self.progress.update(task, completed=total, total=total, state=_state(update.summary),
                                 metric=_headline(update.summary))

    def summary(self, links: dict[str, str]) -> None:
        """The table of stages, then the links (MLflow runs, the Prefect flow run)."""
        table = Table("stage", "output", "headline metric", "model", "time", title="run summary", title_justify="left")
        for stage, row in sorted(self.rows, key=lambda r: self.order.index(r[0])):
            table.add_row(stage, _state(row), _headline(row), _model(row), f"{row['seconds']:.0f} s")
        self.console.print(table)
        for name, url in links.items():
            self.console.print(f"{name}: {url}", highlight=False, soft_wrap=True)


def _state(row: dict) -> str:
    return "reused" if row.get("reused") else "new"


def _headline(row: dict) -> str:
    metric, baseline = row.get("metric"), row.get("baseline")
    if not metric or metric[1] is None:
        return ""
    text = f"{metric[0]} {_number(metric[1])}"
    return text + (f" ({baseline[0]} {_number(baseline[1])})" if baseline else "")


def _model(row: dict) -> str:
    decision = row.get("decision")
    if decision:
        return f"v{decision['version']} {'champion' if decision['promoted'] else 'challenger'}"
    return f"v{row['version']}" if row.get("version") else ""


def _live_metric(metrics: dict) -> str:
    shown = [key for key in LIVE_METRICS if key in metrics][:1] + [key for key in ("loss", "train_loss") if key in metrics][:1]
    return "  ".join(f"{key} {_number(metrics[key])}" for key in shown)


def _number(value) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
