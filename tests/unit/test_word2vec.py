"""word2vec pieces: windows and pairs, the negative-sampling gradients, a planted-structure run."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seqpipe.config import EmbeddingsConfig
from seqpipe.tasks.embeddings import evaluate, hsoftmax, sgns
from seqpipe.tasks.embeddings.data import cbow_windows, skipgram_pairs, subsample
from seqpipe.tasks.embeddings.word2vec import Tree, Word2VecState, train_epoch
from seqpipe.data.sampling import AliasSampler, keep_probabilities, noise_distribution


def brute_force_pairs(ids, sentence, reach):
    pairs = set()
    for i in range(len(ids)):
        for j in range(len(ids)):
            if i != j and sentence[i] == sentence[j] and abs(i - j) <= reach[i]:
                pairs.add((int(ids[j]), int(ids[i]), i, j))  # (input = neighbour, output = centre)
    return sorted((a, b) for a, b, _, _ in pairs)


def test_skipgram_pairs_follow_the_dynamic_window_within_sentences():
    ids = np.arange(10, dtype=np.int32)
    sentence = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 2])
    inputs, outputs = skipgram_pairs(ids, sentence, window=3, rng=np.random.default_rng(7))
    reach = np.random.default_rng(7).integers(1, 4, size=10)
    assert sorted(zip(inputs.tolist(), outputs.tolist())) == brute_force_pairs(ids, sentence, reach)


def test_cbow_windows_hold_each_centres_neighbours():
    ids = np.arange(6, dtype=np.int32)
    sentence = np.array([0, 0, 0, 0, 0, 1])
    contexts, centres = cbow_windows(ids, sentence, window=2, rng=np.random.default_rng(3))
    reach = np.random.default_rng(3).integers(1, 3, size=6)
    assert centres.tolist() == [0, 1, 2, 3, 4]  # the one-word sentence has no context
    for row, centre in zip(contexts, centres):
        expected = {j for j in range(5) if j != centre and abs(j - centre) <= reach[centre]}
        assert set(row[row >= 0].tolist()) == expected


def test_subsampling_keeps_words_at_their_keep_probability():
    counts = np.array([900_000, 100_000])
    keep = keep_probabilities(counts, 1e-3)
    ids = np.repeat([0, 1], [90_000, 10_000]).astype(np.int32)
    kept, _ = subsample(ids, np.zeros_like(ids), keep, np.random.default_rng(0))
    assert np.bincount(kept, minlength=2) / [90_000, 10_000] == pytest.approx(keep, abs=0.01)


def test_negative_sampling_gradients_match_autograd():
    torch.manual_seed(0)
    hidden = torch.randn(8, 5, requires_grad=True)
    w_out = torch.randn(12, 5, requires_grad=True)
    outputs = torch.tensor([1, 2, 3, 3, 4, 5, 6, 7])
    negatives = torch.tensor([[3, 9, 9], [0, 10, 11]])  # 3 is the own output of two pairs: ignored there
    loss, d_hidden, d_out, d_neg = sgns.negative_sampling_grads(hidden.detach(), w_out.detach(), outputs, negatives)
    h = hidden.view(2, 4, 5)
    neg = w_out[negatives.reshape(-1)].view(2, 3, 5)
    own = negatives.view(2, 1, 3) == outputs.view(2, 4, 1)
    reference = -F.logsigmoid((hidden * w_out[outputs]).sum(1)).sum() \
        - F.logsigmoid(-torch.bmm(h, neg.transpose(1, 2))).masked_fill(own, 0).sum()
    g_hidden, g_out = torch.autograd.grad(reference, [hidden, w_out])
    assert float(loss) == pytest.approx(reference.item(), rel=1e-5)
    assert torch.allclose(d_hidden, g_hidden, atol=1e-5)
    scattered = torch.zeros_like(w_out).index_add_(0, outputs, d_out).index_add_(0, negatives.reshape(-1), d_neg)
    assert torch.allclose(scattered, g_out, atol=1e-5)


def test_noise_sampler_on_torch_matches_the_alias_table():
    probs = noise_distribution(np.array([0, 50, 30, 20]), 0.75)
    table = AliasSampler(probs)
    draws = sgns.NoiseSampler(table.prob, table.alias).sample((200_000,), torch.Generator().manual_seed(0))
    assert np.bincount(draws.numpy(), minlength=4) / 200_000 == pytest.approx(probs, abs=0.005)


def planted_corpus(rng, topics=8, variants=3, sentences=6000):
    """Word w(t, v) always appears beside a context word of topic t and one of variant v, so
    w(t1, v1) : w(t1, v2) :: w(t2, v1) : w(t2, v2) holds by construction."""
    words = [f"w{t}_{v}" for t in range(topics) for v in range(variants)]
    words += [f"topic{t}_{k}" for t in range(topics) for k in range(3)] + [f"variant{v}_{k}" for v in range(variants) for k in range(3)]
    index = {w: i for i, w in enumerate(words)}
    ids, sentence = [], []
    for s in range(sentences):
        t, v = rng.integers(topics), rng.integers(variants)
        triple = [f"topic{t}_{rng.integers(3)}", f"w{t}_{v}", f"variant{v}_{rng.integers(3)}"]
        ids += [index[w] for w in (triple if rng.integers(2) else triple[::-1])]
        sentence += [s] * 3
    questions = [("planted", f"w{t1}_{v1}", f"w{t1}_{v2}", f"w{t2}_{v1}", f"w{t2}_{v2}")
                 for t1 in range(topics) for t2 in range(topics) for v1 in range(variants) for v2 in range(variants)
                 if t1 != t2 and v1 != v2]
    return words, np.array(ids, np.int32), np.array(sentence, np.int64), questions, topics * variants


@pytest.mark.parametrize("kernel, loss", [("hogwild", "ns"), ("hogwild", "hs"), ("batched", "ns")])
@pytest.mark.parametrize("algo", ["skipgram", "cbow"])
def test_training_reduces_the_loss_and_learns_planted_analogies(algo, kernel, loss):
    words, ids, sentence, questions, content_words = planted_corpus(np.random.default_rng(0))
    counts = np.bincount(ids, minlength=len(words))
    table = AliasSampler(noise_distribution(counts))
    cfg = EmbeddingsConfig(algo=algo, loss=loss, kernel=kernel, dim=16, window=2, epochs=10, sample=0,
                           batch_pairs=256, share_negatives=8, chunk_tokens=5000, lr=0.05)
    state = Word2VecState(*sgns.init_vectors(len(words), cfg.dim, seed=1))
    noise, tree = sgns.NoiseSampler(table.prob, table.alias), None
    if loss == "hs":
        tree = Tree(*hsoftmax.to_tensors(*hsoftmax.huffman_tree(counts)))
        state.w_out = torch.zeros(len(words) - 1, cfg.dim)
    losses = [train_epoch(state, ids, sentence, cfg, np.ones(len(words)), noise, tree,
                          len(ids) * cfg.epochs, seed=1)["loss"] for _ in range(cfg.epochs)]
    assert losses[-1] < 0.8 * losses[0]
    result = evaluate.evaluate_analogies(words, state.w_in.numpy(), questions, top_n=content_words)
    chance = 1 / (content_words - 3)
    assert result["coverage"] == 1.0 and result["accuracy"] > max(0.8, 5 * chance), result["accuracy"]


def test_a_shared_negative_moves_as_far_as_the_capped_number_of_pair_updates():
    # 2 * MAX pairs in 8 groups, every group draws word 9 as its one negative: 2 * MAX pair
    # updates in 8 index entries (the old cap counted the 8 entries and scaled nothing)
    pairs = 2 * sgns.MAX_SHARED_UPDATES
    torch.manual_seed(0)
    w_in, w_out = torch.randn(12, 6) * 0.1, torch.randn(12, 6) * 0.1
    inputs, outputs = torch.randint(0, 8, (pairs,)), torch.randint(0, 8, (pairs,))
    negatives = torch.full((8, 1), 9)
    hidden = w_in.index_select(0, inputs)
    _, _, _, d_neg = sgns.negative_sampling_grads(hidden, w_out, outputs, negatives)
    before, lr = w_out[9].clone(), 0.1
    sgns.skipgram_step(w_in, w_out, inputs, outputs, negatives, lr)
    full = -lr * d_neg.sum(0)  # every pair update summed
    assert torch.allclose(w_out[9] - before, full * 0.5, atol=1e-7)
    # a row with few pair updates is not scaled: 2 entries of 1 pair each
    scale = sgns.shared_row_scale(torch.tensor([3, 3, 4]), 5, torch.tensor([1, 1, 5 * sgns.MAX_SHARED_UPDATES // 4]))
    assert scale.tolist() == pytest.approx([1.0, 1.0, 0.8])
