"""Pretrained word vectors: read from an embeddings folder or a word2vec / GloVe file, and
aligned to a downstream model's vocabulary.

`align_pretrained` maps a model's vocabulary onto pretrained vectors (exact form first,
then lowercased); rows without a pretrained vector are drawn with the pretrained
vectors' own scale, so they neither dominate nor vanish, and the padding row is zero.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from seqpipe.core.artifacts import is_complete, sha256_file
from seqpipe.core.errors import InputError
from seqpipe.data.word2vec_format import load_word2vec


class Embeddings:
    """Word vectors loaded from an embeddings folder."""

    def __init__(self, tokens: list[str], vectors: np.ndarray, source: str | None = None):
        self.tokens, self.vectors, self.source = tokens, vectors, source

    @classmethod
    def load(cls, uri: str | Path) -> "Embeddings":
        folder = Path(uri)
        if not is_complete(folder):
            raise InputError(f"{folder}: not an embeddings folder (no manifest.json)")
        tokens = (folder / "tokens.txt").read_text(encoding="utf-8").split("\n")[:-1]
        return cls(tokens, np.load(folder / "vectors.npy"), str(folder / "vectors.npy"))

    @classmethod
    def open(cls, path: str | Path) -> "Embeddings":
        """An embeddings folder, or a word2vec / GloVe file (.bin binary, anything else text)."""
        path = Path(path)
        if path.is_dir():
            return cls.load(path)
        if not path.exists():
            raise InputError(f"{path}: no such embeddings folder or file")
        tokens, vectors = load_word2vec(path, binary=path.suffix == ".bin")
        return cls(tokens, vectors.astype(np.float32), str(path))


def embeddings_digest(path: str | Path) -> str:
    """Content hash of pretrained vectors: an embeddings folder's vectors.npy, or the file itself."""
    path = Path(path)
    target = path / "vectors.npy" if path.is_dir() else path
    if not target.exists():
        raise InputError(f"{path}: no such embeddings folder or file")
    return sha256_file(target)


def align_pretrained(tokens: list[str], pretrained_tokens: list[str], pretrained: np.ndarray,
                     seed: int = 0, padding_idx: int | None = 0) -> tuple[np.ndarray, dict]:
    """(V, D) initial rows for `tokens` and coverage counts (exact, lowercased, missing)."""
    index = {t: i for i, t in enumerate(pretrained_tokens)}
    rng = np.random.default_rng(seed)
    scale = float(pretrained.std()) if pretrained.size else 0.1
    matrix = rng.normal(0.0, scale, (len(tokens), pretrained.shape[1])).astype(np.float32)
    exact = lower = 0
    for row, token in enumerate(tokens):
        if token in index:
            matrix[row], exact = pretrained[index[token]], exact + 1
        elif token.lower() in index:
            matrix[row], lower = pretrained[index[token.lower()]], lower + 1
    if padding_idx is not None:
        matrix[padding_idx] = 0.0
    found = exact + lower
    coverage = {"words": len(tokens), "pretrained_exact": exact, "pretrained_lowercased": lower,
                "missing": len(tokens) - found, "coverage": found / max(len(tokens), 1)}
    return matrix, coverage


def write_embedding_init(folder: Path, tokens: list[str], found: Embeddings, seed: int,
                         padding_idx: int | None = 0) -> tuple[int, dict]:
    """Save the rows a model's embedding starts from (embedding_init.npy) for `tokens`;
    returns their dimension and the coverage counts."""
    matrix, coverage = align_pretrained(tokens, found.tokens, found.vectors, seed=seed, padding_idx=padding_idx)
    np.save(Path(folder) / "embedding_init.npy", matrix)
    return matrix.shape[1], coverage
