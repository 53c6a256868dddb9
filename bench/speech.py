"""Benchmark: the CTC speech recogniser; training frames/s, decoding real-time factor, WER/CER.

    .venv/bin/python bench/speech.py --train train-clean-100.csv --test test-clean.csv \\
        --lm .seqpipe/lm/lm-<hash> --max-minutes 120 --json speech.json

Manifests are CSV/TSV/JSONL/Parquet with path,transcript[,speaker] (any sample rate;
LibriSpeech folders work too). Without --train, the synthesised demo voices are used
(test voices never heard in training). Without --lm, a character-level language model
is trained on the demo corpus (the pipeline's `lm-char` stage) for --lm-minutes and
fused with weight speech.lm_alpha. Decoding is timed per utterance of test audio:
greedy, prefix beam search, and beam search with the LM (the acoustic model's share
included). No peer runs in the same process: published anchors are in the README.
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
    parser.add_argument("--train", help="training manifest or folder (default: the demo voices)")
    parser.add_argument("--dev", help="validation manifest (default: part of train)")
    parser.add_argument("--test", help="test manifest")
    parser.add_argument("--lm", help="a character-level lm-<hash> folder for shallow fusion")
    parser.add_argument("--lm-minutes", type=float, default=2.0, help="budget of the demo character LM")
    parser.add_argument("--max-minutes", type=float, default=8.0, help="training budget (README figures: 8)")
    parser.add_argument("--utterances", type=int, default=2000, help="demo utterances to synthesise, without --train "
                        "(README figures: 2000; `make pipeline` uses demo.speech_utterances)")
    add_config_args(parser)
    args = parser.parse_args()

    cfg = load_bench_config(args)
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.speech import stage

    sp = cfg.speech.model_copy(update={k: v for k, v in {"train_manifest": args.train, "dev_manifest": args.dev,
                                                         "test_manifest": args.test}.items() if v})
    sp = stage.with_demo_data(sp, args.state_dir, cfg.demo.model_copy(update={"speech_utterances": args.utterances}))
    lm = args.lm or demo_char_lm(cfg, args.state_dir, args.lm_minutes)
    sp = sp.model_copy(update={"train": sp.train.model_copy(update={"max_minutes": args.max_minutes}),
                               "out": tempfile.mkdtemp(prefix="seqpipe-bench-speech-")})
    runtime = cfg.runtime.model_copy(update={"state_dir": tempfile.mkdtemp(prefix="seqpipe-bench-state-")})
    print(f"machine: {machine()}")
    print(f"data: {sp.train_manifest} (test {sp.test_manifest}); character LM: {lm}")
    started = time.perf_counter()
    with PeakMemory() as memory:
        m = stage.run(sp, StageInputs(lm=lm), runtime).metrics
    rows = [(name, f"{m[f'cer_{key}']:.2%}", f"{m[f'wer_{key}']:.2%}", f"{m[f'rtf_{key}']:.3f}")
            for name, key in (("greedy", "greedy"), (f"beam {sp.beam}", "beam"),
                              (f"beam {sp.beam} + LM (alpha {sp.lm_alpha}, beta {sp.lm_beta})", "beam_lm")) if f"cer_{key}" in m]
    print_table(rows, ("decoding", "CER", "WER", "real-time factor"))
    print(f"training: {m['train_frames_per_s']:,.0f} feature frames/s (after subsampling) over {m['epochs']} epochs; "
          f"{m['test_utterances']} test utterances, {m['test_audio_seconds']:.0f} s of audio")
    write_json(args.json, {"cer": m["cer"], "wer": m["wer"], "cer_greedy": m["cer_greedy"], "wer_greedy": m["wer_greedy"],
                           "cer_beam": m["cer_beam"], "cer_lm": m.get("cer_beam_lm"), "wer_lm": m.get("wer_beam_lm"),
                           "rtf": m["rtf"], "rtf_greedy": m["rtf_greedy"], "train_frames_per_s": m["train_frames_per_s"],
                           "epochs": m["epochs"], "wall_s": round(time.perf_counter() - started, 1),
                           "peak_rss_mb": memory.peak_mb, "machine": machine()})


def demo_char_lm(cfg, state_dir: str, minutes: float) -> str:
    """The pipeline's character LM on the demo corpus (reused when it exists)."""
    from seqpipe.data.demo_corpus import build_demo_corpus
    from seqpipe.data.ingest import run_ingest
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.lm import stage
    from seqpipe.data.vocab import run_vocab

    runtime = cfg.runtime.model_copy(update={"state_dir": state_dir})
    folder = build_demo_corpus(state_dir, cfg.demo.max_mb)
    corpus = run_ingest(cfg.ingest.model_copy(update={"sources": [f"{folder}/*.txt"]}), runtime)
    vocab = run_vocab(cfg.vocab, corpus.uri, runtime)
    lm = cfg.lm.model_copy(update={"level": "char", "train": cfg.lm.train.model_copy(update={"max_minutes": minutes})})
    return stage.run(lm, StageInputs(corpus=corpus.uri, vocab=vocab.uri), runtime).uri


if __name__ == "__main__":
    main()
