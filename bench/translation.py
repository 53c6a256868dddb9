"""Benchmark: the attention encoder-decoder on a parallel corpus; decoding speed, BLEU, beam errors.

    .venv/bin/python bench/translation.py --src train.de --tgt train.en \\
        --test-src test.de --test-tgt test.en --level word --max-minutes 60 --json translation.json

Without --src/--tgt, the generated date task (characters) is used. The model is trained
once with the config's `translation` settings (overridable with --set), then the test
set is translated greedily and with beam search (B = --beam), batched (64 sentences at a
time) and one sentence at a time, so the batching speed-up is measured on the same
machine in the same minute. BLEU and chrF are sacrebleu's on detokenised output. No
peer runs in the same process: published anchors are listed in the README.
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
    parser.add_argument("--src", help="training source sentences (aligned with --tgt); default: the date task")
    parser.add_argument("--tgt", help="training target sentences")
    parser.add_argument("--test-src", help="test source sentences")
    parser.add_argument("--test-tgt", help="test target sentences")
    parser.add_argument("--level", choices=["auto", "word", "subword", "char"],
                        help="token level (default: the config's; dates: char)")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--alpha", type=float, default=0.7)
    parser.add_argument("--one-by-one", type=int, default=200, help="test sentences decoded one at a time")
    parser.add_argument("--max-minutes", type=float, default=5.0, help="training budget (README figures: 5)")
    add_config_args(parser)
    args = parser.parse_args()

    cfg = load_bench_config(args)
    from seqpipe.config import ParallelFiles
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.translation import stage

    tr = cfg.translation
    if args.src:
        tr = tr.model_copy(update={"train_data": ParallelFiles(source=args.src, target=args.tgt),
                                   "test_data": ParallelFiles(source=args.test_src, target=args.test_tgt)})
    tr = stage.with_demo_data(tr, args.state_dir, cfg.demo)
    train = tr.train.model_copy(update={"max_minutes": args.max_minutes})
    tr = tr.model_copy(update={"train": train, "beam": args.beam, "alpha": args.alpha, "level": args.level or tr.level,
                               "out": tempfile.mkdtemp(prefix="seqpipe-bench-translation-")})
    runtime = cfg.runtime.model_copy(update={"state_dir": tempfile.mkdtemp(prefix="seqpipe-bench-state-")})
    print(f"machine: {machine()}")
    started = time.perf_counter()
    with PeakMemory() as memory:
        result = stage.run(tr, StageInputs(), runtime)
    m = result.metrics
    speed = decoding_speed(Path(result.uri), args.beam, args.alpha, args.one_by_one)
    print_table([("greedy", f"{m['bleu_greedy']:.2f}", f"{m['chrf_greedy']:.2f}", f"{m['exact_match_greedy']:.2%}",
                  f"{speed['greedy_batched']:.1f}", f"{speed['greedy_single']:.1f}"),
                 (f"beam {args.beam}, alpha {args.alpha}", f"{m['bleu_beam']:.2f}", f"{m['chrf_beam']:.2f}",
                  f"{m['exact_match_beam']:.2%}", f"{speed['beam_batched']:.1f}", f"{speed['beam_single']:.1f}")],
                ("decoding", "BLEU", "chrF", "exact", "sent/s batched", "sent/s one by one"))
    figures = {"bleu_beam": m["bleu_beam"], "bleu_greedy": m["bleu_greedy"], "chrf_beam": m["chrf_beam"],
               "exact_match_beam": m["exact_match_beam"], "beam_batched_speedup": speed["beam_batched"] / speed["beam_single"],
               "decode_sent_per_s": speed["beam_batched"], "greedy_sent_per_s": speed["greedy_batched"],
               "beam_fault_fraction": m["beam_search_fault_fraction"], "model_fault_fraction": m["beam_model_fault_fraction"],
               "beam_errors": m["beam_errors"], "beam_analysis_alpha": m["beam_analysis_alpha"], "train_tokens_per_s": m["train_tokens_per_s"], "epochs": m["epochs"],
               "sweep": {k[11:]: v for k, v in m.items() if k.startswith("sweep_bleu_")},
               "wall_s": round(time.perf_counter() - started, 1), "peak_rss_mb": memory.peak_mb,
               "peak_pss_mb": memory.peak_pss_mb, "machine": machine()}
    print(f"training: {m['train_tokens_per_s']:,.0f} tokens/s over {m['epochs']} epochs; beam batched speed-up "
          f"{figures['beam_batched_speedup']:.1f}x; beam errors {m['beam_errors']} of {m['beam_sentences']} dev "
          f"sentences, search at fault {m['beam_search_fault_fraction']:.0%}, model at fault "
          f"{m['beam_model_fault_fraction']:.0%} (compared on log P / T^alpha, alpha {m['beam_analysis_alpha']:g}, "
          f"the objective the beam search maximised); peak memory of the driver and Ray's processes "
          f"{memory.peak_pss_mb:,.0f} MiB PSS ({memory.peak_mb:,.0f} MiB summed RSS)")
    write_json(args.json, figures)


def decoding_speed(folder: Path, beam: int, alpha: float, one_by_one: int) -> dict:
    """Test sentences per second, greedy and beam, 64 at a time and one at a time."""
    import json

    from seqpipe.tasks.translation.evaluate import decode, load_translator

    model, vocab = load_translator(folder)
    tokens = json.loads((folder / "data.json").read_text())
    pairs = tokens.get("test") or tokens["dev"]
    examples = [{"src": vocab.encode_source(s)} for s, _, _ in pairs]
    speed = {}
    for name, width in (("greedy", 0), ("beam", beam)):
        for mode, batch, subset in (("batched", 64, examples), ("single", 1, examples[:one_by_one])):
            started = time.perf_counter()
            decode(model, subset, width, alpha, 200, batch_size=batch)
            speed[f"{name}_{mode}"] = len(subset) / (time.perf_counter() - started)
    return speed


if __name__ == "__main__":
    main()
