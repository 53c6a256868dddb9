"""Benchmark: ingestion throughput and vocabulary building, against gensim's build_vocab.

    .venv/bin/python bench/ingest.py                      # the demo corpus (up to 64 MB of docstrings)
    .venv/bin/python bench/ingest.py --corpus ~/data/wiki/*.txt --json figures.json

Ingestion runs on a local Ray with all cores; the start of Ray and of its worker
processes is timed apart (a fixed cost per job, not per megabyte). gensim's
Word2Vec.build_vocab (min_count 5, sample 1e-3) gets the same tokens, already in
memory, so only counting and vocabulary preparation are compared; each side runs 3
times and the median is reported.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, machine, print_table, write_json  # noqa: E402


REPEATS = 3  # vocabulary building is timed 3 times on each side; the median is reported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", help="files, folders or globs (default: the demo corpus)")
    parser.add_argument("--demo-mb", type=float, default=64, help="size of the demo corpus when --corpus is absent")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--state-dir", default=".seqpipe")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--skip-gensim", action="store_true")
    args = parser.parse_args()

    from seqpipe.core import environment
    environment.prepare(args.state_dir)
    from seqpipe.config import IngestConfig, RuntimeConfig, VocabConfig
    from seqpipe.data.demo_corpus import build_demo_corpus
    from seqpipe.data.ingest import run_ingest
    from seqpipe.core.fanout import ensure_ray, run_tasks, worker_count
    from seqpipe.data.vocab import run_vocab

    sources = args.corpus or [f"{build_demo_corpus(args.state_dir, args.demo_mb, 'docstrings')}/*.txt"]  # the README's
    runtime = RuntimeConfig(executor="ray", state_dir=args.state_dir)
    started = time.perf_counter()
    ensure_ray(runtime)
    run_tasks(warm_up, [()] * 2 * worker_count(runtime), runtime)  # workers import seqpipe once
    warm_up()
    ray_start = time.perf_counter() - started

    out = Path(tempfile.mkdtemp(prefix="seqpipe-bench-"))
    try:
        with PeakMemory() as memory:
            started = time.perf_counter()
            corpus = run_ingest(IngestConfig(sources=sources, out=str(out / "corpus")), runtime)
            ingest_s = time.perf_counter() - started
            times = []
            for attempt in range(REPEATS):  # a fresh output folder each time: no reuse
                started = time.perf_counter()
                vocab = run_vocab(VocabConfig(min_count=args.min_count, out=str(out / f"vocab{attempt}")),
                                  corpus.uri, runtime)
                times.append(time.perf_counter() - started)
            vocab_s = statistics.median(times)
            incremental_s, full_s, reused = nightly_ingest(sources, out, runtime)
        gensim_s, gensim_size = (None, None) if args.skip_gensim else gensim_build_vocab(corpus.uri, args.min_count)
    finally:
        shutil.rmtree(out, ignore_errors=True)

    counts = corpus.counts
    figures = {
        "machine": machine(), "ray_start_s": round(ray_start, 2),
        "input_mb": round(counts["input_bytes"] / 1e6, 1), "text_mb": round(counts["text_bytes"] / 1e6, 1),
        "tokens": counts["tokens"], "ingest_s": round(ingest_s, 2),
        "ingest_mb_per_s": round(counts["text_bytes"] / 1e6 / ingest_s, 1),
        "ingest_tokens_per_s": round(counts["tokens"] / ingest_s),
        "vocab_s": round(vocab_s, 3), "vocab_size": vocab.stats["size"] - 4,
        "gensim_vocab_s": gensim_s and round(gensim_s, 3), "gensim_vocab_size": gensim_size,
        "vocab_speedup": gensim_s and round(gensim_s / vocab_s, 1), "peak_rss_mb": memory.peak_mb,
        "incremental_s": round(incremental_s, 2), "full_reingest_s": round(full_s, 2),
        "incremental_speedup": round(full_s / incremental_s, 1), "sources_reused": reused,
    }
    print(f"machine: {figures['machine']}; Ray and its workers started in {ray_start:.1f} s (not counted below)")
    print(f"corpus: {figures['text_mb']} MB of text ({figures['input_mb']} MB on disk), "
          f"{counts['tokens']:,} tokens, {counts['documents']:,} documents")
    print_table([
        ("ingest (read, decompress, normalise, split, tokenise, write Parquet)", f"{ingest_s:.2f} s",
         f"{figures['ingest_mb_per_s']} MB/s, {figures['ingest_tokens_per_s']:,} tokens/s"),
        ("seqpipe vocabulary", f"{vocab_s:.3f} s", f"{figures['vocab_size']:,} words"),
        ("gensim build_vocab", f"{gensim_s:.3f} s" if gensim_s else "skipped", f"{gensim_size or 0:,} words"),
        ("vocabulary speed-up over gensim", f"{figures['vocab_speedup']}x", ""),
        ("peak memory, driver + Ray workers", f"{memory.peak_mb} MB", ""),
        ("one new file: incremental re-ingest", f"{incremental_s:.2f} s", f"{reused:,} sources reused"),
        ("one new file: full re-ingest (ingest.incremental false)", f"{full_s:.2f} s",
         f"incremental {figures['incremental_speedup']}x faster"),
    ], ("step", "time", "rate"))
    write_json(args.json, figures)


def nightly_ingest(sources: list[str], out: Path, runtime) -> tuple[float, float, int]:
    """A nightly rerun after one new file arrived: incremental (the earlier corpus's rows are
    copied), then everything read again; both must write the same corpus."""
    from seqpipe.config import IngestConfig
    from seqpipe.data.ingest import run_ingest

    new_file = out / "new" / "arrived-tonight.txt"
    new_file.parent.mkdir()
    new_file.write_text("A new file arrived tonight. Only this file is read again.\n" * 100)
    nightly = IngestConfig(sources=[*sources, str(new_file)], out=str(out / "corpus"))
    started = time.perf_counter()
    incremental = run_ingest(nightly, runtime)
    incremental_s = time.perf_counter() - started
    started = time.perf_counter()
    full = run_ingest(nightly.model_copy(update={"incremental": False, "out": str(out / "full")}), runtime)
    full_s = time.perf_counter() - started
    assert incremental.content_hash == full.content_hash, "incremental and full ingests differ"
    reused = json.loads((Path(incremental.uri) / "manifest.json").read_text())["incremental"]["reused_sources"]
    return incremental_s, full_s, reused


def warm_up() -> None:
    import pyarrow as pa
    import pyarrow.acero  # noqa: F401  (group_by's engine: 0.2 s to import the first time)

    from seqpipe.data.text import clean, split_sentences, tokenize

    pa.array(["x"])  # pyarrow imports pandas (0.3 s) on its first conversion of Python objects
    tokenize(split_sentences(clean(pa.array(["x"])))[0].values)  # the compiled passes load on their first call

    import seqpipe.data.ingest  # noqa: F401
    import seqpipe.data.vocab  # noqa: F401


def gensim_build_vocab(corpus_uri: str, min_count: int) -> tuple[float, int]:
    """gensim's vocabulary scan on the same tokens, already loaded as Python lists."""
    import pyarrow.parquet as pq
    from gensim.models import Word2Vec

    sentences = pq.read_table(Path(corpus_uri) / "data", columns=["tokens"]).column("tokens").to_pylist()
    times = []
    for _ in range(REPEATS):
        model = Word2Vec(min_count=min_count, sample=1e-3, workers=os.cpu_count() or 1)
        started = time.perf_counter()
        model.build_vocab(sentences)
        times.append(time.perf_counter() - started)
    return statistics.median(times), len(model.wv)


if __name__ == "__main__":
    main()
