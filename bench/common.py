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
    """Samples the memory of this process and all its descendants (Ray workers too).

    Two totals: the sum of resident sizes (RSS), which counts a page shared by several
    processes (torch's libraries, Ray's object store) once per process, and the sum of
    proportional sizes (PSS: a shared page split between the processes sharing it), which
    adds up to what the process tree takes from the machine.
    """

    def __init__(self, interval: float = 0.5, pss_every: int = 10):
        import psutil

        self.me, self.interval, self._stop = psutil.Process(), interval, threading.Event()
        self.pss_every = pss_every
        self.peak = self.peak_pss = 0

    def _totals(self, with_pss: bool) -> tuple[int, int]:
        rss = pss = 0
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                info = proc.memory_full_info() if with_pss else proc.memory_info()
                rss, pss = rss + info.rss, pss + getattr(info, "pss", info.rss)
            except Exception:  # a process that ended between listing and reading
                pass
        return rss, pss

    def _sample(self, with_pss: bool = True) -> None:
        rss, pss = self._totals(with_pss)
        self.peak = max(self.peak, rss)
        if with_pss:
            self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        """RSS every interval (cheap); PSS every pss_every intervals: the kernel walks a
        process's page tables for it, ~6 ms for a Ray worker, and with a dozen processes
        sampling it every 0.2 s took a third of a core from the run being measured; the
        driver runs at a higher priority than the Ray workers (nice 15), so that core came
        out of their time."""
        ticks = 0
        while not self._stop.is_set():
            ticks += 1
            self._sample(with_pss=ticks % self.pss_every == 0)
            time.sleep(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        """Peak of the RSS sum, MiB."""
        return round(self.peak / 2**20, 1)

    @property
    def peak_pss_mb(self) -> float:
        """Peak of the PSS sum, MiB (what the tree takes from the machine)."""
        return round(self.peak_pss / 2**20, 1)


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
