"""Encoder-decoder with attention, trained with teacher forcing.

`AttentionDecoder` is the decoder half, shared by every model that writes a sequence while
attending over a memory: `Seq2Seq` (its memory: a bidirectional RNN's annotations of the
source sentence; its first state from the encoder's final states) and the image captioner
(seqpipe.models.captioner: the regions of a convolutional feature map). Two decoders (`decoder`):

- "bahdanau" (Bahdanau et al. 2015): at step t the decoder attends from its previous state
  s<t-1> (context c<t>), reads [y<t-1>; c<t>] and predicts y<t> from [s<t>; c<t>]. The
  context feeds the recurrence, so training runs the decoder one step at a time.
- "luong" (Luong et al. 2015, global attention without input feeding): the decoder reads
  y<t-1> alone, then attends from its new state s<t> and predicts y<t> from [s<t>; c<t>].
  Teacher forcing then runs the recurrence over the whole target in one call and the
  attention of every step in one batched product: far fewer operations to launch.

With `tied` the readout has the target embedding's size and the output layer shares the
target embedding's weights (Press & Wolf 2017): a smaller vocabulary-sized product, fewer
parameters. `start` (the subclass's: encode, then `first_state`) and `step` expose one
decoder step for the searches in seqpipe.decoding: every tensor of a state has the batch as
dimension 0.
"""
from __future__ import annotations

import torch
from torch import nn

from seqpipe.models.attention import Attention
from seqpipe.models.encoders import CELLS, RecurrentEncoder


class AttentionDecoder(nn.Module):
    """The decoder over a memory (B, S, M): subclasses define `start(src, src_lengths)`, which
    encodes the input and returns `first_state(memory, mask, summary)`."""

    def __init__(self, target_embedding: nn.Embedding, memory: int, summary: int, cell: str = "gru",
                 hidden: int = 256, layers: int = 1, dropout: float = 0.2, attention: str = "additive",
                 decoder: str = "bahdanau", tied: bool = False):
        """memory: the size of one memory position; summary: the size of the vector the first
        decoder state is computed from (the encoder's final states, the mean region)."""
        super().__init__()
        if decoder not in ("bahdanau", "luong"):
            raise ValueError(f"unknown decoder {decoder!r}: bahdanau or luong")
        self.target_embedding = target_embedding
        self.bridge = nn.Linear(summary, hidden * layers)
        self.attention = Attention(hidden, memory, attention, hidden)
        feeds_context = memory if decoder == "bahdanau" else 0
        self.decoder = CELLS[cell](target_embedding.embedding_dim + feeds_context, hidden, num_layers=layers,
                                   batch_first=True, dropout=dropout if layers > 1 else 0.0)
        readout = target_embedding.embedding_dim if tied else hidden
        self.readout = nn.Linear(hidden + memory, readout)
        self.output = nn.Linear(readout, target_embedding.num_embeddings)
        if tied:
            self.output.weight = target_embedding.weight
        self.dropout = nn.Dropout(dropout)
        self.cell, self.layers, self.hidden, self.kind = cell, layers, hidden, decoder

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor | None) -> dict:
        raise NotImplementedError

    def first_state(self, memory: torch.Tensor, mask: torch.Tensor, summary: torch.Tensor) -> dict:
        """The memory, its keys, its mask (True = real) and the decoder's first state (from `summary`)."""
        first = torch.tanh(self.bridge(summary))  # (B, layers * hidden)
        state = {"memory": memory, "keys": self.attention.project(memory), "mask": mask,
                 "hidden": first.view(len(memory), self.layers, self.hidden)}
        if self.cell == "lstm":
            state["cell"] = torch.zeros_like(state["hidden"])
        return state

    def _recur(self, inputs: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """The decoder RNN over inputs (N, T, I) from the state's (N, layers, H) rows: outputs (N, T, H), new state."""
        rnn_state = state["hidden"].transpose(0, 1).contiguous()
        if self.cell == "lstm":
            rnn_state = (rnn_state, state["cell"].transpose(0, 1).contiguous())
        outputs, rnn_state = self.decoder(inputs, rnn_state)
        new = dict(state)
        if self.cell == "lstm":
            rnn_state, new["cell"] = rnn_state[0], rnn_state[1].transpose(0, 1)
        new["hidden"] = rnn_state.transpose(0, 1)
        return outputs, new

    def _readout(self, embedded: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """One decoder step from the embedded previous tokens (N, E): the readout (N, R) and the new state."""
        if self.kind == "bahdanau":
            context, alpha = self.attention(state["hidden"][:, -1], state["keys"], state["memory"], state["mask"])
            output, state = self._recur(torch.cat([embedded, context], dim=-1).unsqueeze(1), state)
        else:
            output, state = self._recur(embedded.unsqueeze(1), state)
            context, alpha = self.attention(output.squeeze(1), state["keys"], state["memory"], state["mask"])
        query = output.squeeze(1)
        return torch.tanh(self.readout(torch.cat([query, context], dim=-1))), {**state, "attention": alpha}

    def step(self, prev: torch.Tensor, state: dict) -> tuple[torch.Tensor, dict]:
        """One search step from tokens prev (N,): next-token log-probabilities (N, V) and the new state."""
        readout, state = self._readout(self.dropout(self.target_embedding(prev)), state)
        return torch.log_softmax(self.output(self.dropout(readout)), dim=-1), state

    def forward(self, src, src_lengths, tgt_in, tgt_out) -> tuple[torch.Tensor, int]:
        """Teacher forcing: the input at step t is the reference y<t-1>. Mean token NLL and token count.

        The target embeddings are looked up once for all steps, and the output layer (the
        vocabulary-sized product, most of the cost) runs once, on the real target positions only."""
        state = self.start(src, src_lengths)
        embedded = self.dropout(self.target_embedding(tgt_in))
        if self.kind == "bahdanau":
            readouts = []
            for t in range(tgt_in.size(1)):
                readout, state = self._readout(embedded[:, t], state)
                readouts.append(readout)
            readouts = torch.stack(readouts, dim=1)
        else:  # every step's query is known before attending: one recurrent call, one attention
            queries, _ = self._recur(embedded, state)
            context, _ = self.attention(queries, state["keys"], state["memory"], state["mask"])
            readouts = torch.tanh(self.readout(torch.cat([queries, context], dim=-1)))
        mask = tgt_out != 0
        logits = self.output(self.dropout(readouts[mask]))
        return nn.functional.cross_entropy(logits, tgt_out[mask]), int(mask.sum())


class Seq2Seq(AttentionDecoder):
    def __init__(self, source_embedding: nn.Embedding, target_embedding: nn.Embedding, cell: str = "gru",
                 hidden: int = 256, layers: int = 1, dropout: float = 0.2, attention: str = "additive",
                 bidirectional: bool = True, decoder: str = "bahdanau", tied: bool = False):
        encoder = RecurrentEncoder(source_embedding.embedding_dim, cell, hidden, layers, bidirectional, dropout)
        super().__init__(target_embedding, encoder.output_size, encoder.output_size, cell, hidden, layers, dropout,
                         attention, decoder, tied)
        self.source_embedding, self.encoder = source_embedding, encoder

    def start(self, src: torch.Tensor, src_lengths: torch.Tensor) -> dict:
        """Encode the sources: annotations, their keys, the padding mask and the decoder's first state."""
        memory, final = self.encoder(self.dropout(self.source_embedding(src)), src_lengths)
        return self.first_state(memory, src != 0, self.encoder.final_hidden(final))
