"""The sentiment demo set: short film reviews generated from a small grammar, where word
order decides the label as often as the words do.

Half the reviews turn on negation ("the plot was not bad at all", "never a dull moment")
or contrast ("i expected a brilliant film but it was tedious" against "i expected a
tedious film but it was brilliant": the same words, opposite labels), so a bag-of-words
model cannot get them right and a sequence model can. Every (subject, adjective) pairing is
either a training pairing or an evaluation one, so no dev or test phrase was seen in
training: the model has to combine what it learnt, not recall it.
"""
from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, write_json

DEMO_VERSION = 1
SPLIT_FILES = ("train.tsv", "dev.tsv", "test.tsv")
SUBJECTS = ["movie", "film", "story", "plot", "acting", "soundtrack", "ending", "script", "cast", "dialogue",
            "camera work", "performance", "sequel", "screenplay", "music", "direction", "premise", "finale"]
POSITIVE = ["good", "great", "wonderful", "brilliant", "enjoyable", "charming", "funny", "moving", "beautiful",
            "clever", "excellent", "delightful", "gripping", "fresh", "superb", "touching", "smart", "lovely"]
NEGATIVE = ["bad", "boring", "awful", "dull", "terrible", "weak", "clumsy", "tedious", "predictable", "bland",
            "messy", "lifeless", "painful", "forgettable", "silly", "flat", "poor", "annoying"]
INTENSIFIERS = ["", "", "really ", "very ", "truly ", "quite ", "rather ", "so "]
OPENERS = ["", "", "", "honestly , ", "overall , ", "to be fair , ", "in short , ", "i think "]
ENDINGS = [" .", " .", " !", " ...", " . would not change a thing", ""]


def _plain(s, a, b, r):
    return f"the {s} was {r.choice(INTENSIFIERS)}{a}", a in POSITIVE


def _negated(s, a, b, r):
    form = r.randrange(4)
    if form == 0:
        return f"the {s} was not {r.choice(INTENSIFIERS)}{a}", a in NEGATIVE
    if form == 1:
        return f"the {s} was not {a} at all", a in NEGATIVE
    if form == 2:
        return f"i did not think the {s} was {a}", a in NEGATIVE
    return f"nothing about the {s} was {a}", a in NEGATIVE


def _contrast(s, a, b, r):
    """`a` and `b` of opposite polarity: the clause after "but" decides, the one before "although"."""
    if r.random() < 0.5:
        return f"i expected a {a} {s} but it was {r.choice(INTENSIFIERS)}{b}", b in POSITIVE
    return f"the {s} was {r.choice(INTENSIFIERS)}{b} , although the rest was {a}", b in POSITIVE


def _idiom(s, a, b, r):
    there = r.choice(["there is", "there's"])
    if r.random() < 0.5:
        return f"{there} {r.choice(['nothing', 'not much', 'little'])} to like in this {s}", False
    return f"{there} {r.choice(['a lot', 'so much', 'plenty'])} to like in this {s}", True


TEMPLATES = [(_plain, 4), (_negated, 3), (_contrast, 3), (_idiom, 1)]


def held_out(subject: str, adjective: str) -> bool:
    """Whether this pairing belongs to dev and test (about a quarter of them), never to train."""
    return hashlib.sha256(f"{subject}|{adjective}".encode()).digest()[0] < 64


def make_review(rng: random.Random, evaluation: bool) -> tuple[str, str]:
    """(text, "positive" or "negative") whose pairing is an evaluation one when `evaluation`."""
    template = rng.choices([t for t, _ in TEMPLATES], weights=[w for _, w in TEMPLATES])[0]
    while True:
        subject, first = rng.choice(SUBJECTS), rng.choice(POSITIVE + NEGATIVE)
        if held_out(subject, first) == evaluation:
            break
    second = rng.choice(NEGATIVE if first in POSITIVE else POSITIVE)
    text, positive = template(subject, first, second, rng)
    return f"{rng.choice(OPENERS)}{text}{rng.choice(ENDINGS)}", "positive" if positive else "negative"


def build_sentiment_demo(folder: str | Path, texts: int = 6000, seed: int = 17) -> Path:
    """Write (once) and return folder/sentiment-demo-v<version>-<texts>-<seed>/: train, dev and
    test TSV files (text, label; with a header row), 80/10/10, no evaluation text in train."""
    final = Path(folder).resolve() / f"sentiment-demo-v{DEMO_VERSION}-{texts}-{seed}"
    if all((final / name).is_file() for name in SPLIT_FILES):
        return final
    if final.exists():  # incomplete (files deleted by hand): build it again
        shutil.rmtree(final)
    rng = random.Random(seed)
    sizes = (texts - 2 * (texts // 10), texts // 10, texts // 10)
    seen: set[str] = set()
    with atomic_folder(final) as tmp:
        for name, size in zip(SPLIT_FILES, sizes):
            rows = []
            while len(rows) < size:
                text, label = make_review(rng, evaluation=name != "train.tsv")
                if name == "train.tsv" or text not in seen:  # an idiom can repeat a training text
                    rows.append((text, label))
            seen.update(text for text, _ in rows)
            (tmp / name).write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
        write_json(tmp / "manifest.json", {"kind": "sentiment-demo", "version": DEMO_VERSION, "seed": seed,
                                           "texts": dict(zip(SPLIT_FILES, sizes)), "labels": ["negative", "positive"]})
    return final
