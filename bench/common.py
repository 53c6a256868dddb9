"""Helpers shared by the benchmarks: machine description, peak memory, JSON output."""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from pathlib import Path


def machine() -> dict:
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch_threads"], info["gpu"] = None, None
    return info


class PeakMemory:
    """Samples the resident memory of this process and all its descendants (Ray workers too)."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self.me, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, threading.Event()

    def _total(self) -> int:
        total = 0
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except Exception:  # a process that ended between listing and reading
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakMemory":
        self.peak = self._total()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)


def write_json(path: str | None, figures: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {path}")


def print_table(rows: list[tuple], header: tuple) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def add_config_args(parser) -> None:
    """--config, --set, --state-dir and --json: the options the training benchmarks share."""
    parser.add_argument("--config", default="conf/pipeline.yaml")
    parser.add_argument("--set", dest="sets", action="append", default=[],
                        help="config override, e.g. ner.crf=false (repeatable)")
    parser.add_argument("--state-dir", default=".seqpipe")
    parser.add_argument("--json", help="write the figures to this JSON file")


def load_bench_config(args):
    """The pipeline config of a benchmark run (the file, if present, and the --set overrides)."""
    from seqpipe.core import environment

    environment.prepare(args.state_dir)
    from seqpipe.config import load_config

    return load_config(args.config if Path(args.config).exists() else None, args.sets)
