"""Greedy search, batched beam search and teacher-forced scoring against a step-wise decoder.

A model is anything with the `StepModel` interface: `start` encodes a batch of sources into a
decoder state (a dict of tensors, batch first) and `step` maps the previous target token to
log-probabilities over the vocabulary and the next state. Beams are handled on the tensor side:
the state holds B * beam rows, reordered with `select` after each step.

Length normalisation (Wu et al. 2016 without their constant; Andrew Ng's course):

    score(y) = (1 / T_y ** alpha) * sum_{t=1..T_y} log P(y_t | x, y_<t)

where T_y counts the emitted tokens INCLUDING the final <eos> (a hypothesis cut at `max_len`
has no <eos>, so T_y = max_len). alpha = 0 ranks by raw log-probability, which favours short
outputs; alpha = 1 ranks by the mean log-probability per token.

Stopping rule of beam search (as fairseq's): at each step the `2 * beam` best one-token
extensions of the live beams are taken; the ones among the first `beam` of them that end in
<eos> are finished hypotheses, and the best `beam` that do not end in <eos> are the next live
beams. A sentence is done once it holds `beam` finished hypotheses; at `max_len` the live beams
of the sentences not yet done are finished as they are. The `n_best` finished hypotheses with
the highest normalised score are returned. With beam = 1 this is exactly greedy search, for any
alpha. A sentence that is done leaves the batch, so the steps after it cost only the others. The rule is not exact under normalisation (a live beam might still have overtaken), the
standard trade-off.

All functions run under `torch.no_grad()` and leave the model's train/eval mode to the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

State = dict[str, Tensor]


class StepModel(Protocol):
    def start(self, src: Tensor, src_lengths: Tensor) -> State:
        """Encode (B, S) sources of lengths (B,); the initial decoder state, every tensor batch first."""

    def step(self, prev: Tensor, state: State) -> tuple[Tensor, State]:
        """(N,) previous tokens -> (N, V) log-probabilities, new state (may hold "attention" (N, S))."""


@dataclass
class Hypothesis:
    tokens: list[int]            # without <eos>
    log_prob: float              # sum of the step log-probabilities, <eos> included when emitted
    score: float                 # log_prob / T_y ** alpha (see the module docstring)
    attention: Tensor | None = None  # (T, S): one row per step taken, the <eos> step included
    ended: bool = True           # False when cut at max_len without <eos>

    @property
    def length(self) -> int:
        """T_y of the length normalisation: the tokens, plus the <eos> when one was emitted."""
        return len(self.tokens) + self.ended


def select(state: State, index: Tensor) -> State:
    """The state's rows `index` (reorder / expand beams): index_select on dim 0 of every tensor."""
    return {k: v.index_select(0, index) for k, v in state.items()}


def normalise(log_prob: float, length: int, alpha: float) -> float:
    """(1 / T^alpha) * log_prob; an empty output (T = 0) is left as it is."""
    return log_prob / max(length, 1) ** alpha


def _cut(row: list[int], eos: int) -> tuple[list[int], bool]:
    """The tokens before the first <eos>, and whether there was one."""
    return (row[:row.index(eos)], True) if eos in row else (row, False)


@torch.no_grad()
def greedy(model: StepModel, src: Tensor, src_lengths: Tensor, bos: int, eos: int, max_len: int,
           return_attention: bool = False) -> list[Hypothesis]:
    """The most probable next token at every step, batched over sentences; score uses alpha = 0.
    A sentence that emitted <eos> leaves the batch (as in beam_search, so beam 1 gives the same numbers)."""
    batch, device = src.size(0), src.device
    state = model.start(src, src_lengths)
    prev = torch.full((batch,), bos, dtype=torch.long, device=device)
    total = torch.zeros(batch, dtype=torch.float64, device=device)
    sentence = torch.arange(batch, device=device)  # the sentence of each row still decoded
    tokens = torch.full((batch, max_len), eos, dtype=torch.long, device=device)
    weights = None
    for t in range(max_len):
        log_probs, state = model.step(prev, state)
        best, prev = log_probs.max(dim=-1)
        total.index_add_(0, sentence, best.double())
        tokens[sentence, t] = prev
        if return_attention:
            if "attention" not in state:
                raise ValueError("return_attention=True but the model's state holds no 'attention'")
            if weights is None:
                weights = state["attention"].new_zeros(batch, max_len, state["attention"].size(-1))
            weights[sentence, t] = state["attention"]
        alive = prev != eos
        if not alive.all():
            keep = alive.nonzero().squeeze(1)
            state, prev, sentence = select(state, keep), prev[keep], sentence[keep]
            if not len(sentence):
                break
    out = []
    for i, row in enumerate(tokens.tolist()):
        cut, ended = _cut(row, eos)
        log_prob = float(total[i])
        out.append(Hypothesis(cut, log_prob, log_prob, None if weights is None else weights[i, :len(cut) + ended],
                              ended))
    return out


def _finish(finished: list[list[Hypothesis]], sentence: list[int], paths: Tensor, log_probs: Tensor,
            which: Tensor, alpha: float, ended: bool) -> None:
    """Append the hypotheses at the (row, beam) pairs where `which` is true to the finished
    list of the row's sentence (`sentence`: the batch index of each row still searched)."""
    for b, k in which.nonzero().tolist():
        tokens, log_prob = paths[b, k].tolist(), float(log_probs[b, k])
        if ended:
            tokens = tokens[:-1]
        finished[sentence[b]].append(Hypothesis(tokens, log_prob, normalise(log_prob, len(tokens) + ended, alpha),
                                                ended=ended))


@torch.no_grad()
def beam_search(model: StepModel, src: Tensor, src_lengths: Tensor, bos: int, eos: int, beam: int = 5,
                alpha: float = 0.7, max_len: int = 100, n_best: int = 1) -> list[list[Hypothesis]]:
    """The `n_best` best hypotheses of each sentence, best first (stopping rule: module docstring)."""
    if not 1 <= n_best <= beam:
        raise ValueError(f"need 1 <= n_best <= beam, got n_best={n_best}, beam={beam}")
    batch, device = src.size(0), src.device
    state = select(model.start(src, src_lengths), torch.arange(batch, device=device).repeat_interleave(beam))
    scores = torch.full((batch, beam), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0  # only beam 0 is live at first, so the beams do not start as copies
    history = torch.zeros(batch, beam, 0, dtype=torch.long, device=device)
    prev = torch.full((batch * beam,), bos, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    sentence = list(range(batch))  # the sentence of each row still searched: done ones leave the batch
    for t in range(max_len):
        rows = len(sentence)
        log_probs, state = model.step(prev, state)
        # the best 2 * beam extensions of a sentence are among the best 2 * beam of each of its
        # beams: take those per beam first, so the scores are added over beam x 2 beam, not beam x V
        per_beam = min(2 * beam, log_probs.size(-1))
        beam_top, beam_token = log_probs.view(rows, beam, -1).topk(per_beam, dim=-1)
        candidates = scores.unsqueeze(-1) + beam_top.double()
        top, index = candidates.view(rows, -1).topk(min(2 * beam, beam * per_beam), dim=1)
        origin, token = index // per_beam, beam_token.view(rows, -1).gather(1, index)
        paths = torch.cat([history.gather(1, origin.unsqueeze(-1).expand(-1, -1, t)),
                           token.unsqueeze(-1)], dim=-1)
        ends = (token == eos) & top.isfinite()
        ends[:, beam:] = False  # <eos> counts only among the first `beam` candidates
        _finish(finished, sentence, paths, top, ends, alpha, ended=True)
        searching = torch.tensor([len(finished[s]) < beam for s in sentence], device=device)
        if not searching.any():
            break
        live = torch.sort((token == eos).long(), dim=1, stable=True).indices[:, :beam]
        keep = searching.nonzero().squeeze(1)  # the sentences not yet done, and their beams' origins
        scores, prev = top.gather(1, live)[keep], token.gather(1, live)[keep].view(-1)
        history = paths.gather(1, live.unsqueeze(-1).expand(-1, -1, t + 1))[keep]
        origins = (torch.arange(rows, device=device).unsqueeze(1) * beam + origin.gather(1, live))[keep]
        state = select(state, origins.view(-1))
        sentence = [sentence[i] for i in keep.tolist()]
    else:  # max_len reached: the live beams of unfinished sentences end as they are
        _finish(finished, sentence, history, scores, scores.isfinite(), alpha, ended=False)
    return [sorted(f, key=lambda h: h.score, reverse=True)[:n_best] for f in finished]


@torch.no_grad()
def score(model: StepModel, src: Tensor, src_lengths: Tensor, targets: list[list[int]],
          bos: int, eos: int, ended: list[bool] | None = None) -> list[float]:
    """log P(y | x) of each target, by teacher forcing (batched; padding ignored).

    A target is followed by <eos> unless its `ended` flag is False (an output cut at max_len
    never emitted one, so its log-probability must not include it). Default: all ended.
    """
    if len(targets) != src.size(0) or (ended is not None and len(ended) != len(targets)):
        raise ValueError(f"{len(targets)} targets for {src.size(0)} sources"
                         + ("" if ended is None else f" and {len(ended)} ended flags"))
    if not targets:
        return []
    device = src.device
    ended = [True] * len(targets) if ended is None else ended
    lengths = torch.tensor([len(y) + bool(e) for y, e in zip(targets, ended)], device=device)
    gold = torch.full((len(targets), int(lengths.max())), eos, dtype=torch.long, device=device)
    for i, y in enumerate(targets):
        gold[i, :len(y)] = torch.tensor(y, dtype=torch.long, device=device)
    inputs = torch.cat([torch.full_like(gold[:, :1], bos), gold[:, :-1]], dim=1)
    state = model.start(src, src_lengths)
    total = torch.zeros(len(targets), dtype=torch.float64, device=device)
    for t in range(gold.size(1)):
        log_probs, state = model.step(inputs[:, t], state)
        picked = log_probs.gather(1, gold[:, t:t + 1]).squeeze(1).double()
        total += torch.where(t < lengths, picked, 0.0)
    return total.tolist()
