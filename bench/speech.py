"""Benchmark: the CTC speech recogniser; training frames/s, decoding real-time factor, WER/CER.

    .venv/bin/python bench/speech.py --data recordings.csv --max-minutes 10 --json speech.json
    .venv/bin/python bench/speech.py --train train.csv --dev dev.csv --test test.csv

Manifests are CSV/TSV/JSONL/Parquet with path,transcript[,speaker] (any sample rate;
LibriSpeech folders work too). --data splits one manifest by its speaker column: whole
speakers go to test (--test-fraction of the utterances), then to dev, the rest train, so
test and dev voices are never heard in training. Without --train or --data, the
synthesised demo voices are used (test voices never heard in training). Beam search is
fused with `speech.fusion_lm`: by default a character n-gram LM of the training
transcripts, its weights tuned on dev; --lm names a character-level lm-<hash> folder
instead. Decoding is timed per utterance of test audio: greedy, prefix beam search, and
beam search with the LM (the acoustic model's share included). No peer runs in the same
process: published anchors are in the README.
"""
from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, add_config_args, load_bench_config, machine, print_table, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="one manifest to split by speaker into train, dev and test")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="share of --data's utterances for test "
                        "(dev: speech.dev_fraction)")
    parser.add_argument("--train", help="training manifest or folder (default: the demo voices)")
    parser.add_argument("--dev", help="validation manifest (default: whole speakers of train)")
    parser.add_argument("--test", help="test manifest")
    parser.add_argument("--lm", help="a character-level lm-<hash> folder for shallow fusion (default: "
                        "speech.fusion_lm, an n-gram LM of the training transcripts)")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="training budget (README figures: 10)")
    parser.add_argument("--utterances", type=int, default=2000, help="demo utterances to synthesise, without --train "
                        "(README figures: 2000; `make pipeline` uses demo.speech_utterances)")
    add_config_args(parser)
    args = parser.parse_args()

    cfg = load_bench_config(args)
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.speech import stage

    given = speaker_split(args.data, args.test_fraction, cfg.speech) if args.data else {
        "train_manifest": args.train, "dev_manifest": args.dev, "test_manifest": args.test}
    sp = cfg.speech.model_copy(update={k: v for k, v in given.items() if v})
    sp = stage.with_demo_data(sp, args.state_dir, cfg.demo.model_copy(update={"speech_utterances": args.utterances}))
    sp = sp.model_copy(update={"train": sp.train.model_copy(update={"max_minutes": args.max_minutes}),
                               "out": tempfile.mkdtemp(prefix="seqpipe-bench-speech-")})
    runtime = cfg.runtime.model_copy(update={"state_dir": tempfile.mkdtemp(prefix="seqpipe-bench-state-")})
    print(f"machine: {machine()}")
    print(f"data: {sp.train_manifest} (dev {sp.dev_manifest}, test {sp.test_manifest}); "
          f"fusion LM: {args.lm or sp.fusion_lm}")
    started = time.perf_counter()
    with PeakMemory() as memory:
        m = stage.run(sp, StageInputs(lm=args.lm), runtime).metrics
    fused = f"beam {sp.beam} + LM (alpha {m.get('lm_alpha')}, beta {m.get('lm_beta')})"
    rows = [(name, f"{m[f'cer_{key}']:.2%}", f"{m[f'wer_{key}']:.2%}", f"{m[f'rtf_{key}']:.3f}")
            for name, key in (("greedy", "greedy"), (f"beam {sp.beam}", "beam"), (fused, "beam_lm"))
            if f"cer_{key}" in m]
    print_table(rows, ("decoding", "CER", "WER", "real-time factor"))
    print(f"training: {m['train_frames_per_s']:,.0f} feature frames/s (after subsampling) over {m['epochs']} epochs; "
          f"{m['test_utterances']} test utterances, {m['test_audio_seconds']:.0f} s of audio; "
          f"peak memory {memory.peak_mb:,.0f} MB RSS summed, {memory.peak_pss_mb:,.0f} MB PSS")
    write_json(args.json, {"cer": m["cer"], "wer": m["wer"], "cer_greedy": m["cer_greedy"], "wer_greedy": m["wer_greedy"],
                           "cer_beam": m["cer_beam"], "wer_beam": m["wer_beam"], "cer_lm": m.get("cer_beam_lm"),
                           "wer_lm": m.get("wer_beam_lm"), "lm_alpha": m.get("lm_alpha"), "lm_beta": m.get("lm_beta"),
                           "rtf": m["rtf"], "rtf_greedy": m["rtf_greedy"], "train_frames_per_s": m["train_frames_per_s"],
                           "epochs": m["epochs"], "wall_s": round(time.perf_counter() - started, 1),
                           "peak_rss_mb": memory.peak_mb, "peak_pss_mb": memory.peak_pss_mb, "machine": machine()})


def speaker_split(manifest: str, test_fraction: float, sp) -> dict:
    """train/dev/test manifests (CSV, absolute paths, in a temporary folder) with disjoint speakers."""
    from seqpipe.tasks.speech.data import hold_out_speakers, read_split

    data = read_split(sp, manifest)
    if any(not u.speaker for u in data.utterances):
        sys.exit(f"{manifest}: --data needs a speaker for every utterance (column {sp.speaker_field!r})")
    rest, test = hold_out_speakers(data.utterances, test_fraction, sp.train.seed)
    train, dev = hold_out_speakers(rest, sp.dev_fraction, sp.train.seed)
    folder, out = Path(tempfile.mkdtemp(prefix="seqpipe-bench-split-")), {}
    for name, utterances in (("train", train), ("dev", dev), ("test", test)):
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["path", "transcript", "speaker"])
            writer.writerows((u.path, u.transcript, u.speaker) for u in utterances)
        out[f"{name}_manifest"] = str(folder / f"{name}.csv")
        print(f"{name}: {len(utterances)} utterances, {len({u.speaker for u in utterances})} speakers")
    return out


if __name__ == "__main__":
    main()
