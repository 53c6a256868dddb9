"""The character n-gram LM that speech fuses with: a proper distribution, learnt from the
transcripts, stored and reloaded unchanged."""
import math

import pytest

from seqpipe.models.char_ngram import EOS, CharNgramLM

ALPHABET = " abcdefghijklmnopqrstuvwxyz'"
WORDS = ["yes", "no", "up", "down", "left", "right", "seven", "six"]


@pytest.mark.parametrize("order", [1, 3, 6])
@pytest.mark.parametrize("history", ["", "\x02", "\x02ye", "\x02zzzq", "\x02seve"])
def test_next_character_probabilities_sum_to_one(order, history):
    lm = CharNgramLM.fit(WORDS, ALPHABET, order)
    total = sum(lm.prob(history, c) for c in list(ALPHABET) + [EOS])
    assert total == pytest.approx(1.0, abs=1e-9)


def test_seen_words_outscore_unseen_strings_and_need_their_end():
    lm = CharNgramLM.fit(WORDS, ALPHABET, 6)
    assert lm.sentence_log_prob("seven") > lm.sentence_log_prob("sevem") + 5
    assert lm.sentence_log_prob("six") > lm.sentence_log_prob("sixe")
    assert lm.prob("\x02sev", "e") > 0.9, "after 'sev' only 'e' was ever seen"


def test_the_protocol_matches_the_sentence_score():
    lm = CharNgramLM.fit(WORDS, ALPHABET, 4)
    state, total = lm.initial(), 0.0
    for char in "down":
        log_prob, state = lm.score(state, ALPHABET.index(char) + 1)
        total += log_prob
    assert total + lm.end(state) == pytest.approx(lm.sentence_log_prob("down"))


def test_saved_and_loaded_it_scores_the_same(tmp_path):
    lm = CharNgramLM.fit(WORDS + ["up down up"], ALPHABET, 5)
    lm.save(tmp_path / "lm.json")
    again = CharNgramLM.load(tmp_path / "lm.json")
    for text in ("up down", "left", "xyz", ""):
        assert again.sentence_log_prob(text) == lm.sentence_log_prob(text)


def test_order_must_be_positive():
    with pytest.raises(ValueError):
        CharNgramLM.fit(WORDS, ALPHABET, 0)
    assert math.isfinite(CharNgramLM.fit([], ALPHABET, 3).sentence_log_prob("abc"))
