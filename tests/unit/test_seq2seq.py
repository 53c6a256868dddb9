"""The attention encoder-decoder: attention weights, teacher forcing, step decoding."""
import pytest
import torch
from torch import nn

from seqpipe.models.attention import Attention
from seqpipe.models.seq2seq import Seq2Seq


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_attention_weights_sum_to_one_and_ignore_padding(kind):
    torch.manual_seed(0)
    attention = Attention(6, 8, kind, hidden=5)
    memory = torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    context, alpha = attention(torch.randn(2, 6), attention.project(memory), memory, mask)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(2))
    assert (alpha[0, 2:] == 0).all(), "padded positions get no weight"
    torch.testing.assert_close(context, torch.einsum("bs,bsm->bm", alpha, memory))
    changed = memory.clone()
    changed[0, 2:] = 1e3  # garbage in the padding changes nothing
    query = torch.randn(2, 6)
    context1, _ = attention(query, attention.project(memory), memory, mask)
    context2, _ = attention(query, attention.project(changed), changed, mask)
    torch.testing.assert_close(context2[0], context1[0])


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_attention_of_every_step_at_once_equals_one_step_at_a_time(kind, monkeypatch):
    torch.manual_seed(0)
    attention = Attention(6, 8, kind, hidden=5)
    memory, queries = torch.randn(2, 4, 8), torch.randn(2, 3, 6)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    monkeypatch.setattr("seqpipe.models.attention.ADDITIVE_CHUNK", 2 * 4 * 5)  # one step per chunk
    context, alpha = attention(queries, attention.project(memory), memory, mask)
    for t in range(3):
        context_t, alpha_t = attention(queries[:, t], attention.project(memory), memory, mask)
        torch.testing.assert_close(context[:, t], context_t)
        torch.testing.assert_close(alpha[:, t], alpha_t)


def test_tied_output_layer_shares_the_target_embedding():
    m = model(decoder="luong", tied=True)
    assert m.output.weight is m.target_embedding.weight
    assert m.readout.out_features == m.target_embedding.embedding_dim


def model(cell="gru", attention="additive", decoder="bahdanau", tied=False):
    torch.manual_seed(0)
    return Seq2Seq(nn.Embedding(9, 8, padding_idx=0), nn.Embedding(11, 8, padding_idx=0), cell, 16, 2, 0.0,
                   attention, decoder=decoder, tied=tied).eval()


BATCH = {"src": torch.tensor([[4, 5, 6, 0], [7, 8, 4, 5]]), "src_lengths": torch.tensor([3, 4]),
         "tgt_in": torch.tensor([[2, 5, 6, 7], [2, 9, 0, 0]]), "tgt_out": torch.tensor([[5, 6, 7, 3], [9, 3, 0, 0]])}


@pytest.mark.parametrize("cell,attention,decoder,tied", [("gru", "additive", "bahdanau", False),
                                                         ("lstm", "multiplicative", "bahdanau", True),
                                                         ("gru", "additive", "luong", True),
                                                         ("lstm", "multiplicative", "luong", False)])
def test_teacher_forced_loss_equals_the_step_by_step_log_probabilities(cell, attention, decoder, tied):
    """The Luong decoder's one-call teacher forcing computes what the search's steps compute."""
    m = model(cell, attention, decoder, tied)
    loss, count = m(**BATCH)
    state, total = m.start(BATCH["src"], BATCH["src_lengths"]), 0.0
    for t in range(4):
        log_probs, state = m.step(BATCH["tgt_in"][:, t], state)
        gold = BATCH["tgt_out"][:, t]
        total += (log_probs.gather(1, gold[:, None]).squeeze(1) * (gold != 0)).sum()
    assert count == 6
    torch.testing.assert_close(-total / count, loss)


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_a_sentence_decodes_the_same_alone_and_in_a_padded_batch(decoder):
    m = model(decoder=decoder)
    state = m.start(BATCH["src"], BATCH["src_lengths"])
    alone = m.start(BATCH["src"][:1, :3], BATCH["src_lengths"][:1])
    log_probs, _ = m.step(torch.tensor([2, 2]), state)
    log_alone, _ = m.step(torch.tensor([2]), alone)
    torch.testing.assert_close(log_probs[:1], log_alone)


@pytest.mark.parametrize("decoder,tied", [("bahdanau", False), ("luong", True)])
def test_the_model_learns_to_copy_reversed_sequences(decoder, tied):
    torch.manual_seed(1)
    m = Seq2Seq(nn.Embedding(9, 16, padding_idx=0), nn.Embedding(9, 16, padding_idx=0), "gru", 32, 1, 0.0,
                decoder=decoder, tied=tied)
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 9, (64, 5), generator=g)
    tgt = src.flip(1)
    batch = {"src": src, "src_lengths": torch.full((64,), 5), "tgt_in": torch.cat([torch.full((64, 1), 2), tgt], 1),
             "tgt_out": torch.cat([tgt, torch.full((64, 1), 3)], 1)}
    optimizer = torch.optim.AdamW(m.parameters(), lr=0.01)
    for _ in range(150):
        loss, _ = m(**batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


@pytest.mark.parametrize("beam", [0, 3])
def test_decoding_in_length_sorted_batches_returns_every_output_in_input_order(beam):
    from seqpipe.tasks.translation.evaluate import decode

    m = model(decoder="luong", tied=True)
    examples = [{"src": s} for s in ([4, 5, 6, 7], [8], [5, 6], [4, 4, 4, 4, 4, 4], [7, 8, 5])]
    alone = [decode(m, [e], beam, 0.7, 6)[0] for e in examples]
    assert decode(m, examples, beam, 0.7, 6, batch_size=2) == alone
