"""Recurrent encoders over torch's nn.RNN / nn.GRU / nn.LSTM, with packed variable lengths."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RecurrentEncoder(nn.Module):
    """Embedded tokens (B, T, E) -> outputs (B, T, hidden * directions), the RNN's final state.

    Padding never reaches the RNN: sequences are packed by length, so a backward
    direction starts at each sequence's real last token.
    """

    def __init__(self, input_size: int, cell: str = "lstm", hidden: int = 256, layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.0):
        super().__init__()
        self.rnn = CELLS[cell](input_size, hidden, num_layers=layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.directions = 2 if bidirectional else 1
        self.output_size = hidden * self.directions

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        """lengths: (B,) real lengths (None = all T); state: an initial state (as returned) or None."""
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed, state)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.size(1))
        return outputs, state

    def final_hidden(self, state) -> torch.Tensor:
        """(B, hidden * directions): the last layer's final hidden state, directions concatenated."""
        h = state[0] if isinstance(state, tuple) else state
        return torch.cat(list(h[-self.directions:]), dim=-1)
