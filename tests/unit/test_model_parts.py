"""Shared model parts: packed recurrent encoders and pretrained embedding alignment."""
import numpy as np
import pytest
import torch

from seqpipe.data.word2vec_format import load_word2vec
from seqpipe.data.vectors import align_pretrained
from seqpipe.models.embedding import word_embedding
from seqpipe.models.encoders import RecurrentEncoder


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_does_not_change_a_sequence_s_outputs(cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(5, cell, hidden=7, layers=2, bidirectional=True).eval()
    short = torch.randn(1, 3, 5)
    padded = torch.cat([short, torch.randn(1, 4, 5) * 100], dim=1)  # garbage after position 3
    batch = torch.cat([padded, torch.randn(1, 7, 5)])
    alone, state_alone = encoder(short, torch.tensor([3]))
    together, state = encoder(batch, torch.tensor([3, 7]))
    assert together.shape == (2, 7, 14)
    torch.testing.assert_close(together[0, :3], alone[0])
    assert together[0, 3:].abs().sum() == 0, "padded positions give zero outputs"
    torch.testing.assert_close(encoder.final_hidden(state)[0], encoder.final_hidden(state_alone)[0])


def test_final_hidden_joins_the_last_layer_s_directions():
    encoder = RecurrentEncoder(3, "gru", hidden=4, layers=2, bidirectional=True)
    outputs, state = encoder(torch.randn(2, 5, 3), torch.tensor([5, 5]))
    final = encoder.final_hidden(state)
    assert final.shape == (2, 8)
    torch.testing.assert_close(final[:, :4], outputs[:, -1, :4])  # forward direction ends at the last step
    torch.testing.assert_close(final[:, 4:], outputs[:, 0, 4:])  # backward direction ends at the first


def test_alignment_uses_exact_then_lowercased_vectors_and_scales_the_rest():
    pretrained = np.arange(12, dtype=np.float32).reshape(3, 4)
    matrix, coverage = align_pretrained(["<pad>", "Paris", "london", "zzz"], ["paris", "london", "x"], pretrained)
    assert (matrix[0] == 0).all()
    np.testing.assert_array_equal(matrix[1], pretrained[0])
    np.testing.assert_array_equal(matrix[2], pretrained[1])
    assert coverage["pretrained_exact"] == 1 and coverage["pretrained_lowercased"] == 1
    assert coverage["missing"] == 2 and coverage["coverage"] == 0.5
    assert 0 < np.abs(matrix[3]).mean() < 3 * pretrained.std()


def test_frozen_embeddings_do_not_train():
    frozen = word_embedding(3, 2, np.ones((3, 2), np.float32), freeze=True)
    tuned = word_embedding(3, 2, np.ones((3, 2), np.float32), freeze=False)
    assert not frozen.weight.requires_grad and tuned.weight.requires_grad


def test_pretrained_only_rows_stay_fixed_and_out_of_the_optimiser():
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    table = word_embedding(6, 2, rows, tuned_rows=4)  # rows 4 and 5: words seen only in pretraining
    assert sum(p.numel() for p in table.parameters()) == 8
    ids = torch.tensor([[1, 5, 0], [4, 3, 2]])
    torch.testing.assert_close(table(ids), torch.from_numpy(rows)[ids])
    table(ids).sum().backward()
    torch.optim.SGD(table.parameters(), lr=1.0).step()
    assert table(torch.tensor([5]))[0].tolist() == [10.0, 11.0] and table(torch.tensor([1]))[0].tolist() != [2.0, 3.0]
    reloaded = word_embedding(6, 2, tuned_rows=4)  # a trained folder is rebuilt without its init rows
    reloaded.load_state_dict(table.state_dict())
    torch.testing.assert_close(reloaded(ids), table(ids))


def test_glove_text_files_without_a_header_are_read(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("the 0.1 0.2 0.3\nparis -1 0 1\n")
    tokens, vectors = load_word2vec(path)
    assert tokens == ["the", "paris"] and vectors.shape == (2, 3)
