"""Beam-search error analysis (Andrew Ng, "Sequence Models", error analysis in beam search).

For each dev sentence x with reference y* and system output ŷ (both token-id lists, without
<eos>), compute log P(y* | x) and log P(ŷ | x) with the model (`search.score`). When ŷ != y*:

* log P(y* | x) > log P(ŷ | x): the model prefers the reference, but beam search returned ŷ.
  The **search** is at fault (a wider beam may help).
* log P(y* | x) <= log P(ŷ | x): the model itself ranks ŷ at least as high as y*.
  The **model** is at fault (more data, regularisation, another architecture...).

Outputs equal to their reference are correct (at_fault "none") and are not errors.

RAW log-probabilities are compared, as in the course, even when the output came from a
length-normalised beam search (which maximises (1 / T^alpha) * log P instead): the question asked
is whether the model's probability ranks the reference above the output. A "search" verdict on
outputs decoded with alpha > 0 can therefore also come from the normalisation, not only from the
beam width.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seqpipe.decoding.search import StepModel, score


@dataclass
class ErrorCase:
    index: int
    reference: list[int]
    output: list[int]
    ref_log_prob: float
    out_log_prob: float
    at_fault: str  # "search" | "model" | "none" (correct output)


def verdict(reference: list[int], output: list[int], ref_log_prob: float, out_log_prob: float) -> str:
    """"none" if the output is the reference, else "search" if log P(y*|x) > log P(ŷ|x), else "model"."""
    if list(output) == list(reference):
        return "none"
    return "search" if ref_log_prob > out_log_prob else "model"


def summarise(cases: list[ErrorCase]) -> dict:
    """Counts of sentences, errors and faults; fault fractions are of the errors (0 when none)."""
    search = sum(c.at_fault == "search" for c in cases)
    model = sum(c.at_fault == "model" for c in cases)
    errors = search + model
    return {"sentences": len(cases), "errors": errors, "search_errors": search, "model_errors": model,
            "search_fault_fraction": search / errors if errors else 0.0,
            "model_fault_fraction": model / errors if errors else 0.0}


def analyse(model: StepModel, src: Tensor, src_lengths: Tensor, references: list[list[int]],
            outputs: list[list[int]], bos: int, eos: int,
            batch_size: int = 64) -> tuple[list[ErrorCase], dict]:
    """Score references and outputs (batches of `batch_size` sentences) and attribute each error."""
    n = src.size(0)
    if not len(references) == len(outputs) == n == src_lengths.size(0):
        raise ValueError(f"{n} sources, {src_lengths.size(0)} lengths, {len(references)} references, "
                         f"{len(outputs)} outputs")
    cases = []
    for lo in range(0, n, batch_size):
        hi = min(lo + batch_size, n)
        twice, twice_lengths = torch.cat([src[lo:hi]] * 2), torch.cat([src_lengths[lo:hi]] * 2)
        targets = list(references[lo:hi]) + list(outputs[lo:hi])
        log_probs = score(model, twice, twice_lengths, targets, bos, eos)
        for j, i in enumerate(range(lo, hi)):
            ref_lp, out_lp = log_probs[j], log_probs[j + hi - lo]
            cases.append(ErrorCase(i, list(references[i]), list(outputs[i]), ref_lp, out_lp,
                                   verdict(references[i], outputs[i], ref_lp, out_lp)))
    return cases, summarise(cases)
