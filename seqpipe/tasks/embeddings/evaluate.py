"""Intrinsic evaluation of word vectors: analogies (3CosAdd, 3CosMul), word-pair similarity, neighbours.

Inputs are `tokens` in vocabulary order (most frequent first) and `vectors`, one row per
token; callers strip special tokens beforehand. Scores are computed on unit-normalised
rows with batched matrix products (a batch of questions against the whole search space).
Case-insensitive evaluation (`lowercase=True`) folds both the data set's words and the
vocabulary, as gensim's `case_insensitive=True` does: a folded word stands for its first
(most frequent) token, and any case of a question word is excluded from the answers.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from seqpipe.core.errors import InputError

METHODS = ("3cosadd", "3cosmul")
COSMUL_EPSILON = 1e-3  # Levy & Goldberg (2014): keeps the 3CosMul quotient finite

Question = tuple[str, str, str, str, str]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (zero rows stay zero)."""
    vectors = np.asarray(vectors)
    if not np.issubdtype(vectors.dtype, np.floating):
        vectors = vectors.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


# ---------------------------------------------------------------- reading the data sets

def load_analogies(path: str | Path) -> list[Question]:
    """Questions `(section, a, b, c, d)` from a Google questions-words.txt style file."""
    questions: list[Question] = []
    section = ""  # questions before any `: section` line belong to the unnamed section
    for lineno, line in _numbered_lines(path):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith(":"):
            section = stripped[1:].strip()
            if not section:
                raise InputError(f"{path}:{lineno}: section line without a name")
            continue
        words = stripped.split()
        if len(words) != 4:
            raise InputError(f"{path}:{lineno}: expected 4 words `a b c d`, found {len(words)}: {stripped[:80]!r}")
        questions.append((section, words[0], words[1], words[2], words[3]))
    return questions


def load_similarity(path: str | Path) -> list[tuple[str, str, float]]:
    """Pairs `(word1, word2, score)` from a WordSim353 / SimLex-999 style file."""
    pairs: list[tuple[str, str, float]] = []
    header_allowed = True  # only the first content line may be a header
    for lineno, line in _numbered_lines(path):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split("\t") if "\t" in stripped else stripped.split()
        score = _first_float(fields[2:])
        if header_allowed and score is None and len(fields) >= 3:
            header_allowed = False
            continue
        header_allowed = False
        if len(fields) < 3 or score is None:
            raise InputError(f"{path}:{lineno}: expected `word1 word2 score`, found {stripped[:80]!r}")
        pairs.append((fields[0].strip(), fields[1].strip(), score))
    return pairs


def _numbered_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file; unreadable files raise InputError."""
    try:
        with open(path, encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err})") from None


def _first_float(fields: Sequence[str]) -> float | None:
    """The first field that parses as a finite float, or None."""
    for field in fields:
        try:
            value = float(field)
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    return None


# ---------------------------------------------------------------- analogies

def evaluate_analogies(tokens: Sequence[str], vectors: np.ndarray, questions: Sequence[Question],
                       top_n: int | None = 30000, method: str = "3cosadd", lowercase: bool = True,
                       batch_size: int = 1024) -> dict:
    """Accuracy and coverage on analogy questions, searching the `top_n` most frequent tokens
    (case-insensitively unless `lowercase` is false: see the module doc)."""
    _check_method(method)
    restricted = list(tokens[:top_n]) if top_n is not None else list(tokens)
    unit = unit_rows(np.asarray(vectors)[: len(restricted)])
    index, first = folded_index(restricted, _fold(lowercase))
    sections, section_ids, ids = _encode_questions(questions, index, _fold(lowercase))
    used = (ids >= 0).all(axis=1)
    correct = np.zeros(len(ids), dtype=bool)
    rows = np.flatnonzero(used)
    for start in range(0, len(rows), max(1, batch_size)):
        batch = rows[start:start + max(1, batch_size)]
        correct[batch] = first[_best_answers(unit, ids[batch, :3], method, first)] == ids[batch, 3]
    result = _summarise(sections, section_ids, used, correct)
    result["method"] = method
    return result


def analogy_scores(unit: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, method: str) -> np.ndarray:
    """Scores (questions × vocabulary) of every candidate x for `a : b :: c : x` (unit rows)."""
    _check_method(method)
    if method == "3cosadd":  # cos(x, b) - cos(x, a) + cos(x, c), as one product
        return (unit[b] - unit[a] + unit[c]) @ unit.T
    scores = _shifted_cosines(unit, b)
    scores *= _shifted_cosines(unit, c)
    denominator = _shifted_cosines(unit, a)
    denominator += COSMUL_EPSILON
    scores /= denominator
    return scores


def _shifted_cosines(unit: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(cos + 1) / 2 of the given rows against the vocabulary, in [0, 1] (computed in place)."""
    cosines = unit[rows] @ unit.T
    cosines += 1
    cosines *= 0.5
    return cosines


def _best_answers(unit: np.ndarray, abc: np.ndarray, method: str, first: np.ndarray) -> np.ndarray:
    """Argmax over the vocabulary of each question's score, never a, b or c nor a token
    folding to one of them (`first`: each token's first token of the same folded form)."""
    scores = analogy_scores(unit, abc[:, 0], abc[:, 1], abc[:, 2], method)
    scores[np.arange(len(abc))[:, None], abc] = -np.inf
    variants = np.flatnonzero(first != np.arange(len(first)))  # "King" after "king"
    if len(variants):
        block = scores[:, variants]
        block[(first[variants][None, None, :] == abc[:, :, None]).any(axis=1)] = -np.inf
        scores[:, variants] = block
    return scores.argmax(axis=1)


def _encode_questions(questions: Sequence[Question], index: dict[str, int],
                      fold: Callable[[str], str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Section names, each question's section id, and the ids of its 4 words (-1: unknown)."""
    names: dict[str, int] = {}
    section_ids = np.array([names.setdefault(q[0], len(names)) for q in questions], dtype=np.int64)
    words = [fold(w) for q in questions for w in q[1:5]]
    ids = np.array([index.get(w, -1) for w in words], dtype=np.int64).reshape(len(questions), 4)
    return list(names), section_ids, ids


def _summarise(sections: list[str], section_ids: np.ndarray, used: np.ndarray, correct: np.ndarray) -> dict:
    """Overall, per-section and semantic / syntactic counts and ratios."""
    n = len(sections)
    totals = np.bincount(section_ids, minlength=n)
    useds = np.bincount(section_ids, weights=used, minlength=n).astype(np.int64)
    corrects = np.bincount(section_ids, weights=correct, minlength=n).astype(np.int64)
    syntactic = np.array([name.startswith("gram") for name in sections], dtype=bool)
    return {
        "accuracy": _ratio(correct.sum(), used.sum()),
        "coverage": _ratio(used.sum(), len(used)),
        "correct": int(correct.sum()),
        "used": int(used.sum()),
        "total": int(len(used)),
        "sections": {name: {"correct": int(corrects[i]), "used": int(useds[i]), "total": int(totals[i]),
                            "accuracy": _ratio(corrects[i], useds[i])} for i, name in enumerate(sections)},
        "semantic_accuracy": _ratio(corrects[~syntactic].sum(), useds[~syntactic].sum()),
        "syntactic_accuracy": _ratio(corrects[syntactic].sum(), useds[syntactic].sum()),
    }


def _ratio(numerator, denominator) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown analogy method {method!r} (expected one of {', '.join(METHODS)})")


# ---------------------------------------------------------------- similarity

def evaluate_similarity(tokens: Sequence[str], vectors: np.ndarray, pairs: Sequence[tuple[str, str, float]],
                        lowercase: bool = True) -> dict:
    """Spearman rho between human scores and cosine similarity over the in-vocabulary pairs
    (case-insensitively unless `lowercase` is false, as for analogies)."""
    from scipy.stats import spearmanr  # scipy is a dev/eval dependency, not needed to import this module

    fold = _fold(lowercase)
    index, _ = folded_index(tokens, fold)
    left = np.array([index.get(fold(p[0]), -1) for p in pairs], dtype=np.int64)
    right = np.array([index.get(fold(p[1]), -1) for p in pairs], dtype=np.int64)
    human = np.array([p[2] for p in pairs], dtype=np.float64)
    known = (left >= 0) & (right >= 0)
    vectors = np.asarray(vectors)
    cosines = np.einsum("ij,ij->i", unit_rows(vectors[left[known]]), unit_rows(vectors[right[known]]))
    used = int(known.sum())
    rho = float(spearmanr(human[known], cosines)[0]) if used >= 3 else 0.0
    return {"spearman": rho if math.isfinite(rho) else 0.0, "used": used, "total": len(pairs),
            "coverage": _ratio(used, len(pairs))}


# ---------------------------------------------------------------- interactive queries

def nearest(tokens: Sequence[str], vectors: np.ndarray, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k tokens with the highest cosine to `word`, the word itself excluded."""
    i = _lookup(token_index(tokens), word)
    unit = unit_rows(vectors)
    scores = unit @ unit[i]
    scores[i] = -np.inf
    return _top_entries(tokens, scores, k)


def analogy(tokens: Sequence[str], vectors: np.ndarray, a: str, b: str, c: str, k: int = 5,
            method: str = "3cosadd") -> list[tuple[str, float]]:
    """`a` is to `b` as `c` is to ?: the top k tokens by the method's score, a, b and c excluded."""
    index = token_index(tokens)
    abc = np.array([[_lookup(index, a), _lookup(index, b), _lookup(index, c)]])
    scores = analogy_scores(unit_rows(vectors), abc[:, 0], abc[:, 1], abc[:, 2], method)[0]
    scores[abc[0]] = -np.inf
    return _top_entries(tokens, scores, k)


def token_index(tokens: Sequence[str]) -> dict[str, int]:
    """Token -> id; a duplicated token keeps its first (most frequent) id."""
    tokens = list(tokens)
    return dict(zip(reversed(tokens), range(len(tokens) - 1, -1, -1)))


def folded_index(tokens: Sequence[str], fold: Callable[[str], str]) -> tuple[dict[str, int], np.ndarray]:
    """Folded word -> the id of its first (most frequent) token, and that id for every token."""
    folded = [fold(t) for t in tokens]
    index = token_index(folded)
    return index, np.array([index[f] for f in folded], dtype=np.int64)


def _fold(case_insensitive: bool) -> Callable[[str], str]:
    """gensim's case folding (upper case) or none."""
    return str.upper if case_insensitive else str


def _lookup(index: dict[str, int], word: str) -> int:
    if word not in index:
        raise KeyError(f"{word!r} is not in the vocabulary")
    return index[word]


def _top_entries(tokens: Sequence[str], scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    """(token, score) of the k highest finite scores, best first (ties: lower id first)."""
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    threshold = scores[np.argpartition(-scores, k - 1)[:k]].min()
    top = np.flatnonzero(scores >= threshold)  # every tie at the threshold, so the lowest ids win
    top = top[np.lexsort((top, -scores[top]))][:k]
    return [(tokens[i], float(scores[i])) for i in top]


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """The analogy questions and the words their answers are searched among (the vocabulary's
    top_n): accuracy counts only the questions whose four words are among them, so a smaller
    vocabulary answers fewer, other questions. The method (3CosAdd, 3CosMul) is part of the metric."""
    from seqpipe.core.artifacts import sha256_json
    from seqpipe.data.vocab import Vocabulary

    vocab = Vocabulary.load(inputs.vocab)
    searched = vocab.tokens[len(vocab.specials):][: cfg.eval.top_n]
    return [cfg.eval.analogies], {"top_n": cfg.eval.top_n, "searched": sha256_json(searched), "method": cfg.eval.method}
