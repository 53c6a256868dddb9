"""Benchmark: does pretraining cost grow linearly with the corpus, and memory stay flat?

    .venv/bin/python bench/scale.py --sizes 12 50 100 200 --workers 1 --json scale.json

For each size (millions of words) it builds a corpus from the book corpus of bench/data.md
(/work/data/books/*.txt, 20M words): smaller sizes take a prefix of its files, bigger ones
repeat it with a marker word at the start of every line of each copy ("copyb ...", so
copies differ), written under --scratch and deleted afterwards. Then ingest, vocabulary and
ONE epoch of skip-gram (the `embeddings` section of conf/pipeline.yaml, --set varies it),
each through the project's own functions, each step timed. Peak memory is the machine's
used memory (psutil.virtual_memory().used: Ray's worker processes count, the page cache
does not) above its level just before the step, sampled in a thread; other programs on
the machine move it too, so the private memory of this process tree (RssAnon of the
benchmark and its Ray processes) is printed beside it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_config_args, load_bench_config, machine, print_table, write_json  # noqa: E402


def used_memory() -> int:
    import psutil

    return psutil.virtual_memory().used


def idle_memory(seconds: float = 3.0) -> int:
    """The machine's used memory with nothing of ours running: the median of a few samples."""
    samples = []
    for _ in range(int(seconds / 0.25)):
        samples.append(used_memory())
        time.sleep(0.25)
    return sorted(samples)[len(samples) // 2]


class StepMemory:
    """Peaks of one step, in MiB, sampled in a thread: the machine's used memory above its idle
    level (taken before the size's first step), and the private anonymous memory (RssAnon: heap
    and arrays, not the page cache or mapped files) summed over this process and its children."""

    def __init__(self, idle: int, interval: float = 0.2):
        import psutil

        self.me, self.idle, self.interval, self._stop = psutil.Process(), idle, interval, threading.Event()
        self.peak = self.peak_anon = 0

    def _tree_anon(self) -> int:
        total = 0
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                with open(f"/proc/{proc.pid}/status") as status:
                    total += next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) * 1024
            except (OSError, StopIteration):  # a process that ended between listing and reading
                pass
        return total

    def _sample(self) -> None:
        self.peak, self.peak_anon = max(self.peak, used_memory()), max(self.peak_anon, self._tree_anon())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "StepMemory":
        self._sample()
        self.start_anon = self.peak_anon  # what the processes left by the steps before hold
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        return round(max(self.peak - self.idle, 0) / 2**20, 1)

    @property
    def peak_anon_mb(self) -> float:
        return round(self.peak_anon / 2**20, 1)


def build_corpus(books: list[Path], words_per_book: list[int], target: int, folder: Path) -> int:
    """Books until `target` words: the first copy as it is, each further copy marked on every line."""
    folder.mkdir(parents=True, exist_ok=True)
    total, copy = 0, 0
    while total < target:
        marker = "" if copy == 0 else f"copy{_letters(copy)} "
        for book, words in zip(books, words_per_book):
            if total >= target:
                break
            lines = book.read_text(encoding="utf-8").splitlines(keepends=True)
            text = "".join(marker + line if line.strip() else line for line in lines) if marker else "".join(lines)
            (folder / f"c{copy:03d}_{book.name}").write_text(text, encoding="utf-8")
            total += words + (sum(1 for line in lines if line.strip()) if marker else 0)
        copy += 1
    return total


def _letters(n: int) -> str:
    """1 -> "b", 25 -> "z", 26 -> "ba": a marker of letters only (the tokenizer keeps [a-z]+ words)."""
    out = ""
    while True:
        out = chr(ord("a") + n % 26) + out
        n //= 26
        if n == 0:
            return out


def run_size(size_m: float, books, words_per_book, pipeline, args) -> list[dict]:
    """Ingest, vocabulary and one epoch of skip-gram on a corpus of size_m million words."""
    from seqpipe.config import IngestConfig, RuntimeConfig, VocabConfig
    from seqpipe.core.stage import StageInputs
    from seqpipe.data.ingest import run_ingest
    from seqpipe.data.vocab import run_vocab
    from seqpipe.tasks.embeddings import stage

    work = Path(tempfile.mkdtemp(prefix=f"scale-{size_m:g}M-", dir=args.scratch))
    build_corpus(books, words_per_book, int(size_m * 1e6), work / "text")
    runtime = RuntimeConfig(state_dir=str(work / "state"))
    cfg = pipeline.embeddings.model_copy(update={"epochs": 1, "out": str(work / "embeddings"),
                                                 "num_workers": args.workers})
    steps, results, idle = [], {}, idle_memory()
    plan = [("ingest", lambda: run_ingest(IngestConfig(sources=[f"{work / 'text'}/*.txt"]), runtime)),
            ("vocab", lambda: run_vocab(VocabConfig(min_count=5, max_size=args.max_vocab), results["ingest"].uri,
                                        runtime)),
            ("skipgram", lambda: stage.run(cfg, StageInputs(corpus=results["ingest"].uri, vocab=results["vocab"].uri),
                                           runtime))]
    for name, step in plan:
        with StepMemory(idle) as memory:
            started = time.perf_counter()
            results[name] = step()
            wall = time.perf_counter() - started
        steps.append({"size_m": size_m, "step": name, "wall_s": round(wall, 1), "peak_mb": memory.peak_mb,
                      "tree_anon_mb": memory.peak_anon_mb, "anon_at_start_mb": round(memory.start_anon / 2**20, 1)})
    words = results["ingest"].counts["tokens"]
    epoch_s = sum(results["skipgram"].metrics["epoch_seconds"])
    for row in steps:
        row["words"], row["vocab"] = words, results["vocab"].stats["size"]
    steps[-1]["epoch_s"] = round(epoch_s, 1)
    _stop_ray()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return steps


def _stop_ray() -> None:
    """Every size starts from the same machine: no Ray workers left from the one before."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def report(rows: list[dict]) -> None:
    first = {r["step"]: r for r in rows if r["size_m"] == rows[0]["size_m"]}
    table = []
    for r in rows:
        base = first[r["step"]]
        seconds = r.get("epoch_s", r["wall_s"])
        per_m = seconds / (r["words"] / 1e6)
        base_per_m = base.get("epoch_s", base["wall_s"]) / (base["words"] / 1e6)
        table.append((f"{r['words'] / 1e6:.1f}M", r["step"], r["wall_s"], r.get("epoch_s", "-"), f"{per_m:.2f}",
                      f"{per_m / base_per_m:.2f}", r["peak_mb"], f"{r['peak_mb'] / max(base['peak_mb'], 1):.2f}",
                      r["tree_anon_mb"]))
    print_table(table, ("words", "step", "wall s", "epoch s", "s/Mword", "x first", "peak MB", "x first",
                        "tree anon MB"))
    print("s/Mword: the epoch's training time for skipgram, the wall time for the other steps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[12, 50, 100, 200], help="millions of words")
    parser.add_argument("--workers", type=int, default=1, help="embeddings.num_workers")
    parser.add_argument("--books", default="/work/data/books", help="folder of the .txt books")
    parser.add_argument("--scratch", default="/work/scale-data", help="where corpora are built (deleted after)")
    parser.add_argument("--keep", action="store_true", help="keep each size's corpus and stage folders")
    parser.add_argument("--max-vocab", type=int, help="vocabulary cap: copies make every word frequent, so without "
                        "it the vocabulary (and the model) grows with the size too")
    add_config_args(parser)
    args = parser.parse_args()
    Path(args.scratch).mkdir(parents=True, exist_ok=True)
    args.state_dir = args.state_dir if args.state_dir != ".seqpipe" else str(Path(args.scratch) / "env")
    pipeline = load_bench_config(args)
    books = sorted(Path(args.books).glob("*.txt"))
    words_per_book = [len(b.read_text(encoding="utf-8").split()) for b in books]
    print(f"machine: {machine()}")
    rows = []
    for size in args.sizes:
        rows += run_size(size, books, words_per_book, pipeline, args)
        print(f"{size:g}M done: {rows[-3:]}", flush=True)
        write_json(args.json, {"machine": machine(), "workers": args.workers, "rows": rows})  # so far
    report(rows)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
