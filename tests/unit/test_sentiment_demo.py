"""The sentiment demo holds out what decides a label: no dev or test review is decided by a
phrase (an adjective in its plain, negated or contrast role, or an idiom) that decides a
training review, so the demo's test accuracy measures what the model learnt to combine."""
import csv
import re

import pytest

from seqpipe.config import DemoConfig, SentimentConfig, TrainConfig
from seqpipe.tasks.sentiment import demo as grammar
from seqpipe.tasks.sentiment.data import DEMO_LR, with_demo_data
from seqpipe.tasks.sentiment.demo import build_sentiment_demo

ADJECTIVES = {**{a: True for a in grammar.POSITIVE}, **{a: False for a in grammar.NEGATIVE}}
NEGATORS = {"not", "nothing", "never", "no"}


def core(text: str) -> str:
    """The review without its opener and ending (the parts every split shares)."""
    for opener in sorted(filter(None, grammar.OPENERS), key=len, reverse=True):
        if text.startswith(opener):
            text = text[len(opener):]
            break
    for ending in sorted(filter(None, grammar.ENDINGS), key=len, reverse=True):
        if text.endswith(ending):
            return text[:-len(ending)]
    return text


def deciding(text: str) -> tuple[str, str, bool | None, list[str]]:
    """(role, the phrase that decides the label, the label it gives, the review's adjectives), read
    from the text alone: in a contrast the clause after "but" or before "although" decides, a
    negation flips its adjective, a review without an adjective is an idiom (subject masked)."""
    words = core(text).split()
    adjectives = [w for w in words if w in ADJECTIVES]
    if not adjectives:
        idiom = " " + core(text) + " "
        for subject in sorted(grammar.SUBJECTS, key=len, reverse=True):
            idiom = idiom.replace(f" {subject} ", " <subject> ")
        return "idiom", re.sub(r"^there is ", "there's ", idiom.strip()), None, []
    if "but" in words or "although" in words:
        decider = adjectives[-1] if "but" in words else adjectives[0]
        return "contrast", decider, ADJECTIVES[decider], adjectives
    if NEGATORS & set(words):
        return "negated", adjectives[0], not ADJECTIVES[adjectives[0]], adjectives
    return "plain", adjectives[0], ADJECTIVES[adjectives[0]], adjectives


def reviews(folder, name: str) -> list[tuple[str, str, str, list[str]]]:
    """(role, deciding phrase, label, adjectives) of each review of one split file."""
    with open(folder / name, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    out = []
    for text, label in rows:
        role, phrase, says, adjectives = deciding(text)
        assert says is None or says == (label == "positive"), f"{text!r}: read as {role} {phrase!r}, labelled {label}"
        out.append((role, phrase, label, adjectives))
    return out


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    folder = build_sentiment_demo(tmp_path_factory.mktemp("demo"), texts=6000)
    return {name.removesuffix(".tsv"): reviews(folder, name) for name in grammar.SPLIT_FILES}


def test_no_evaluation_review_is_decided_by_a_phrase_that_decides_a_training_review(splits):
    learnt = {(role, phrase) for role, phrase, _, _ in splits["train"]}
    for split in ("dev", "test"):
        leaked = sorted({(role, phrase) for role, phrase, _, _ in splits[split]} & learnt)
        assert not leaked, f"{split} reviews decided by what decides training reviews: {leaked[:8]}"


def test_idioms_are_held_out_per_split(splits):
    idioms = {split: {phrase for role, phrase, _, _ in rows if role == "idiom"} for split, rows in splits.items()}
    assert all(idioms.values()), "every split has idioms"
    assert not idioms["dev"] & idioms["train"] and not idioms["test"] & idioms["train"]
    assert not idioms["dev"] & idioms["test"]


def test_an_evaluation_contrast_has_no_adjective_of_a_training_contrast(splits):
    """Not even the overridden one, whose polarity (always opposite) gives the label away as well."""
    trained = {a for role, _, _, adjectives in splits["train"] if role == "contrast" for a in adjectives}
    for split in ("dev", "test"):
        seen = {a for role, _, _, adjectives in splits[split] if role == "contrast" for a in adjectives} & trained
        assert not seen, f"{split} contrasts use adjectives of training contrasts: {sorted(seen)}"


def test_every_role_and_both_labels_are_evaluated_and_learnt_from(splits):
    for split, rows in splits.items():
        kinds = {(role, label) for role, _, label, _ in rows}
        assert kinds == {(r, y) for r in ("plain", "negated", "contrast", "idiom") for y in ("positive", "negative")}, \
            (split, sorted(kinds))
    for role in ("plain", "negated", "contrast"):  # each evaluated adjective was learnt in another role
        learnt = {phrase for r, phrase, _, _ in splits["train"] if r != role}
        assert {phrase for split in ("dev", "test") for r, phrase, _, _ in splits[split] if r == role} <= learnt


def test_the_demo_trains_at_its_own_learning_rate_unless_one_is_set(tmp_path):
    demo = DemoConfig(sentiment_texts=60)
    on_demo = with_demo_data(SentimentConfig(), str(tmp_path), demo)
    assert on_demo.train.lr == DEMO_LR and on_demo.train.batch_size == 64 and on_demo.train_path.endswith("train.tsv")
    assert with_demo_data(SentimentConfig(train=TrainConfig(lr=0.002)), str(tmp_path), demo).train.lr == 0.002
    named = SentimentConfig(train_path="reviews.tsv")
    assert with_demo_data(named, str(tmp_path), demo) is named
