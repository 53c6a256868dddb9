"""CTC decoding of per-frame log-probabilities: collapse, greedy, prefix beam search with an LM.

Emissions are (T, V) (or batched (B, T, V)) log-probabilities over V symbols: the blank (id 0 by
default) and the labels 1..V-1. A CTC path is one symbol per frame; its labelling is the path
collapsed: runs of the same symbol not separated by a blank are merged, then blanks dropped
("ttt_h_eee___ ___qqq" -> "the q" with "_" the blank). P(labelling) sums over all its paths.

Greedy decoding takes the most probable path (the argmax of every frame) and collapses it.

Prefix beam search (Hannun et al. 2014, "First-pass large vocabulary continuous speech
recognition using bi-directional recurrent DNNs"; Graves 2012) keeps, for each prefix l, the
log-probabilities p_b(l) and p_nb(l) of the paths so far that collapse to l and end in a blank,
resp. in l's last label. At a frame with symbol log-probabilities y:
    blank:            p_b(l)    += y[blank] + (p_b(l) + p_nb(l))     (prefix unchanged)
    c == last of l:   p_nb(l)   += y[c] + p_nb(l)                    (a repeat merges)
                      p_nb(l+c) += y[c] + p_b(l)                     (a blank separated them)
    any other c:      p_nb(l+c) += y[c] + (p_b(l) + p_nb(l))
("+=" is log-space accumulation, logsumexp). Only the symbols with y > `prune`, plus the `beam`
most probable ones, are tried at each frame; the `beam` best prefixes by ranking score survive.

Ranking score (log space), with shallow fusion of a label-level LM (`CharLM`):
    score(l) = log(p_b(l) + p_nb(l)) + alpha * sum_i log P_lm(l_i | l_<i) + beta * len(l)
len(l) counts LABELS (characters for a char LM), not words. The LM term depends on the prefix
only, so adding it once when l is created is the same as multiplying it into every path of l
(Hannun's formulation). After the last frame, alpha * lm.end(state) is added if the LM has `end`.
With alpha = 0 the LM is not consulted; with beta = 0 and no LM the score is the log-probability
of the labelling summed over the paths the search kept (exact when nothing was pruned).

Beam = 1 without an LM: the search proper keeps the single best PREFIX, summing its paths, so in
general it is not greedy decoding (which follows one path). With P(a) = 1, 1 - q, q and
P(_) = 0, q, 1 - q in frames 1-3, greedy reads "a _ a" -> "aa" for q > 1/2, but the search keeps
"a" unless q > 1/sqrt(2): merging into "a" holds 1 - q^2, splitting into "aa" holds q^2. The two
agree whenever every frame's most probable symbol has probability > 1/sqrt(2) (~0.71), a tight
bound (the example above). With every argmax above p, the argmax alone has more than half the
mass, which settles every frame but a repeat of the last label right after a blank frame; there
p_b >= p / (1 - p) * p_nb, and the split beats the merge once p (2p - 1) > 1 - p, i.e. p^2 > 1/2.
So that beam = 1 IS greedy, as callers expect, `prefix_beam_search` runs greedy for beam = 1
without an LM and scores the result with its exact `labelling_log_prob`. The search proper runs
at beam = 1 when an LM is fused (a flat LM, log-prob 0 everywhere, leaves its scores unchanged).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

NEG_INF = float("-inf")
Prefix = tuple[int, ...]


class CharLM(Protocol):
    """A label-level LM for shallow fusion; states are opaque to the decoder and never mutated.

    `score(state, label)` returns log P(label | state) and the state after `label`; the decoder
    calls it at most once per (prefix, label) extension and frame (results are cached per
    prefix). An RNN LM wraps (hidden, log-probs of the next label) as its state: `score` reads
    the label's log-prob from the stored distribution, then runs one RNN step on `label` for the
    new state. Labels are the CTC label ids (1..V-1); the blank is never passed. Optionally the LM
    may define `end(state) -> float`, the log-probability of end-of-sentence after the state.
    """

    def initial(self) -> Any:
        """The state before any label (after <s>)."""

    def score(self, state: Any, label: int) -> tuple[float, Any]:
        """(log P(label | state), the state after label)."""


def collapse(ids: Sequence[int], blank: int = 0) -> list[int]:
    """Merge runs of the same id not separated by a blank, then drop the blanks."""
    out, prev = [], None
    for i in ids:
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out


def _as_batch(log_probs: Tensor, lengths) -> tuple[Tensor, list[int]]:
    """(T, V) or (B, T, V) -> (B, T, V) and the per-utterance lengths as ints (default: T)."""
    if log_probs.dim() == 2:
        log_probs = log_probs.unsqueeze(0)
    if log_probs.dim() != 3:
        raise ValueError(f"expected (T, V) or (B, T, V) log-probs, got shape {tuple(log_probs.shape)}")
    batch, frames = log_probs.shape[:2]
    lengths = [frames] * batch if lengths is None else [int(n) for n in lengths]
    if len(lengths) != batch or any(not 0 <= n <= frames for n in lengths):
        raise ValueError(f"lengths {lengths} do not fit log-probs of shape {tuple(log_probs.shape)}")
    return log_probs, lengths


@torch.no_grad()
def greedy(log_probs: Tensor, lengths: Sequence[int] | Tensor | None = None,
           blank: int = 0) -> list[list[int]]:
    """The collapsed argmax path of each utterance; a (T, V) input gives a one-element list."""
    log_probs, lengths = _as_batch(log_probs, lengths)
    best = log_probs.argmax(dim=-1).tolist()
    return [collapse(row[:n], blank) for row, n in zip(best, lengths)]


def _lse(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), -inf safe."""
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


def _candidates(log_probs: Tensor, beam: int, prune: float) -> list[list[int]]:
    """The symbols tried at each frame: log-prob > prune, plus the `beam` most probable."""
    keep = log_probs > prune
    keep.scatter_(1, log_probs.topk(min(beam, log_probs.size(1)), dim=1).indices, True)
    return [row.nonzero().flatten().tolist() for row in keep]


def _extend(beams: dict[Prefix, list[float]], frame: list[float], symbols: list[int],
            blank: int) -> dict[Prefix, list[float]]:
    """One frame of the recursion in the module docstring: prefix -> [p_b, p_nb]."""
    out: dict[Prefix, list[float]] = {}

    def add(prefix: Prefix, which: int, value: float) -> None:
        entry = out.setdefault(prefix, [NEG_INF, NEG_INF])
        entry[which] = _lse(entry[which], value)

    for prefix, (p_b, p_nb) in beams.items():
        total, last = _lse(p_b, p_nb), prefix[-1] if prefix else None
        for c in symbols:
            y = frame[c]
            if c == blank:
                add(prefix, 0, total + y)
            elif c == last:
                add(prefix, 1, p_nb + y)
                add(prefix + (c,), 1, p_b + y)
            else:
                add(prefix + (c,), 1, total + y)
    return out


class _Fusion:
    """alpha * the LM log-probability of each prefix, cached with the LM state per prefix.

    The cache keeps the prefixes of the current beam and the extensions scored in this frame
    (`retain` drops the rest after each frame), so memory stays O(beam * symbols tried) LM states
    and each (prefix, label) extension is scored at most once per frame; a prefix that drops out
    of the beam and comes back later is scored again.
    """

    def __init__(self, lm: CharLM | None, alpha: float):
        self.lm = lm if alpha != 0 else None
        self.alpha = alpha
        self.cache: dict[Prefix, tuple[Any, float]] = {}
        if self.lm is not None:
            self.cache[()] = (self.lm.initial(), 0.0)

    def retain(self, prefixes) -> None:
        self.cache = {p: self.cache[p] for p in prefixes if p in self.cache}

    def prefix(self, prefix: Prefix) -> float:
        if self.lm is None:
            return 0.0
        if prefix not in self.cache:
            self.prefix(prefix[:-1])
            state, total = self.cache[prefix[:-1]]
            log_prob, new_state = self.lm.score(state, prefix[-1])
            self.cache[prefix] = (new_state, total + self.alpha * log_prob)
        return self.cache[prefix][1]

    def end(self, prefix: Prefix) -> float:
        end = getattr(self.lm, "end", None)
        return 0.0 if end is None else self.alpha * end(self.cache[prefix][0])


@torch.no_grad()
def labelling_log_prob(log_probs: Tensor, labels: Sequence[int], blank: int = 0) -> float:
    """log P(labels | (T, V) log-probs), summed over all paths (the CTC forward algorithm)."""
    frames = log_probs.size(0)
    if frames == 0:
        return 0.0 if not labels else NEG_INF
    ext = torch.full((2 * len(labels) + 1,), blank, dtype=torch.long)
    ext[1::2] = torch.as_tensor(list(labels), dtype=torch.long)
    skip = torch.zeros(len(ext), dtype=torch.bool)  # s-2 -> s allowed: a label unlike the one before
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    emissions = log_probs.double()[:, ext]  # (T, S)
    alpha = torch.full((len(ext),), NEG_INF, dtype=torch.float64)
    alpha[:2] = emissions[0, :2]
    for t in range(1, frames):
        padded = torch.cat([alpha.new_full((2,), NEG_INF), alpha])
        from_prev, from_skip = padded[1:-1], padded[:-2].masked_fill(~skip, NEG_INF)
        alpha = torch.logaddexp(torch.logaddexp(alpha, from_prev), from_skip) + emissions[t]
    return float(torch.logaddexp(alpha[-1], alpha[-2]) if labels else alpha[-1])


@torch.no_grad()
def prefix_beam_search(log_probs: Tensor, beam: int = 8, blank: int = 0, lm: CharLM | None = None,
                       alpha: float = 0.5, beta: float = 1.0,
                       prune: float = -12.0) -> list[tuple[list[int], float]]:
    """The final beam of CTC prefix beam search over (T, V) log-probs: (labels, score), best first.

    Scores as in the module docstring (alpha: LM weight, beta: bonus per label); at each frame
    only the symbols with log-prob > `prune` and the `beam` best are tried. Prefixes of
    probability zero are dropped, so fewer than `beam` results may come back. beam = 1 without
    an LM (lm None or alpha = 0) is greedy decoding: greedy's labelling, scored with its exact
    `labelling_log_prob` (+ beta * length).
    """
    if log_probs.dim() != 2:
        raise ValueError(f"expected (T, V) log-probs, got shape {tuple(log_probs.shape)}")
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    fusion = _Fusion(lm, alpha)
    if beam == 1 and fusion.lm is None:
        labels = greedy(log_probs, blank=blank)[0]
        return [(labels, labelling_log_prob(log_probs, labels, blank) + beta * len(labels))]

    def rank(item: tuple[Prefix, list[float]]) -> float:
        prefix, (p_b, p_nb) = item
        return _lse(p_b, p_nb) + fusion.prefix(prefix) + beta * len(prefix)

    log_probs = log_probs.double()
    beams: dict[Prefix, list[float]] = {(): [0.0, NEG_INF]}
    for frame, symbols in zip(log_probs.tolist(), _candidates(log_probs, beam, prune)):
        grown = _extend(beams, frame, symbols, blank)
        beams = dict(sorted(grown.items(), key=rank, reverse=True)[:beam])
        fusion.retain(beams)
    final = [(list(p), rank((p, e)) + fusion.end(p)) for p, e in beams.items()]
    return sorted([r for r in final if r[1] > NEG_INF], key=lambda r: r[1], reverse=True)


def batch_beam(log_probs: Tensor, lengths: Sequence[int] | Tensor | None = None,
               **kw: Any) -> list[list[int]]:
    """The best labelling of each (B, T, V) utterance under `prefix_beam_search(**kw)`."""
    log_probs, lengths = _as_batch(log_probs, lengths)
    out = []
    for utterance, n in zip(log_probs, lengths):
        results = prefix_beam_search(utterance[:n], **kw)
        out.append(results[0][0] if results else [])
    return out
