"""How each side of a translation folder becomes tokens and back: characters, words, or
the side's own subword model (source.spm, target.spm beside source.txt and target.txt)."""
from __future__ import annotations

from pathlib import Path

from seqpipe.config import TranslationConfig
from seqpipe.data.subword import SubwordTokenizer, train_subword
from seqpipe.tasks.translation.parallel_text import Pair, detokenize, tokenize

SIDES = ("source", "target")


class LevelTokenizer:
    """Characters or words (seqpipe.tasks.translation.parallel_text.tokenize)."""

    def __init__(self, level: str):
        self.level = level

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.level)

    def detokenize(self, tokens) -> str:
        return detokenize(tokens, self.level)


def side_tokenizer(folder: Path, side: str, level: str):
    return SubwordTokenizer(Path(folder) / f"{side}.spm") if level == "subword" else LevelTokenizer(level)


def resolve_level(cfg: TranslationConfig, pairs: list[Pair]) -> str:
    """cfg.level, with "auto" made "subword" when a side has more than auto_subword_types
    word types in the training pairs, else "word"."""
    if cfg.level != "auto":
        return cfg.level
    types = max(len({w for p in pairs for w in tokenize(getattr(p, side), "word")}) for side in SIDES)
    return "subword" if types > cfg.auto_subword_types else "word"


def train_tokenizers(folder: Path, cfg: TranslationConfig, level: str, pairs: list[Pair]) -> dict:
    """The tokenizer of each side; at subword level, first the side's SentencePiece model,
    trained on the training pairs and written to the folder."""
    if level == "subword":
        for side in SIDES:
            train_subword((getattr(p, side) for p in pairs), Path(folder) / f"{side}.spm", cfg.subword.model,
                          cfg.subword.vocab_size, seed=cfg.train.seed)
    return {side: side_tokenizer(folder, side, level) for side in SIDES}
