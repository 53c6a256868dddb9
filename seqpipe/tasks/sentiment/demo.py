"""The sentiment demo set: short film reviews generated from a small grammar, where word
order decides the label as often as the words do.

Four kinds of review: plain ("the plot was dull"), negated ("the plot was not dull at all",
"i did not think the plot was dull": the negation flips the adjective), contrast ("i
expected a brilliant film but it was tedious" against "i expected a tedious film but it was
brilliant": the same words, opposite labels; the clause after "but" or before "although"
decides) and idioms ("there's nothing to like in this movie"). A bag-of-words model cannot
get negations and contrasts right; a sequence model can.

What decides a label is held out of training. Each adjective has one held-out role (plain,
negated or contrast) and one evaluation split (dev or test), a sixth of each polarity's
adjectives per (role, split): in that role it appears only in that split's reviews (a dev
or test contrast takes both its adjectives from these, as the overridden one gives the
label away as well), and in the other two roles only in training. So "not boring" decides
test reviews and no training review: the model has seen "boring" decide plain reviews and
contrasts, and "not" flip other adjectives, and has to combine the two. (An adjective held out of
every role would be a coin toss: the demo corpus's vectors lack 13 of the 36, and a linear
probe tells the polarity of the rest 65% of the time.) Idioms are held out whole: each
split has its own (`IDIOMS`), and an unseen idiom is only as readable as its words'
pretrained vectors make it. Shared by every split: the subjects, intensifiers, openers and
endings, and the sentence frames of each kind.
"""
from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, write_json

DEMO_VERSION = 2
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
ROLES = ("plain", "negated", "contrast")
# (text with {s} for the subject and {there} for "there is" / "there's", positive): no adjective of the lists
IDIOMS = {
    "train": [("{there} a lot to like in this {s}", True), ("the {s} is worth every penny", True),
              ("the {s} kept me on the edge of my seat", True), ("i would watch the {s} again in a heartbeat", True),
              ("the {s} stole the show", True), ("the {s} hit all the right notes", True),
              ("{there} nothing to like in this {s}", False), ("the {s} is a waste of time", False),
              ("the {s} put me to sleep", False), ("i want my money back after that {s}", False),
              ("the {s} missed the mark", False), ("the {s} overstayed its welcome", False)],
    "dev": [("{there} plenty to like in this {s}", True), ("the {s} blew me away", True),
            ("{there} little to like in this {s}", False), ("the {s} left me cold", False)],
    "test": [("the {s} is a triumph from start to finish", True), ("i loved every minute of the {s}", True),
             ("the {s} is a disaster from start to finish", False), ("i could not wait for the {s} to end", False)],
}


def _assign_held_out() -> dict[str, tuple[str, str]]:
    """adjective -> (held-out role, evaluation split): in the order of their sha256, each
    polarity's adjectives take the roles in turn, and dev and test in turn within a role."""
    held = {}
    for words in (POSITIVE, NEGATIVE):
        ranked = sorted(words, key=lambda w: hashlib.sha256(w.encode()).hexdigest())
        for i, word in enumerate(ranked):
            held[word] = (ROLES[i % 3], ("dev", "test")[(i // 3) % 2])
    return held


HELD_OUT = _assign_held_out()


def adjectives(positive: bool, role: str, split: str) -> list[str]:
    """The adjectives of one polarity a `split` review may use in `role`."""
    return [a for a in (POSITIVE if positive else NEGATIVE)
            if (HELD_OUT[a][0] != role if split == "train" else HELD_OUT[a] == (role, split))]


def _plain(s, positive, split, r):
    return f"the {s} was {r.choice(INTENSIFIERS)}{r.choice(adjectives(positive, 'plain', split))}"


def _negated(s, positive, split, r):
    a, form = r.choice(adjectives(not positive, "negated", split)), r.randrange(4)
    if form == 0:
        return f"the {s} was not {r.choice(INTENSIFIERS)}{a}"
    if form == 1:
        return f"the {s} was not {a} at all"
    if form == 2:
        return f"i did not think the {s} was {a}"
    return f"nothing about the {s} was {a}"


def _contrast(s, positive, split, r):
    """`b` (the label's polarity) decides: the clause after "but", the one before "although"."""
    b, a = r.choice(adjectives(positive, "contrast", split)), r.choice(adjectives(not positive, "contrast", split))
    if r.random() < 0.5:
        return f"i expected {'an' if a[0] in 'aeiou' else 'a'} {a} {s} but it was {r.choice(INTENSIFIERS)}{b}"
    return f"the {s} was {r.choice(INTENSIFIERS)}{b} , although the rest was {a}"


def _idiom(s, positive, split, r):
    text = r.choice([t for t, p in IDIOMS[split] if p == positive])
    return text.format(s=s, there=r.choice(["there is", "there's"]))


TEMPLATES = [(_plain, 4), (_negated, 3), (_contrast, 3), (_idiom, 1)]


def make_review(rng: random.Random, split: str) -> tuple[str, str]:
    """(text, "positive" or "negative") of a `split` review ("train", "dev" or "test")."""
    template = rng.choices([t for t, _ in TEMPLATES], weights=[w for _, w in TEMPLATES])[0]
    positive = rng.random() < 0.5
    text = template(rng.choice(SUBJECTS), positive, split, rng)
    return f"{rng.choice(OPENERS)}{text}{rng.choice(ENDINGS)}", "positive" if positive else "negative"


def build_sentiment_demo(folder: str | Path, texts: int = 6000, seed: int = 17) -> Path:
    """Write (once) and return folder/sentiment-demo-v<version>-<texts>-<seed>/: train, dev and
    test TSV files (text, label; with a header row), 80/10/10, what decides a dev or test
    label held out of train (the module's docstring)."""
    final = Path(folder).resolve() / f"sentiment-demo-v{DEMO_VERSION}-{texts}-{seed}"
    if all((final / name).is_file() for name in SPLIT_FILES):
        return final
    if final.exists():  # incomplete (files deleted by hand): build it again
        shutil.rmtree(final)
    rng = random.Random(seed)
    sizes = (texts - 2 * (texts // 10), texts // 10, texts // 10)
    with atomic_folder(final) as tmp:
        for name, size in zip(SPLIT_FILES, sizes):
            rows = [make_review(rng, name.removesuffix(".tsv")) for _ in range(size)]
            (tmp / name).write_text("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")
        write_json(tmp / "manifest.json", {"kind": "sentiment-demo", "version": DEMO_VERSION, "seed": seed,
                                           "texts": dict(zip(SPLIT_FILES, sizes)), "labels": ["negative", "positive"],
                                           "held_out": {a: list(v) for a, v in sorted(HELD_OUT.items())},
                                           "idioms": {k: [t for t, _ in v] for k, v in IDIOMS.items()}})
    return final
