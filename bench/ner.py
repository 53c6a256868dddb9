"""Benchmark: the NER tagger (BiLSTM-CRF on Ray Train) on a CoNLL-format dataset, 1 and 2 workers.

    .venv/bin/python bench/ner.py --train eng.train --dev eng.testa --test eng.testb \\
        --embeddings glove.6B.100d.txt --max-minutes 30 --json ner.json

Without --train, the generated demo set is used. The tagger is trained once per worker
count with the config's settings (conf/pipeline.yaml `ner` section, overridable with
--set ner.crf=false etc.); tokens/s counts training tokens over the workers' epoch time
(no Ray start-up, evaluation or checkpoints). Entity F1 is seqeval's (CoNLL rules) on
the test set with the best epoch's weights (best dev F1). No peer runs in the same
process: published anchors are listed in the README.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, add_config_args, load_bench_config, machine, print_table, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", help="CoNLL training file (default: the generated demo set)")
    parser.add_argument("--dev", help="CoNLL validation file (default: 10%% of train)")
    parser.add_argument("--test", help="CoNLL test file")
    parser.add_argument("--embeddings", help="pretrained vectors: seqpipe embeddings folder or word2vec/GloVe file")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray Train worker counts to measure")
    parser.add_argument("--max-minutes", type=float, default=3.0, help="training budget per run (README figures: 3)")
    add_config_args(parser)
    args = parser.parse_args()

    cfg = load_bench_config(args)
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.ner import stage

    ner = cfg.ner.model_copy(update={k: v for k, v in {"train_path": args.train, "dev_path": args.dev,
                                                       "test_path": args.test}.items() if v})
    ner = stage.with_demo_data(ner, args.state_dir, cfg.demo)
    if args.embeddings:
        ner = ner.model_copy(update={"embeddings": ner.embeddings.model_copy(update={"path": args.embeddings})})
    print(f"machine: {machine()}")
    print(f"data: {ner.train_path} (dev {ner.dev_path}, test {ner.test_path}); embeddings: {args.embeddings}")
    runs = []
    for workers in args.workers:
        train = ner.train.model_copy(update={"num_workers": workers, "max_minutes": args.max_minutes})
        run_cfg = ner.model_copy(update={"train": train, "out": tempfile.mkdtemp(prefix="seqpipe-bench-ner-")})
        runtime = cfg.runtime.model_copy(update={"state_dir": tempfile.mkdtemp(prefix="seqpipe-bench-state-")})
        started = time.perf_counter()
        with PeakMemory() as memory:
            m = stage.run(run_cfg, StageInputs(), runtime).metrics
        runs.append({"workers": workers, "test_f1": m.get("test_f1"), "dev_f1": m["dev_f1"],
                     "tokens_per_s": round(m["tokens_per_s"]), "epochs": m["epochs"], "best_epoch": m["best_epoch"],
                     "wall_s": round(time.perf_counter() - started, 1), "peak_rss_mb": memory.peak_mb,
                     "peak_pss_mb": memory.peak_pss_mb,
                     "per_type_test_f1": {k[8:]: round(v, 4) for k, v in m.items() if k.startswith("test_f1_")}})
    print_table([(r["workers"], _f(r["test_f1"]), _f(r["dev_f1"]), f"{r['tokens_per_s']:,}", r["epochs"],
                  r["best_epoch"], r["wall_s"], r["peak_pss_mb"], r["peak_rss_mb"]) for r in runs],
                ("workers", "test F1", "dev F1", "tokens/s", "epochs", "best", "wall s", "peak PSS MB",
                 "summed RSS MB"))
    best = max(runs, key=lambda r: r["dev_f1"])
    write_json(args.json, {**{k: best[k] for k in ("test_f1", "dev_f1", "tokens_per_s", "workers")},
                           "runs": runs, "machine": machine(), "max_minutes": args.max_minutes})


def _f(value) -> str:
    return "-" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
