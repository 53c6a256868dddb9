"""CTC decoding: collapse rules, greedy, prefix beam search against brute force, LM shallow fusion."""
import itertools
import math

import pytest
import torch

from seqpipe.decoding.ctc import (
    batch_beam, collapse, greedy, labelling_log_prob, prefix_beam_search,
)

CHARS = "_abcdefghijklmnopqrstuvwxyz "  # "_" is the blank (id 0)
NEG_INF = float("-inf")


def ids(text: str) -> list[int]:
    return [CHARS.index(ch) for ch in text]


def text(labels: list[int]) -> str:
    return "".join(CHARS[i] for i in labels)


def emissions(*frames: list[float]) -> torch.Tensor:
    """(T, V) log-probs from rows of probabilities (each row sums to 1)."""
    probs = torch.tensor(frames, dtype=torch.float64)
    assert torch.allclose(probs.sum(-1), torch.ones(len(frames), dtype=torch.float64))
    return probs.log()


def random_emissions(seed: int, frames: int, vocab: int, peak: float = 0.0) -> torch.Tensor:
    """Random (T, V) log-probs; with peak > 0 each frame's argmax has probability >= peak."""
    gen = torch.Generator().manual_seed(seed)
    probs = torch.rand(frames, vocab, generator=gen, dtype=torch.float64) ** 3
    probs = probs / probs.sum(-1, keepdim=True)
    if peak:
        top = torch.randint(vocab, (frames,), generator=gen)
        probs = probs * (1 - peak)
        probs[torch.arange(frames), top] += peak
    return probs.log()


def brute_force(log_probs: torch.Tensor) -> dict[tuple, float]:
    """log P(labelling) of every labelling: logsumexp over all V^T paths that collapse to it."""
    frames, vocab = log_probs.shape
    out: dict[tuple, float] = {}
    for path in itertools.product(range(vocab), repeat=frames):
        lp = sum(float(log_probs[t, s]) for t, s in enumerate(path))
        key = tuple(collapse(path))
        out[key] = math.log(math.exp(out.get(key, NEG_INF)) + math.exp(lp))
    return out


class TableLM:
    """A toy bigram LM over label ids: log P(label | previous label); None is <s> / </s>."""

    def __init__(self, bigrams: dict[tuple, float], default: float = math.log(0.1)):
        self.bigrams, self.default = bigrams, default

    def initial(self):
        return None

    def score(self, state, label):
        return self.bigrams.get((state, label), self.default), label

    def end(self, state):
        return self.bigrams.get((state, None), self.default)


class CountingLM:
    """A flat LM (log-prob 0 for everything) whose state is the prefix; counts each (state, label)."""

    def __init__(self):
        self.calls: dict[tuple, int] = {}

    def initial(self):
        return ()

    def score(self, state, label):
        self.calls[state, label] = self.calls.get((state, label), 0) + 1
        return 0.0, state + (label,)


# ---------------------------------------------------------------- collapse and greedy

@pytest.mark.parametrize("path, expected", [
    ("ttt_h_eee___ ___qqq", "the q"),   # the seed's example
    ("aa_a", "aa"),                     # a blank separates repeats
    ("a_a_", "aa"),
    ("aaaa", "a"),
    ("_a__b_", "ab"),
    ("abba", "aba"),
    ("", ""),
    ("____", ""),
])
def test_collapse(path, expected):
    assert text(collapse(ids(path))) == expected


def test_collapse_with_another_blank_id():
    assert collapse([3, 3, 0, 0, 3, 1, 0], blank=3) == [0, 1, 0]


def test_greedy_collapses_the_argmax_path():
    path = ids("ttt_h_eee___ ___qqq")
    log_probs = torch.full((len(path), len(CHARS)), -5.0)
    log_probs[torch.arange(len(path)), torch.tensor(path)] = -0.1
    assert [text(labels) for labels in greedy(log_probs)] == ["the q"]


def test_greedy_batched_with_lengths_equals_per_utterance():
    batch = torch.stack([random_emissions(seed, 12, 5) for seed in range(4)])
    lengths = [12, 7, 0, 3]
    expected = [greedy(batch[b, :n])[0] for b, n in enumerate(lengths)]
    assert greedy(batch, lengths) == expected
    assert greedy(batch, torch.tensor(lengths)) == expected
    with pytest.raises(ValueError):
        greedy(batch, [13, 1, 1, 1])


# ---------------------------------------------------------------- beam = 1 versus greedy

@pytest.mark.parametrize("seed", range(6))
def test_beam_one_without_lm_is_greedy(seed):
    log_probs = random_emissions(seed, 30, 6)
    [(labels, score)] = prefix_beam_search(log_probs, beam=1, beta=0.0)
    assert labels == greedy(log_probs)[0]
    assert score == pytest.approx(labelling_log_prob(log_probs, labels))


@pytest.mark.parametrize("seed", range(6))
def test_the_search_proper_at_beam_one_is_greedy_on_peaky_emissions(seed):
    # a flat LM (log-prob 0) with alpha = 1 runs the search proper without changing any score
    log_probs = random_emissions(seed, 40, 4, peak=0.72)
    [(labels, _)] = prefix_beam_search(log_probs, beam=1, lm=CountingLM(), alpha=1.0, beta=0.0)
    assert labels == greedy(log_probs)[0]


@pytest.mark.parametrize("q, search", [(0.70, "a"), (0.72, "aa")])
def test_the_peakiness_bound_is_tight(q, search):
    # the module docstring's example: greedy reads "a _ a" for any q > 1/2
    log_probs = emissions([0.0, 1.0], [q, 1 - q], [1 - q, q])
    assert text(greedy(log_probs)[0]) == "aa"
    [(labels, _)] = prefix_beam_search(log_probs, beam=1, lm=CountingLM(), alpha=1.0, beta=0.0)
    assert text(labels) == search


# ---------------------------------------------------------------- exactness

@pytest.mark.parametrize("seed, frames", [(0, 3), (1, 3), (2, 4), (3, 4), (4, 4)])
def test_a_wide_beam_is_exact_against_brute_force(seed, frames):
    log_probs = random_emissions(seed, frames, 3)
    truth = brute_force(log_probs)
    results = prefix_beam_search(log_probs, beam=64, beta=0.0, prune=NEG_INF)
    best, best_lp = max(truth.items(), key=lambda item: item[1])
    assert tuple(results[0][0]) == best and results[0][1] == pytest.approx(best_lp)
    assert {tuple(labels): score for labels, score in results} == pytest.approx(truth)
    for labels, lp in truth.items():
        assert labelling_log_prob(log_probs, labels) == pytest.approx(lp)


def test_the_most_probable_labelling_beats_the_best_path():
    # best path "__" -> "" (0.36); "a" gathers "a_", "_a", "aa" (0.24 + 0.24 + 0.16 = 0.64)
    log_probs = emissions([0.6, 0.4], [0.6, 0.4])
    assert greedy(log_probs) == [[]]
    (labels, score), *_ = prefix_beam_search(log_probs, beam=4, beta=0.0)
    assert text(labels) == "a" and score == pytest.approx(math.log(0.64))


def test_batch_beam_returns_the_best_of_each_utterance():
    batch = torch.stack([random_emissions(seed, 10, 4) for seed in range(3)])
    lengths = [10, 4, 0]
    expected = [prefix_beam_search(batch[b, :n], beam=4)[0][0] for b, n in enumerate(lengths)]
    assert batch_beam(batch, lengths, beam=4) == expected
    assert expected[2] == []


# ---------------------------------------------------------------- LM fusion and length bonus

A, B = 1, 2
TIE = emissions([0.02, 0.45, 0.53], [0.9, 0.05, 0.05])  # acoustically "b" slightly ahead of "a"


def test_lm_fusion_flips_a_close_call():
    lm = TableLM({(None, A): math.log(0.9), (None, B): math.log(0.05)})
    assert prefix_beam_search(TIE, beam=4, beta=0.0)[0][0] == [B]
    assert prefix_beam_search(TIE, beam=4, lm=lm, alpha=1.0, beta=0.0)[0][0] == [A]


def test_alpha_zero_ignores_the_lm():
    lm = TableLM({(None, A): math.log(0.9), (None, B): math.log(0.05)})
    plain = prefix_beam_search(TIE, beam=4, beta=0.5)
    assert prefix_beam_search(TIE, beam=4, lm=lm, alpha=0.0, beta=0.5) == plain


def test_the_end_of_sentence_score_is_added():
    lm = TableLM({(None, A): math.log(0.5), (None, B): math.log(0.5),
                  (A, None): math.log(0.01), (B, None): math.log(0.5)})
    scores = dict((tuple(l), s) for l, s in prefix_beam_search(TIE, beam=4, lm=lm, alpha=2.0, beta=0.0))
    acoustic = {labels: labelling_log_prob(TIE, labels) for labels in [(A,), (B,)]}
    assert scores[A,] == pytest.approx(acoustic[A,] + 2 * (math.log(0.5) + math.log(0.01)))
    assert scores[B,] == pytest.approx(acoustic[B,] + 2 * (math.log(0.5) + math.log(0.5)))


def test_beta_favours_longer_outputs_in_a_tie():
    # "a" and "ab" both have probability 1/2: frame 2 is a blank or a "b"
    log_probs = emissions([0.0, 1.0, 0.0], [0.5, 0.0, 0.5])
    tied = prefix_beam_search(log_probs, beam=4, beta=0.0)
    assert [s for _, s in tied] == pytest.approx([math.log(0.5)] * 2)
    assert prefix_beam_search(log_probs, beam=4, beta=0.1)[0][0] == [A, B]
    assert prefix_beam_search(log_probs, beam=4, beta=-0.1)[0][0] == [A]


def test_each_extension_is_scored_once_by_the_lm():
    # with a beam wide enough that no prefix drops out, the per-prefix cache scores each once
    lm = CountingLM()
    prefix_beam_search(random_emissions(7, 4, 3), beam=64, lm=lm, alpha=1.0, prune=NEG_INF)
    assert len(lm.calls) == 30 and set(lm.calls.values()) == {1}  # every non-empty prefix of <= 4


def test_lm_scores_add_up_along_the_prefix():
    lm = TableLM({(None, A): math.log(0.3), (A, B): math.log(0.6), (B, A): math.log(0.2)})
    log_probs = random_emissions(3, 6, 3)
    results = prefix_beam_search(log_probs, beam=128, lm=lm, alpha=0.7, beta=0.3, prune=NEG_INF)
    assert {tuple(labels) for labels, _ in results} == set(brute_force(log_probs))  # nothing pruned
    for labels, score in results:
        states = [None, *labels]
        fused = sum(lm.score(prev, c)[0] for prev, c in zip(states, labels)) + lm.end(states[-1])
        expected = labelling_log_prob(log_probs, labels) + 0.7 * fused + 0.3 * len(labels)
        assert score == pytest.approx(expected)
    assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)


def test_empty_input():
    empty = torch.zeros(0, 4)
    assert greedy(empty) == [[]]
    assert prefix_beam_search(empty, beam=3) == [([], 0.0)]
    assert labelling_log_prob(empty, []) == 0.0 and labelling_log_prob(empty, [1]) == NEG_INF
