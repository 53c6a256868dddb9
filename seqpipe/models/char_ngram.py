"""A character n-gram language model for shallow fusion with CTC beam search.

Interpolated Witten-Bell smoothing (Witten & Bell 1991; Chen & Goodman 1998, sec. 2.4):

    P(c | h) = (C(h, c) + T(h) * P(c | h[1:])) / (C(h) + T(h))

where C counts what followed the history h in the training text and T(h) is the number of
distinct characters seen after h; the shortest history backs off to a uniform distribution
over the symbols. A sentence starts with the history BOS and ends by predicting EOS. It
trains in one pass over the text (no gradient steps), so the speech stage fits one to its
own training transcripts: a LM of exactly the kind of text it will hear.
"""
from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

BOS, EOS = "\x02", "\x03"


class CharNgramLM:
    def __init__(self, order: int, counts: dict[str, dict[str, int]], symbols: str):
        """order: characters per n-gram (the history is order - 1 long); symbols: the alphabet."""
        self.order, self.counts, self.symbols = order, counts, symbols
        self.totals = {h: sum(c.values()) for h, c in counts.items()}
        self.uniform = 1.0 / (len(symbols) + 1)  # + EOS
        self._cache: dict[tuple[str, str], float] = {}

    @classmethod
    def fit(cls, sentences: Iterable[str], symbols: str, order: int = 6) -> "CharNgramLM":
        """Count every n-gram up to `order` of the sentences (characters outside `symbols` are dropped)."""
        if order < 1:
            raise ValueError("a character n-gram LM needs order >= 1")
        allowed = set(symbols)
        counts: dict[str, Counter] = defaultdict(Counter)
        for sentence in sentences:
            text = BOS + "".join(c for c in sentence if c in allowed) + EOS
            for i in range(1, len(text)):
                for k in range(min(order - 1, i) + 1):
                    counts[text[i - k:i]][text[i]] += 1
        return cls(order, {h: dict(c) for h, c in counts.items()}, symbols)

    def prob(self, history: str, char: str) -> float:
        """P(char | the last order - 1 characters of history), interpolated down to the uniform."""
        history = history[-(self.order - 1):] if self.order > 1 else ""
        key = (history, char)
        if key not in self._cache:
            lower = self.prob(history[1:], char) if history else self.uniform
            seen = self.counts.get(history)
            if not seen:
                self._cache[key] = lower
            else:
                types = len(seen)
                self._cache[key] = (seen.get(char, 0) + types * lower) / (self.totals[history] + types)
        return self._cache[key]

    def sentence_log_prob(self, sentence: str) -> float:
        history, total = BOS, 0.0
        for char in list(sentence) + [EOS]:
            total += math.log(self.prob(history, char))
            history += char
        return total

    # the CharLM protocol of seqpipe.decoding.ctc (labels are 1-based alphabet positions)
    def initial(self) -> str:
        return BOS

    def score(self, state: str, label: int) -> tuple[float, str]:
        char = self.symbols[label - 1]
        return math.log(self.prob(state, char)), (state + char)[-(self.order - 1):] if self.order > 1 else ""

    def end(self, state: str) -> float:
        return math.log(self.prob(state, EOS))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"kind": "char-ngram", "order": self.order, "symbols": self.symbols,
                                          "counts": self.counts}, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "CharNgramLM":
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(spec["order"], spec["counts"], spec["symbols"])
