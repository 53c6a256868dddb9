"""The language model: it learns (perplexity below the unigram model's), scores and samples."""
import math

import numpy as np
import pytest
import torch

from seqpipe.tasks.lm.data import unigram_perplexity, windows, with_boundaries
from seqpipe.tasks.lm.task import collate, negative_log_likelihood, perplexity
from seqpipe.models.embedding import word_embedding
from seqpipe.models.language_model import LanguageModel, sample, sequence_log_prob

BOS, EOS = 2, 3
# a tiny "grammar": the next word depends on the previous one, which a unigram model cannot see
SENTENCES = [[4, 5, 6, 7], [4, 8, 9, 7], [10, 5, 6, 11], [10, 8, 9, 11]] * 8


def flat_corpus():
    ids = np.concatenate([np.array(s, np.int32) for s in SENTENCES])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in SENTENCES])])
    return with_boundaries(ids, offsets, np.arange(len(SENTENCES)), BOS, EOS)


def trained_model(cutoffs=None, steps=200, tie=False, embedding=None):
    torch.manual_seed(0)
    model = LanguageModel(embedding or word_embedding(12, 16), "lstm", hidden=32, layers=1, dropout=0.0,
                          cutoffs=cutoffs, tie=tie)
    flat, offsets = flat_corpus()
    batch = collate(flat, windows(offsets, max_len=16))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.02)
    for _ in range(steps):
        loss, _ = model(**batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_windows_cover_every_prediction_once():
    offsets = np.array([0, 10, 13])
    spans = windows(offsets, max_len=4)
    predicted = [t for s, e in spans for t in range(s + 1, e)]
    assert predicted == [t for t in range(13) if t not in (0, 10)], "every token but each <bos> is a target once"


def test_teacher_forcing_inputs_are_the_targets_shifted_right():
    flat, offsets = flat_corpus()
    batch = collate(flat, windows(offsets, 16)[:1])
    assert batch["inputs"][0].tolist() == [BOS, 4, 5, 6, 7]
    assert batch["targets"][0].tolist() == [4, 5, 6, 7, EOS]


@pytest.mark.parametrize("cutoffs, tie", [(None, False), ([6], False), (None, True), ([6, 9], True)])
def test_perplexity_falls_below_the_unigram_model_s(cutoffs, tie):
    flat, offsets = flat_corpus()
    model = trained_model(cutoffs, tie=tie)
    with torch.no_grad():
        ppl = perplexity(negative_log_likelihood(model, flat, windows(offsets, 16)))["perplexity"]
    targets = flat[flat != BOS].astype(np.int64)
    assert ppl < 0.6 * unigram_perplexity(targets, targets, 12), ppl


@pytest.mark.parametrize("cutoffs, tie", [(None, False), ([6, 9], True)])
def test_sentence_log_probabilities_sum_to_one_over_continuations(cutoffs, tie):
    model = trained_model(cutoffs, steps=50, tie=tie)
    total = sum(math.exp(sum(sequence_log_prob(model, [4, w], BOS))) for w in range(12))
    assert total == pytest.approx(math.exp(sequence_log_prob(model, [4], BOS)[0]), rel=1e-4)
    seen, unseen = sum(sequence_log_prob(model, [4, 5, 6, 7, EOS], BOS)), sum(sequence_log_prob(model, [4, 5, 9, 7, EOS], BOS))
    assert seen > unseen + 3


def test_tied_output_scores_a_word_never_seen_as_a_target_like_the_word_its_vector_resembles():
    """Word 12 never occurs, but its (pretrained) vector is word 7's: tied, it follows "4 5 6" as 7 does."""
    vectors = np.random.default_rng(0).normal(0, 0.5, (14, 16)).astype(np.float32)
    vectors[12] = vectors[7]
    gaps = {}
    for tie in (False, True):
        model = trained_model([6], tie=tie, embedding=word_embedding(14, 16, vectors))
        with torch.no_grad():
            log_probs = model.log_probs(torch.tensor([[BOS, 4, 5, 6]]))[0][0, -1]
        gaps[tie] = float(log_probs[12] - log_probs[13])  # 13: never seen either, a vector like no other
    assert gaps[True] > 2 and gaps[True] > gaps[False] + 2, gaps


def test_tied_model_stores_the_embedding_table_once():
    model = LanguageModel(word_embedding(12, 16), "lstm", hidden=32, layers=1, cutoffs=[6], tie=True)
    assert [k for k in model.state_dict() if k.endswith("embedding.weight")] == ["embedding.weight"]
    assert model.tied.shared[0].weight is model.embedding.weight


def greedy(model, max_len=10):
    ids = []
    for _ in range(max_len):
        log_probs, _ = model.log_probs(torch.tensor([[BOS] + ids]))
        best = int(log_probs[0, -1].argmax())
        if best == EOS:
            break
        ids.append(best)
    return ids


def test_temperature_zero_is_greedy_decoding():
    model = trained_model()
    assert sample(model, BOS, EOS, n=3, temperature=0, max_len=10) == [greedy(model)] * 3


def test_low_temperature_concentrates_and_high_temperature_spreads_samples():
    model = trained_model(steps=60)
    g = torch.Generator().manual_seed(0)
    cold = sample(model, BOS, EOS, n=300, temperature=0.3, max_len=6, generator=g)
    hot = sample(model, BOS, EOS, n=300, temperature=3.0, max_len=6, generator=g)
    assert len({tuple(s) for s in cold}) < len({tuple(s) for s in hot})
    assert all(len(s) <= 6 and EOS not in s for s in hot)


def test_banned_tokens_are_never_sampled():
    model = trained_model(steps=20)
    rows = sample(model, BOS, EOS, n=50, temperature=5.0, max_len=8, banned=[0, 1, BOS, 4],
                  generator=torch.Generator().manual_seed(1))
    assert not {0, 1, BOS, 4} & {t for r in rows for t in r}
