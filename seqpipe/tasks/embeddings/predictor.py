"""A trained embeddings folder for inference: one vector per word."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from seqpipe.data.vectors import Embeddings


class WordVectors(Embeddings):
    """The vectors of an embeddings folder (vectors.npy, tokens.txt)."""

    def __init__(self, folder: str | Path):
        found = Embeddings.load(folder)
        super().__init__(found.tokens, found.vectors, found.source)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def predict(self, words: list[str]) -> np.ndarray:
        """One vector per word, zeros for a word outside the vocabulary (the registered pyfunc's output)."""
        out = np.zeros((len(words), self.vectors.shape[1]), dtype=np.float32)
        for row, word in enumerate(words):
            if word in self.index:
                out[row] = self.vectors[self.index[word]]
        return out


Predictor = WordVectors
