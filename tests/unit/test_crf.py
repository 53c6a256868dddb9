"""Linear-chain CRF: likelihood and Viterbi against brute-force enumeration of all paths."""
import itertools

import pytest
import torch

from seqpipe.models.crf import CRF


def make_crf(num_tags: int, seed: int, allowed=None) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(num_tags, allowed).double()
    with torch.no_grad():  # bigger than the init range, so paths differ clearly
        for p in (crf.transitions, crf.start, crf.end):
            p.normal_()
    return crf


def path_score(crf: CRF, emissions: torch.Tensor, path) -> torch.Tensor:
    """Score of one path for one row (T', K), straight from the definition, constraints included."""
    s = crf.start[path[0]] + crf.start_penalty[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        a, b = path[t - 1], path[t]
        s = s + crf.transitions[a, b] + crf.trans_penalty[a, b] + emissions[t, b]
    return s + crf.end[path[-1]] + crf.end_penalty[path[-1]]


def brute_force(crf: CRF, emissions: torch.Tensor):
    """All paths of one row (T', K) and their log-probabilities."""
    paths = list(itertools.product(range(emissions.shape[1]), repeat=emissions.shape[0]))
    scores = torch.stack([path_score(crf, emissions, p) for p in paths])
    return paths, scores.log_softmax(0)


def batch_with_padding(seed: int, num_tags=3, steps=4, lengths=(4, 2)):
    """Emissions, tags, mask with large garbage emissions and out-of-range tags in the padding."""
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(len(lengths), steps, num_tags, generator=g, dtype=torch.float64)
    tags = torch.randint(num_tags, (len(lengths), steps), generator=g)
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    emissions[~mask] = 1e3 * torch.randn(int((~mask).sum()), num_tags, generator=g, dtype=torch.float64)
    tags[~mask] = 99
    return emissions, tags, mask


def test_log_likelihood_matches_brute_force():
    crf = make_crf(3, seed=0)
    emissions, tags, mask = batch_with_padding(seed=1)
    got = crf.log_likelihood(emissions, tags, mask)
    assert got.shape == (2,) and got.dtype == torch.float64
    for b, n in enumerate(mask.sum(1).tolist()):
        paths, logp = brute_force(crf, emissions[b, :n])
        want = logp[paths.index(tuple(tags[b, :n].tolist()))]
        torch.testing.assert_close(got[b], want.detach())


def test_probabilities_sum_to_one():
    crf = make_crf(3, seed=2)
    emissions = torch.randn(1, 4, 3, dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    all_tags = torch.tensor(list(itertools.product(range(3), repeat=4)))  # (81, 4)
    n = len(all_tags)
    logp = crf.log_likelihood(emissions.expand(n, -1, -1), all_tags, mask.expand(n, -1))
    torch.testing.assert_close(logp.exp().sum(), torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(5))
def test_viterbi_matches_brute_force(seed):
    crf = make_crf(3, seed=seed)
    emissions, _, mask = batch_with_padding(seed=100 + seed, steps=5, lengths=(5, 1, 3))
    decoded = crf.decode(emissions, mask)
    assert [len(p) for p in decoded] == [5, 1, 3]
    for b, n in enumerate(mask.sum(1).tolist()):
        paths, logp = brute_force(crf, emissions[b, :n])
        assert tuple(decoded[b]) == paths[int(logp.argmax())]


def test_single_step_and_float32():
    crf = CRF(4)  # float32 parameters
    emissions = torch.randn(3, 1, 4)
    tags = torch.tensor([[0], [2], [3]])
    mask = torch.ones(3, 1, dtype=torch.bool)
    logp = crf.log_likelihood(emissions, tags, mask)
    want = (crf.start + emissions[:, 0] + crf.end).log_softmax(1).gather(1, tags).squeeze(1)
    assert logp.dtype == torch.float32
    torch.testing.assert_close(logp, want)
    best = (crf.start + emissions[:, 0] + crf.end).argmax(1)
    assert crf.decode(emissions, mask) == [[int(i)] for i in best]


def test_padding_changes_nothing():
    crf = make_crf(3, seed=3)
    emissions, tags, mask = batch_with_padding(seed=4, steps=6, lengths=(6, 3, 1))
    other_emissions, other_tags, _ = batch_with_padding(seed=5, steps=6, lengths=(6, 3, 1))
    other_emissions[mask], other_tags[mask] = emissions[mask], tags[mask]
    other_tags[~mask] = torch.randint(3, (int((~mask).sum()),))  # valid tags this time
    assert not torch.equal(other_emissions, emissions)
    torch.testing.assert_close(
        crf.log_likelihood(other_emissions, other_tags, mask), crf.log_likelihood(emissions, tags, mask)
    )
    assert crf.decode(other_emissions, mask) == crf.decode(emissions, mask)
    # And a padded row scores the same as the same row alone, unpadded.
    alone = crf.log_likelihood(emissions[1:2, :3], tags[1:2, :3], mask[1:2, :3])
    torch.testing.assert_close(crf.log_likelihood(emissions, tags, mask)[1:2], alone)


def test_allowed_constraints():
    k = 3
    trans_ok = torch.ones(k, k, dtype=torch.bool)
    trans_ok[0, 1] = False  # never 0 -> 1
    start_ok = torch.tensor([True, True, False])  # never start with 2
    end_ok = torch.tensor([True, False, True])  # never end with 1
    crf = make_crf(k, seed=6, allowed=(start_ok, trans_ok, end_ok))

    def forbidden(path):
        return path[0] == 2 or path[-1] == 1 or any(a == 0 and b == 1 for a, b in zip(path, path[1:]))

    # Emissions shout for 2, then alternate 0, 1, ... and end on 1: every favourite move is forbidden.
    emissions = torch.full((1, 5, k), -5.0, dtype=torch.float64)
    for t, tag in enumerate([2, 0, 1, 0, 1]):
        emissions[0, t, tag] = 20.0
    mask = torch.ones(1, 5, dtype=torch.bool)
    decoded = crf.decode(emissions, mask)[0]
    assert not forbidden(decoded)
    unconstrained = make_crf(k, seed=6)
    assert forbidden(unconstrained.decode(emissions, mask)[0])  # the test does bite

    all_tags = torch.tensor(list(itertools.product(range(k), repeat=5)))
    n = len(all_tags)
    prob = crf.log_likelihood(emissions.expand(n, -1, -1), all_tags, mask.expand(n, -1)).exp()
    bad = torch.tensor([forbidden(p) for p in all_tags.tolist()])
    assert prob[bad].sum() < 1e-12
    torch.testing.assert_close(prob[~bad].sum(), torch.tensor(1.0, dtype=torch.float64))


def test_constraints_move_with_the_module():
    crf = CRF(3, (torch.ones(3), torch.eye(3), torch.ones(3))).double()
    assert crf.trans_penalty.dtype == torch.float64
    assert "trans_penalty" in dict(crf.named_buffers())


def test_decode_under_no_grad_with_grad_inputs():
    crf = make_crf(3, seed=10)
    emissions, _, mask = batch_with_padding(seed=11)
    emissions.requires_grad_(True)
    with torch.no_grad():
        inside = crf.decode(emissions, mask)
    assert inside == crf.decode(emissions, mask)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_gpu():
    crf = make_crf(3, seed=12)
    emissions, tags, mask = batch_with_padding(seed=13)
    want_ll, want_path = crf.log_likelihood(emissions, tags, mask), crf.decode(emissions, mask)
    crf = crf.to("cuda")
    got_ll = crf.log_likelihood(emissions.cuda(), tags.cuda(), mask.cuda())
    torch.testing.assert_close(got_ll.cpu(), want_ll)
    assert crf.decode(emissions.cuda(), mask.cuda()) == want_path


def test_gradients_flow():
    crf = make_crf(3, seed=7)
    emissions, tags, mask = batch_with_padding(seed=8)
    emissions.requires_grad_(True)
    crf.log_likelihood(emissions, tags, mask).sum().backward()
    for name, grad in [("emissions", emissions.grad), ("transitions", crf.transitions.grad),
                       ("start", crf.start.grad), ("end", crf.end.grad)]:
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name
    assert (emissions.grad[~mask] == 0).all()  # padding gets no gradient


def test_training_learns_a_sequence():
    torch.manual_seed(9)
    target = [3, 1, 1, 0, 2, 3]
    crf = CRF(4)
    emissions = torch.zeros(1, len(target), 4, requires_grad=True)
    tags = torch.tensor([target])
    mask = torch.ones(1, len(target), dtype=torch.bool)
    assert crf.decode(emissions, mask)[0] != target
    opt = torch.optim.Adam([*crf.parameters(), emissions], lr=0.1)
    for _ in range(100):
        opt.zero_grad()
        loss = -crf.log_likelihood(emissions, tags, mask).sum()
        loss.backward()
        opt.step()
    assert crf.decode(emissions, mask)[0] == target
    assert loss.item() < 0.1
