"""Beam-search error analysis on planted cases: whose fault is each wrong output, search or model?"""
import math

import pytest
import torch

from seqpipe.decoding.analysis import ErrorCase, analyse, summarise, verdict
from seqpipe.decoding.search import beam_search, greedy, score

BOS, EOS, A, B, C = 0, 1, 2, 3, 4


class TableModel:
    """Next-token probabilities P(bos, eos, a, b, c) keyed on the prefix (bos excluded); src is ignored."""

    TABLE = {(): [.02, .03, .5, .4, .05], (A,): [.1, .3, .25, .2, .15], (B,): [.01, .9, .04, .03, .02]}
    DEFAULT = [.05, .35, .25, .2, .15]

    def probs(self, prefix):
        return self.TABLE.get(tuple(prefix), self.DEFAULT)

    def start(self, src, src_lengths):
        return {"prefix": torch.zeros(src.size(0), 0, dtype=torch.long)}

    def step(self, prev, state):
        prefix = torch.cat([state["prefix"], prev.unsqueeze(1)], dim=1)
        probs = torch.tensor([self.probs(row[1:]) for row in prefix.tolist()], dtype=torch.float64)
        return probs.log(), {"prefix": prefix}

    def log_prob(self, tokens):
        return sum(math.log(self.probs(tokens[:t])[y]) for t, y in enumerate([*tokens, EOS]))


MODEL = TableModel()


def toy_batch(n):
    return torch.zeros(n, 3, dtype=torch.long), torch.full((n,), 3)


# P([b]) = .4 * .9 = .36 > P([a]) = .5 * .3 = .15 > P([c]) = .05 * .35 > P([a, a]) = .5 * .25 * .35
PLANTED = [([B], [A], "search"),     # the model prefers the reference: the search missed it
           ([A, A], [B], "model"),   # the model prefers the wrong output
           ([B], [B], "none"),       # correct
           ([C], [A], "model"),
           ([A], [A, A], "search")]


@pytest.mark.parametrize("batch_size", [1, 2, 64])
def test_planted_cases_are_attributed_to_search_or_model(batch_size):
    references, outputs, faults = map(list, zip(*PLANTED))
    cases, stats = analyse(MODEL, *toy_batch(len(PLANTED)), references, outputs, BOS, EOS, alpha=0.0,
                           batch_size=batch_size)
    assert [c.at_fault for c in cases] == faults
    assert [c.index for c in cases] == list(range(len(PLANTED)))
    assert [c.reference for c in cases] == references and [c.output for c in cases] == outputs
    assert [c.ref_log_prob for c in cases] == pytest.approx([MODEL.log_prob(y) for y in references])
    assert [c.out_log_prob for c in cases] == pytest.approx([MODEL.log_prob(y) for y in outputs])
    assert cases[0].ref_log_prob == pytest.approx(math.log(.36)) and cases[0].out_log_prob == pytest.approx(math.log(.15))
    assert stats == {"sentences": 5, "errors": 4, "search_errors": 2, "model_errors": 2,
                     "search_fault_fraction": 0.5, "model_fault_fraction": 0.5}


def test_greedy_errors_are_search_errors_that_beam_search_fixes():
    src, lengths = toy_batch(3)
    references = [[B]] * 3  # the most probable output of every sentence (the toy ignores src)
    greedy_out = [h.tokens for h in greedy(MODEL, src, lengths, BOS, EOS, max_len=4)]
    cases, stats = analyse(MODEL, src, lengths, references, greedy_out, BOS, EOS, alpha=0.0)
    assert greedy_out == [[A]] * 3 and {c.at_fault for c in cases} == {"search"}
    assert stats["search_fault_fraction"] == 1.0 and stats["model_fault_fraction"] == 0.0
    beam_out = [row[0].tokens for row in beam_search(MODEL, src, lengths, BOS, EOS, beam=2, alpha=0.0, max_len=4)]
    cases, stats = analyse(MODEL, src, lengths, references, beam_out, BOS, EOS, alpha=0.0)
    assert {c.at_fault for c in cases} == {"none"}
    assert stats == {"sentences": 3, "errors": 0, "search_errors": 0, "model_errors": 0,
                     "search_fault_fraction": 0.0, "model_fault_fraction": 0.0}


def test_verdict_compares_the_given_scores_and_a_tie_is_the_models_fault():
    assert verdict([1, 2], [1, 2], -9.0, -1.0) == "none"
    assert verdict([1, 2], [2], -1.0, -2.0) == "search"
    assert verdict([1, 2], [2], -2.0, -1.0) == "model"
    assert verdict([1, 2], [2], -1.0, -1.0) == "model"


def test_summary_of_no_sentences():
    assert summarise([]) == {"sentences": 0, "errors": 0, "search_errors": 0, "model_errors": 0,
                             "search_fault_fraction": 0.0, "model_fault_fraction": 0.0}
    case = ErrorCase(0, [1], [2], -1.0, -2.0, -1.0, -2.0, "search")
    assert summarise([case])["search_fault_fraction"] == 1.0


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="references"):
        analyse(MODEL, *toy_batch(2), [[A]], [[A], [B]], BOS, EOS, alpha=0.0)
    with pytest.raises(ValueError, match="ended"):
        analyse(MODEL, *toy_batch(1), [[A]], [[B]], BOS, EOS, alpha=0.0, output_ended=[True, False])


class LengthModel(TableModel):
    """[b] is the more probable sentence, [a, a, a] the one with the higher per-token probability.

    P([b]) = .45 * .9 = .405 (raw -0.904, T = 2); P([a, a, a]) = .5 * .9 * .9 * .9 = .3645
    (raw -1.009, T = 4). With alpha = 1 the normalised scores are -0.452 and -0.252: the two
    objectives rank the pair in opposite orders.
    """

    TABLE = {(): [.01, .01, .5, .45, .03], (B,): [.02, .9, .04, .02, .02], (A,): [.02, .04, .9, .02, .02],
             (A, A): [.02, .04, .9, .02, .02], (A, A, A): [.02, .9, .04, .02, .02]}
    DEFAULT = [.2, .2, .2, .2, .2]


LENGTHS = LengthModel()
RAW_B, RAW_AAA = math.log(.45 * .9), math.log(.5 * .9 ** 3)


def test_a_length_normalised_search_is_judged_on_its_own_objective():
    src, lengths = toy_batch(2)
    assert [h.tokens for h in greedy(LENGTHS, src, lengths, BOS, EOS, max_len=6)] == [[A, A, A]] * 2
    # reference [b], output [a, a, a]: raw log P says the search missed the better [b];
    # on the objective the search maximised, [a, a, a] is better: the model (with alpha) is at fault.
    # reference [a, a, a], output [b] (a narrower beam would find it): raw says model, normalised search.
    cases, stats = analyse(LENGTHS, src, lengths, [[B], [A, A, A]], [[A, A, A], [B]], BOS, EOS, alpha=1.0)
    assert [c.at_fault for c in cases] == ["model", "search"]
    assert [verdict(c.reference, c.output, c.ref_log_prob, c.out_log_prob) for c in cases] == ["search", "model"]
    assert cases[0].ref_log_prob == pytest.approx(RAW_B) and cases[0].out_log_prob == pytest.approx(RAW_AAA)
    assert cases[0].ref_score == pytest.approx(RAW_B / 2) and cases[0].out_score == pytest.approx(RAW_AAA / 4)
    assert stats["search_errors"] == stats["model_errors"] == 1
    raw, _ = analyse(LENGTHS, src, lengths, [[B], [A, A, A]], [[A, A, A], [B]], BOS, EOS, alpha=0.0)
    assert [c.at_fault for c in raw] == ["search", "model"]


def test_an_output_cut_at_max_len_is_scored_without_eos():
    src, lengths = toy_batch(1)
    cut = beam_search(LENGTHS, src, lengths, BOS, EOS, beam=2, alpha=1.0, max_len=2)[0][0]
    assert cut.tokens == [A, A] and not cut.ended and cut.length == 2
    greedy_cut = greedy(LENGTHS, src, lengths, BOS, EOS, max_len=2)[0]
    assert greedy_cut.tokens == [A, A] and not greedy_cut.ended
    without_eos = math.log(.5 * .9)
    assert score(LENGTHS, src, lengths, [[A, A]], BOS, EOS, ended=[False]) == pytest.approx([without_eos])
    assert score(LENGTHS, src, lengths, [[A, A]], BOS, EOS) == pytest.approx([without_eos + math.log(.04)])
    assert cut.log_prob == pytest.approx(without_eos)
    cases, _ = analyse(LENGTHS, src, lengths, [[B]], [cut.tokens], BOS, EOS, alpha=1.0, output_ended=[cut.ended])
    assert cases[0].out_log_prob == pytest.approx(without_eos)
    assert cases[0].out_score == pytest.approx(without_eos / 2)
