"""Beam-search error analysis (Andrew Ng, "Sequence Models", error analysis in beam search).

For each dev sentence x with reference y* and system output ŷ (both token-id lists, without
<eos>), score both with the model (`search.score`) on the objective the search maximised,
the length-normalised log-probability

    s(y) = (1 / T_y ** alpha) * log P(y | x)

with T_y counting the tokens plus the final <eos> (an output cut at max_len has none) and
alpha the same value the beam search decoded with. When ŷ != y*:

* s(y*) > s(ŷ): the search's own objective prefers the reference, but beam search returned ŷ.
  The **search** is at fault (a wider beam may help).
* s(y*) <= s(ŷ): the objective ranks ŷ at least as high as y*. The **model** (with its length
  normalisation) is at fault: more data, regularisation, another architecture, another alpha.

Comparing raw log P instead (alpha = 0) would be wrong for a length-normalised search: a long
reference is penalised by its many tokens, so a search error on it would read as a model error,
and a short reference the reverse. Both the raw and the normalised scores are kept per case.
Outputs equal to their reference are correct (at_fault "none") and are not errors.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seqpipe.decoding.search import StepModel, normalise, score


@dataclass
class ErrorCase:
    index: int
    reference: list[int]
    output: list[int]
    ref_log_prob: float   # raw log P(y* | x), <eos> included
    out_log_prob: float   # raw log P(ŷ | x), <eos> included when the output emitted one
    ref_score: float      # the normalised objective s(y*) that the verdict compares
    out_score: float      # s(ŷ)
    at_fault: str         # "search" | "model" | "none" (correct output)


def verdict(reference: list[int], output: list[int], ref_score: float, out_score: float) -> str:
    """"none" if the output is the reference, else "search" if s(y*) > s(ŷ), else "model"."""
    if list(output) == list(reference):
        return "none"
    return "search" if ref_score > out_score else "model"


def summarise(cases: list[ErrorCase]) -> dict:
    """Counts of sentences, errors and faults; fault fractions are of the errors (0 when none)."""
    search = sum(c.at_fault == "search" for c in cases)
    model = sum(c.at_fault == "model" for c in cases)
    errors = search + model
    return {"sentences": len(cases), "errors": errors, "search_errors": search, "model_errors": model,
            "search_fault_fraction": search / errors if errors else 0.0,
            "model_fault_fraction": model / errors if errors else 0.0}


def analyse(model: StepModel, src: Tensor, src_lengths: Tensor, references: list[list[int]],
            outputs: list[list[int]], bos: int, eos: int, *, alpha: float,
            output_ended: list[bool] | None = None, batch_size: int = 64) -> tuple[list[ErrorCase], dict]:
    """Score references and outputs (batches of `batch_size` sentences) and attribute each error.

    `alpha` must be the length normalisation the outputs were decoded with; `output_ended`
    says which outputs emitted <eos> (default: all; False for one cut at max_len).
    """
    n = src.size(0)
    ended = [True] * len(outputs) if output_ended is None else list(output_ended)
    if not len(references) == len(outputs) == len(ended) == n == src_lengths.size(0):
        raise ValueError(f"{n} sources, {src_lengths.size(0)} lengths, {len(references)} references, "
                         f"{len(outputs)} outputs, {len(ended)} ended flags")
    cases = []
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        twice, twice_lengths = torch.cat([src[lo:hi]] * 2), torch.cat([src_lengths[lo:hi]] * 2)
        targets = list(references[lo:hi]) + list(outputs[lo:hi])
        log_probs = score(model, twice, twice_lengths, targets, bos, eos, [True] * (hi - lo) + ended[lo:hi])
        for j, i in enumerate(range(lo, hi)):
            ref_lp, out_lp = log_probs[j], log_probs[j + hi - lo]
            ref_s = normalise(ref_lp, len(references[i]) + 1, alpha)
            out_s = normalise(out_lp, len(outputs[i]) + ended[i], alpha)
            cases.append(ErrorCase(i, list(references[i]), list(outputs[i]), ref_lp, out_lp, ref_s, out_s,
                                   verdict(references[i], outputs[i], ref_s, out_s)))
    return cases, summarise(cases)
