"""Greedy, beam search and scoring against a hand-made probability table and random GRU decoders."""
import itertools
import math

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqpipe.decoding.search import Hypothesis, beam_search, greedy, normalise, score, select

BOS, EOS, A, B, C = 0, 1, 2, 3, 4  # the toy vocabulary; a distribution lists P(bos, eos, a, b, c)


class TableModel:
    """Next-token probabilities from a fixed table keyed on the prefix (bos excluded); src is ignored."""

    def __init__(self, table: dict[tuple, list[float]], default: list[float]):
        self.table, self.default = table, default
        for probs in [*table.values(), default]:
            assert math.isclose(sum(probs), 1.0)

    def probs(self, prefix) -> list[float]:
        return self.table.get(tuple(prefix), self.default)

    def start(self, src, src_lengths):
        return {"prefix": torch.zeros(src.size(0), 0, dtype=torch.long)}

    def step(self, prev, state):
        prefix = torch.cat([state["prefix"], prev.unsqueeze(1)], dim=1)
        probs = torch.tensor([self.probs(row[1:]) for row in prefix.tolist()], dtype=torch.float64)
        return probs.log(), {"prefix": prefix}

    def log_prob(self, tokens, with_eos=True) -> float:
        """log P by hand: the product of the table entries along the sequence."""
        steps = list(tokens) + ([EOS] if with_eos else [])
        return sum(math.log(self.probs(tokens[:t])[y]) for t, y in enumerate(steps))


# Greedy takes a (0.5) then eos (0.3): 0.15; the best sequence is b (0.4) then eos (0.9): 0.36.
GREEDY_TRAP = TableModel({(): [.02, .03, .5, .4, .05],
                          (A,): [.1, .3, .25, .2, .15],
                          (B,): [.01, .9, .04, .03, .02]},
                         default=[.05, .35, .25, .2, .15])

# Raw log-prob prefers [a] (0.35 * 0.9 = .315) over [b, c, c] (0.3 * .9^3 * ... = .2187), but per
# token (T counts eos) [b, c, c] wins: ln(.2187) / 4 = -0.380 > ln(.315) / 2 = -0.578.
LENGTH_TRAP = TableModel({(): [.05, .05, .35, .3, .25],
                          (A,): [.025, .9, .025, .025, .025],
                          (B,): [.02, .01, .04, .03, .9],
                          (B, C): [.02, .01, .04, .03, .9],
                          (B, C, C): [.01, .9, .04, .03, .02]},
                         default=[.1, .02, .4, .28, .2])


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: intra-op threads only add synchronisation (and stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def toy_batch(n: int):
    return torch.zeros(n, 1, dtype=torch.long), torch.ones(n, dtype=torch.long)


def brute_force(model: TableModel, max_len: int, alpha: float) -> tuple[list[int], float]:
    """The best normalised score over every output beam search can return within max_len."""
    best = (None, -math.inf)
    for length in range(max_len + 1):
        for tokens in itertools.product([BOS, A, B, C], repeat=length):
            ended = length < max_len  # at max_len the sequence is cut, without eos
            lp = model.log_prob(list(tokens), with_eos=ended)
            s = normalise(lp, length + ended, alpha)
            if s > best[1]:
                best = (list(tokens), s)
    return best


class GRUModel(nn.Module):
    """A small random encoder-decoder with dot-product attention; the StepModel of the batching tests."""

    def __init__(self, seed: int, vocab: int = 7, hidden: int = 16, sharpness: float = 2.0, eos_slope: float = 0.5):
        super().__init__()
        torch.manual_seed(seed)
        self.src_embed, self.tgt_embed = nn.Embedding(vocab, hidden), nn.Embedding(vocab, hidden)
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.cell = nn.GRUCell(2 * hidden, hidden)
        self.out = nn.Linear(2 * hidden, vocab)
        self.sharpness, self.eos_slope = sharpness, eos_slope
        self.eval()

    def start(self, src, src_lengths):
        packed = pack_padded_sequence(self.src_embed(src), src_lengths, batch_first=True, enforce_sorted=False)
        out, hidden = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        mask = torch.arange(src.size(1)).unsqueeze(0) < src_lengths.unsqueeze(1)
        return {"hidden": hidden[0], "memory": memory, "mask": mask, "context": torch.zeros_like(hidden[0]),
                "time": torch.zeros(src.size(0))}

    def step(self, prev, state):
        hidden = self.cell(torch.cat([self.tgt_embed(prev), state["context"]], -1), state["hidden"])
        energy = (state["memory"] @ hidden.unsqueeze(-1)).squeeze(-1)
        attention = energy.masked_fill(~state["mask"], float("-inf")).softmax(-1)
        context = (attention.unsqueeze(-1) * state["memory"]).sum(1)
        logits = self.sharpness * self.out(torch.cat([hidden, context], -1))
        logits[:, EOS] += self.eos_slope * state["time"] - 3.0  # eos grows likelier: outputs of various lengths
        return logits.log_softmax(-1), dict(state, hidden=hidden, context=context, attention=attention,
                                            time=state["time"] + 1)


def random_batch(seed: int, n: int = 5, vocab: int = 7, longest: int = 6):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, longest + 1, (n,), generator=g)
    lengths[0] = longest
    src = torch.randint(2, vocab, (n, longest), generator=g)
    src[torch.arange(longest).unsqueeze(0) >= lengths.unsqueeze(1)] = 0  # padding
    return src, lengths


def test_select_reorders_every_tensor_on_dim_0():
    state = {"h": torch.arange(6).view(3, 2), "m": torch.arange(3)}
    out = select(state, torch.tensor([2, 2, 0]))
    assert out["h"].tolist() == [[4, 5], [4, 5], [0, 1]] and out["m"].tolist() == [2, 2, 0]


def test_greedy_on_the_table_follows_the_argmax_and_sums_its_log_probs():
    [hyp] = greedy(GREEDY_TRAP, *toy_batch(1), BOS, EOS, max_len=5)
    assert hyp.tokens == [A]
    assert hyp.log_prob == pytest.approx(math.log(.5) + math.log(.3))
    assert hyp.score == hyp.log_prob and hyp.attention is None


def test_greedy_cut_at_max_len_has_no_eos():
    [hyp] = greedy(LENGTH_TRAP, *toy_batch(1), BOS, EOS, max_len=1)
    assert hyp.tokens == [A] and hyp.log_prob == pytest.approx(math.log(.35))


@pytest.mark.parametrize("beam", [2, 3])
def test_beam_finds_the_exact_argmax_where_greedy_does_not(beam):
    best, best_lp = brute_force(GREEDY_TRAP, max_len=4, alpha=0.0)
    assert best == [B] and best_lp == pytest.approx(math.log(.4 * .9))
    [hyp] = greedy(GREEDY_TRAP, *toy_batch(1), BOS, EOS, max_len=4)
    assert hyp.tokens != best
    [[top]] = beam_search(GREEDY_TRAP, *toy_batch(1), BOS, EOS, beam=beam, alpha=0.0, max_len=4)
    assert top.tokens == best and top.log_prob == pytest.approx(best_lp) and top.score == pytest.approx(best_lp)


def test_length_normalisation_changes_the_winner_as_the_formula_says():
    short, long = [A], [B, C, C]
    lp_short, lp_long = LENGTH_TRAP.log_prob(short), LENGTH_TRAP.log_prob(long)
    assert lp_short > lp_long and lp_long / 4 > lp_short / 2  # T counts eos
    for alpha, winner in [(0.0, short), (1.0, long), (0.7, long)]:
        assert brute_force(LENGTH_TRAP, max_len=6, alpha=alpha)[0] == winner
        hyps = beam_search(LENGTH_TRAP, *toy_batch(1), BOS, EOS, beam=2, alpha=alpha, max_len=6, n_best=2)[0]
        assert [h.tokens for h in hyps] == [winner, short if winner == long else long]
        for h in hyps:
            lp = LENGTH_TRAP.log_prob(h.tokens)
            assert h.log_prob == pytest.approx(lp)
            assert h.score == pytest.approx(lp / (len(h.tokens) + 1) ** alpha)


def test_hypotheses_cut_at_max_len_are_normalised_by_max_len():
    hyps = beam_search(LENGTH_TRAP, *toy_batch(1), BOS, EOS, beam=2, alpha=1.0, max_len=2, n_best=2)[0]
    cut = [h for h in hyps if len(h.tokens) == 2]
    assert cut and all(h.score == pytest.approx(LENGTH_TRAP.log_prob(h.tokens, with_eos=False) / 2) for h in cut)


@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_beam_of_one_is_greedy(seed, alpha):
    model = GRUModel(seed)
    src, lengths = random_batch(seed)
    for max_len in (5, 12):  # outputs cut at max_len, and outputs ended by eos
        expected = greedy(model, src, lengths, BOS, EOS, max_len=max_len)
        got = beam_search(model, src, lengths, BOS, EOS, beam=1, alpha=alpha, max_len=max_len)
        for g, [b] in zip(expected, got, strict=True):
            assert b.tokens == g.tokens and b.log_prob == g.log_prob
            steps = len(g.tokens) + (len(g.tokens) < max_len)
            assert b.score == pytest.approx(g.log_prob / steps ** alpha)
    assert any(len(h.tokens) < 12 for h in expected)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batched_beam_search_equals_each_sentence_alone(seed):
    model = GRUModel(seed)
    src, lengths = random_batch(seed, n=6)
    batched = beam_search(model, src, lengths, BOS, EOS, beam=4, alpha=0.7, max_len=12, n_best=3)
    assert len(batched) == 6
    for i, hyps in enumerate(batched):
        n = int(lengths[i])
        alone = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], BOS, EOS, beam=4, alpha=0.7,
                            max_len=12, n_best=3)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in alone], abs=1e-5)
        assert len(hyps) == 3 and all(x.score >= y.score for x, y in zip(hyps, hyps[1:]))


def test_wider_beam_never_scores_worse_on_the_table():
    for alpha in (0.0, 1.0):
        scores = [beam_search(LENGTH_TRAP, *toy_batch(1), BOS, EOS, beam=k, alpha=alpha, max_len=6)[0][0].score
                  for k in (1, 2, 3)]
        assert scores[0] <= scores[1] + 1e-12


def test_score_is_the_hand_sum_of_step_log_probs_with_padding_ignored():
    targets = [[A], [B, C, C], [], [C, A, BOS, B]]
    got = score(LENGTH_TRAP, *toy_batch(4), targets, BOS, EOS)
    assert got == pytest.approx([LENGTH_TRAP.log_prob(y) for y in targets])
    assert got[0] == pytest.approx(math.log(.35) + math.log(.9))
    assert score(LENGTH_TRAP, *toy_batch(0), [], BOS, EOS) == []


def test_score_equals_the_log_prob_of_decoded_outputs():
    model = GRUModel(1)
    src, lengths = random_batch(1, n=6)
    hyps = [h for row in beam_search(model, src, lengths, BOS, EOS, beam=3, max_len=12, n_best=3) for h in row]
    rows = torch.arange(6).repeat_interleave(3)
    ended = [len(h.tokens) < 12 for h in hyps]  # a hypothesis cut at max_len has no eos to score
    assert sum(ended) >= 6
    scored = score(model, src[rows], lengths[rows], [h.tokens for h in hyps], BOS, EOS)
    assert [s for s, e in zip(scored, ended) if e] == pytest.approx([h.log_prob for h, e in zip(hyps, ended) if e])
    greedy_hyps = greedy(model, src, lengths, BOS, EOS, max_len=12)
    alone = [score(model, src[i:i + 1], lengths[i:i + 1], [h.tokens], BOS, EOS)[0] for i, h in enumerate(greedy_hyps)]
    batched = score(model, src, lengths, [h.tokens for h in greedy_hyps], BOS, EOS)
    assert batched == pytest.approx(alone)
    assert [s for s, h in zip(batched, greedy_hyps) if len(h.tokens) < 12] == pytest.approx(
        [h.log_prob for h in greedy_hyps if len(h.tokens) < 12])


def test_greedy_returns_one_attention_row_per_step():
    model = GRUModel(2)
    src, lengths = random_batch(2)
    for h, n in zip(greedy(model, src, lengths, BOS, EOS, max_len=10, return_attention=True), lengths.tolist()):
        steps = len(h.tokens) + (len(h.tokens) < 10)
        assert h.attention.shape == (steps, src.size(1))
        assert torch.allclose(h.attention.sum(-1), torch.ones(steps))
        assert (h.attention[:, n:] == 0).all()
    with pytest.raises(ValueError, match="attention"):
        greedy(LENGTH_TRAP, *toy_batch(1), BOS, EOS, max_len=3, return_attention=True)


def test_n_best_must_fit_the_beam():
    with pytest.raises(ValueError, match="n_best"):
        beam_search(LENGTH_TRAP, *toy_batch(1), BOS, EOS, beam=2, n_best=3)
    assert isinstance(beam_search(LENGTH_TRAP, *toy_batch(1), BOS, EOS, beam=2, n_best=2)[0][0], Hypothesis)
