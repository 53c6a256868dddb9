"""Benchmark: seqpipe word2vec (Ray Train) against gensim Word2Vec, same corpus, same settings.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/embeddings.py --corpus ~/data/text8 \\
        --questions questions-words.txt --wordsim wordsim353.tsv --json figures.json

The corpus is ingested once with seqpipe (lowercased word tokens); both trainers get the
same tokens and the same settings: skip-gram, 100 dimensions, window 5, 5 negatives,
sample 1e-3, min_count 5, 5 epochs, 2 threads (the `embeddings` section of
conf/pipeline.yaml, which `--set embeddings.KEY=VALUE` varies for both). words/s counts the corpus's
tokens times epochs over the training time (gensim: train(); seqpipe:
the workers' epoch time, without Ray start-up, evaluation and checkpoints, which are
reported apart). Both embeddings are scored by the same evaluator (3CosAdd over the
30,000 most frequent words). Without --questions/--wordsim, gensim's own copies of the
Google analogy set and WordSim353 are used.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, add_config_args, load_bench_config, machine, print_table, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", nargs="+", help="text files, folders or globs (default: the demo corpus)")
    parser.add_argument("--questions", help="analogies in questions-words.txt format")
    parser.add_argument("--wordsim", help="word-pair similarity file (WordSim353 format)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="training budget for each trainer (default: none; the README's figures used none)")
    parser.add_argument("--threads", type=int, default=2,
                        help="gensim's threads; seqpipe's threads over all its workers (embeddings.num_workers)")
    parser.add_argument("--algo", default="skipgram", choices=["skipgram", "cbow", "glove"],
                        help="glove has no gensim peer: seqpipe alone")
    parser.add_argument("--skip-gensim", action="store_true")
    add_config_args(parser)  # --set embeddings.chunk_tokens=250000: a variant of the pipeline's settings
    args = parser.parse_args()

    pipeline = load_bench_config(args)
    from seqpipe.config import EvalConfig, IngestConfig, RuntimeConfig, VocabConfig
    from seqpipe.data.demo_corpus import build_demo_corpus
    from seqpipe.data.ingest import run_ingest
    from seqpipe.data.vocab import run_vocab

    questions, wordsim = args.questions or gensim_file("questions-words.txt"), args.wordsim or gensim_file("wordsim353.tsv")
    runtime = RuntimeConfig(state_dir=args.state_dir)
    sources = args.corpus or [f"{build_demo_corpus(args.state_dir, 64, 'docstrings')}/*.txt"]  # the README's
    corpus = run_ingest(IngestConfig(sources=sources), runtime)
    vocab = run_vocab(VocabConfig(min_count=5), corpus.uri, runtime)
    cfg = pipeline.embeddings.model_copy(update={
        "algo": args.algo, "epochs": args.epochs, "max_minutes": args.max_minutes,
        "out": tempfile.mkdtemp(prefix="seqpipe-bench-"),
        "threads_per_worker": max(1, args.threads // pipeline.embeddings.num_workers),
        "eval": EvalConfig(analogies=questions, similarity=[wordsim] if wordsim else [])})
    print(f"machine: {machine()}")
    print(f"corpus: {corpus.counts['tokens']:,} tokens, vocabulary {vocab.stats['size'] - 4:,} words")
    figures = {"machine": machine(), "tokens": corpus.counts["tokens"],
               "seqpipe": train_seqpipe(cfg, corpus.uri, vocab.uri, runtime, corpus.counts["tokens"])}
    if not args.skip_gensim and args.algo != "glove":
        same_epochs = cfg.model_copy(update={"epochs": figures["seqpipe"]["epochs"]})  # fewer under --max-minutes
        figures["gensim"] = train_gensim(corpus.uri, same_epochs, questions, wordsim, args.threads)
        figures["speedup"] = round(figures["seqpipe"]["words_per_s"] / figures["gensim"]["words_per_s"], 2)
    report(figures)
    write_json(args.json, figures)


def train_seqpipe(cfg, corpus_uri: str, vocab_uri: str, runtime, corpus_words: int) -> dict:
    from mlflow.tracking import MlflowClient  # noqa: F401  (import cost kept out of the timing)

    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.embeddings import stage

    # a fresh folder for Ray Train's checkpoints: in the state folder, a rerun with the same
    # settings would resume the finished run's last checkpoint instead of training anew
    runtime = runtime.model_copy(update={"state_dir": tempfile.mkdtemp(prefix="seqpipe-bench-state-")})
    with PeakMemory() as memory:
        started = time.perf_counter()
        result = stage.run(cfg, StageInputs(corpus=corpus_uri, vocab=vocab_uri), runtime)
        wall = time.perf_counter() - started
    train_s, epochs = sum(result.metrics["epoch_seconds"]), len(result.metrics["epoch_seconds"])
    return {"words_per_s": round(corpus_words * epochs / train_s), "epochs": epochs,
            "train_s": round(train_s, 1), "wall_s": round(wall, 1),
            "peak_rss_mb": memory.peak_mb, "peak_pss_mb": memory.peak_pss_mb, **quality(result.metrics),
            "workers": cfg.num_workers, "threads": cfg.num_workers * cfg.threads_per_worker, "kernel": cfg.kernel}


def train_gensim(corpus_uri: str, cfg, questions: str | None, wordsim: str | None, threads: int) -> dict:
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import Word2Vec

    from seqpipe.config import EvalConfig
    from seqpipe.tasks.embeddings.quality import EpochEvaluation

    sentences = pq.read_table(Path(corpus_uri) / "data", columns=["tokens"]).column("tokens").to_pylist()
    model = Word2Vec(vector_size=cfg.dim, window=cfg.window, negative=cfg.negative, sample=cfg.sample,
                     min_count=5, sg=int(cfg.algo == "skipgram"), workers=threads, seed=cfg.seed)
    model.build_vocab(sentences)
    with PeakMemory() as memory:
        started = time.perf_counter()
        model.train(sentences, total_examples=model.corpus_count, epochs=cfg.epochs)
        train_s = time.perf_counter() - started
    words = sum(len(s) for s in sentences) * cfg.epochs
    tokens = list(model.wv.index_to_key)
    metrics = EpochEvaluation(EvalConfig(analogies=questions, similarity=[wordsim] if wordsim else []),
                              tokens)(np.asarray(model.wv.vectors))
    own = model.wv.evaluate_word_analogies(questions, restrict_vocab=30000)[0] if questions else None
    return {"words_per_s": round(words / train_s), "train_s": round(train_s, 1), "wall_s": round(train_s, 1),
            "epochs": cfg.epochs, "peak_rss_mb": memory.peak_mb, "peak_pss_mb": memory.peak_pss_mb, **quality(metrics),
            "gensim_own_analogy_acc": own, "threads": threads}


def quality(metrics: dict) -> dict:
    rho = next((v for k, v in metrics.items() if k.endswith("_rho")), None)
    return {"analogy_acc": metrics.get("analogy_acc"), "analogy_coverage": metrics.get("analogy_coverage"),
            "wordsim_rho": rho}


def gensim_file(name: str) -> str | None:
    try:
        import gensim
    except ImportError:
        return None
    path = Path(gensim.__file__).parent / "test" / "test_data" / name
    return str(path) if path.exists() else None


def report(figures: dict) -> None:
    rows = []
    for name in ("seqpipe", "gensim"):
        f = figures.get(name)
        if f:
            rows.append((name, f"{f['words_per_s']:,}", f"{f['train_s']} s", f"{f['wall_s']} s",
                         f"{f['peak_pss_mb']} MB", f"{f['peak_rss_mb']} MB",
                         _pct(f["analogy_acc"]), _pct(f["analogy_coverage"]),
                         "-" if f["wordsim_rho"] is None else f"{f['wordsim_rho']:.3f}"))
    print_table(rows, ("trainer", "words/s", "train", "wall", "peak PSS", "summed RSS", "analogy", "coverage",
                       "WS353 rho"))
    if "speedup" in figures:
        gap = (figures["seqpipe"]["analogy_acc"] or 0) - (figures["gensim"]["analogy_acc"] or 0)
        print(f"seqpipe / gensim words/s: {figures['speedup']}x; analogy accuracy difference: {gap * 100:+.1f} points")


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
