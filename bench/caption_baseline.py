"""The captioner's floor on real photographs: one caption said of every image. Of the training
captions (up to 12 words), the one that scores the best BLEU-4 on the dev images is scored on
the test images, with the same BLEU-4 and CIDEr-D as the captioning stage, against the same
references: the raw captions as `data.reference_text` gives them (no <unk>, not cut).

    .venv/bin/python bench/caption_baseline.py --train train.csv --dev dev.csv --test test.csv --images images/
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for split in ("train", "dev", "test"):
        parser.add_argument(f"--{split}", required=True, help=f"{split} captions (image,caption CSV or Flickr8k lines)")
    parser.add_argument("--images", required=True, help="the images' folder")
    args = parser.parse_args()

    from seqpipe.config import CaptioningConfig
    from seqpipe.tasks.captioning.data import read_captions, reference_text
    from seqpipe.tasks.captioning.task import bleu, caption_scores

    cfg = CaptioningConfig(images=args.images)
    words = {split: [[reference_text(c, cfg.lowercase) for c in captions]
                     for captions in read_captions(Path(getattr(args, split)), cfg).captions]
             for split in ("train", "dev", "test")}
    candidates = sorted({c for captions in words["train"] for c in captions if len(c.split()) <= 12})
    best = max(candidates, key=lambda c: bleu([(c, refs) for refs in words["dev"]]))  # chosen by BLEU alone
    rows = []
    for split in ("dev", "test"):
        scores = caption_scores([(best, refs) for refs in words[split]])
        rows.append((split, f"{scores['bleu']:.1f}", f"{scores.get('cider', float('nan')):.1f}"))
    print(f"the caption chosen among {len(candidates):,} on dev: {best!r}")
    print_table(rows, ("images", "BLEU-4", "CIDEr-D"))


if __name__ == "__main__":
    main()
