"""The compiled word2vec kernels: their updates against a plain numpy reference, and determinism."""
import numpy as np
import pytest

from seqpipe.tasks.embeddings import hogwild

LR, NOISE_WORD, NEGATIVE = 0.5, 2, 2


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def reference_skipgram(w_in, w_out, ids):
    """Window 1, every negative NOISE_WORD: the HogBatch update, one centre at a time."""
    for pos, centre in enumerate(ids):
        targets = [centre] + [NOISE_WORD] * NEGATIVE
        labels = [1.0] + [0.0] * NEGATIVE
        live = [k == 0 or t != centre for k, t in enumerate(targets)]
        out_rows, grad_out = w_out[targets].copy(), np.zeros((len(targets), w_out.shape[1]))
        for ctx in (pos - 1, pos + 1):
            if 0 <= ctx < len(ids):
                x, neu1e = w_in[ids[ctx]], np.zeros(w_in.shape[1])
                for k in range(len(targets)):
                    if live[k]:
                        g = LR * (labels[k] - sigmoid(x @ out_rows[k]))
                        neu1e += g * out_rows[k]
                        grad_out[k] += g * x
                w_in[ids[ctx]] += neu1e
        for k, target in enumerate(targets):
            w_out[target] += grad_out[k]


def reference_cbow(w_in, w_out, ids):
    """Window 1, every negative NOISE_WORD: word2vec.c's CBOW with the mean of the context."""
    for pos, centre in enumerate(ids):
        context = [ids[c] for c in (pos - 1, pos + 1) if 0 <= c < len(ids)]
        hidden, neu1e = w_in[context].mean(0), np.zeros(w_in.shape[1])
        for target, label in [(centre, 1.0)] + [(NOISE_WORD, 0.0)] * NEGATIVE:
            if label == 0.0 and target == centre:
                continue
            g = LR * (label - sigmoid(hidden @ w_out[target]))
            neu1e += g * w_out[target]
            w_out[target] += g * hidden
        for word in context:
            w_in[word] += neu1e


def run_kernel(algo, w_in, w_out, ids):
    cfg = type("Cfg", (), {"algo": algo, "loss": "ns", "window": 1, "negative": NEGATIVE})
    # an alias table whose every slot gives NOISE_WORD: the negatives are known
    noise = (np.zeros(4, np.float32), np.full(4, NOISE_WORD, np.int64))
    train = hogwild.span_trainer(w_in, w_out, cfg, np.ones(4, np.float32), noise=noise, tree=None)
    return train(np.asarray(ids, np.int32), np.zeros(len(ids), np.int64), LR, LR, 7)


@pytest.mark.parametrize("algo, reference", [("skipgram", reference_skipgram), ("cbow", reference_cbow)])
def test_the_kernel_makes_the_reference_updates(algo, reference):
    rng = np.random.default_rng(0)
    w_in, w_out = rng.normal(0, 0.5, (4, 8)).astype(np.float32), rng.normal(0, 0.5, (4, 8)).astype(np.float32)
    start_in, expected_in, expected_out = w_in.copy(), w_in.astype(np.float64), w_out.astype(np.float64)
    ids = [0, 2, 1, 3, 0]  # the centre 2 meets itself as a negative: skipped, as in word2vec.c
    reference(expected_in, expected_out, ids)
    loss, examples = run_kernel(algo, w_in, w_out, ids)
    # the kernel reads sigmoid from word2vec.c's 1000-entry table: 0.003 at most off
    assert np.abs(w_in - expected_in).max() < 0.01 and np.abs(w_out - expected_out).max() < 0.01
    assert np.abs(expected_in - start_in).max() > 0.1  # the updates are far larger than the tolerance
    assert examples == (8 if algo == "skipgram" else 5) and loss > 0


def test_one_thread_with_the_same_seed_gives_the_same_vectors():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, 5000).astype(np.int32)
    sentence = np.repeat(np.arange(500), 10).astype(np.int64)
    prob, alias = np.full(50, 0.5, np.float32), rng.integers(0, 50, 50).astype(np.int64)
    sig, log_sig = hogwild.sigmoid_tables()
    runs = []
    for _ in range(2):
        w_in = (np.random.default_rng(2).random((50, 16), np.float32) - 0.5) / 16
        w_out = np.zeros((50, 16), np.float32)
        hogwild.skipgram_ns(w_in, w_out, ids, sentence, np.full(50, 0.7, np.float32), prob, alias, sig, log_sig,
                            5, 5, 0.025, 0.001, 11)
        runs.append((w_in, w_out))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert np.abs(runs[0][1]).sum() > 0


@pytest.mark.parametrize("algo", ["skipgram", "cbow"])
def test_hierarchical_softmax_skips_a_saturated_node_as_word2vec_c_does(algo):
    """word2vec.c (and gensim) leave a Huffman node alone when |h . node| >= 6; clipping the
    score instead would push the word's own bit further from a node that is already decided."""
    from seqpipe.tasks.embeddings.hsoftmax import huffman_tree

    tree = huffman_tree(np.array([5, 3]))  # two words, one inner node: word 0 takes bit 0, word 1 bit 1
    w_in = np.ones((2, 8), np.float32)
    w_out = np.full((1, 8), 1.0, np.float32)  # h . node = 8 for either word: saturated
    cfg = type("Cfg", (), {"algo": algo, "loss": "hs", "window": 1, "negative": 0})
    train = hogwild.span_trainer(w_in, w_out, cfg, np.ones(2, np.float32), noise=None, tree=tree)
    _, examples = train(np.array([0, 1], np.int32), np.zeros(2, np.int64), LR, LR, 7)
    assert examples > 0
    assert np.array_equal(w_out, np.ones((1, 8), np.float32)) and np.array_equal(w_in, np.ones((2, 8), np.float32))

    w_out[:] = 0.1  # h . node = 0.8: an ordinary node is still updated
    train(np.array([0, 1], np.int32), np.zeros(2, np.int64), LR, LR, 7)
    assert not np.array_equal(w_out, np.full((1, 8), 0.1, np.float32))
