"""The quality figures logged after every epoch, from the files named in EvalConfig."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from seqpipe.tasks.embeddings import evaluate


class EpochEvaluation:
    """Loads the evaluation files once; called with the word vectors after each epoch."""

    def __init__(self, eval_cfg, tokens: list[str]):
        self.cfg, self.tokens = eval_cfg, tokens
        self.analogies = evaluate.load_analogies(eval_cfg.analogies) if eval_cfg.analogies else None
        self.similarity = {Path(p).stem: evaluate.load_similarity(p) for p in eval_cfg.similarity}

    def __call__(self, vectors: np.ndarray) -> dict:
        metrics: dict = {}
        if self.analogies:
            result = evaluate.evaluate_analogies(self.tokens, vectors, self.analogies, self.cfg.top_n, self.cfg.method)
            metrics.update({"analogy_acc": result["accuracy"], "analogy_coverage": result["coverage"],
                            "analogy_semantic_acc": result["semantic_accuracy"],
                            "analogy_syntactic_acc": result["syntactic_accuracy"]})
        for name, pairs in self.similarity.items():
            metrics[f"{name}_rho"] = evaluate.evaluate_similarity(self.tokens, vectors, pairs)["spearman"]
        return metrics



def neighbours(tokens: list[str], vectors: np.ndarray, words: list[str], k: int = 8) -> dict[str, list[str]]:
    """The k nearest words of each of `words` that is in the vocabulary."""
    vocabulary = set(tokens)
    return {w: [n for n, _ in evaluate.nearest(tokens, vectors, w, k)] for w in words if w in vocabulary}
