"""Subword units: a SentencePiece model (BPE or unigram) trained from the training text
inside the pipeline and stored beside the vocabulary that uses it.

Training is deterministic: one thread, a fixed seed, the sentences in their order (at
most `max_sentences`, taken evenly through the text), so the same text and settings
give the same model file byte for byte. Byte fallback spells a character the model never
saw as its UTF-8 bytes, so every text round-trips: detokenize(tokenize(text)) == text for
text as the readers clean it (NFC, single spaces, no leading or trailing space).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

from seqpipe.core.errors import InputError

MAX_SENTENCE_CHARS = 4192


def train_subword(sentences: Iterable[str], path: Path, model_type: str = "bpe", vocab_size: int = 8000,
                  max_sentences: int = 1_000_000, seed: int = 0) -> Path:
    """Train a SentencePiece model on `sentences` and write it to `path`; returns `path`.

    The vocabulary may come out smaller than `vocab_size` when the text is small, and is
    never smaller than its characters plus the 256 byte pieces."""
    import sentencepiece as spm

    lines = [s for s in sentences if s.strip()]
    if not lines:
        raise InputError(f"{path.name}: no text to train subword units on")
    if len(lines) > max_sentences:
        step = len(lines) / max_sentences
        lines = [lines[int(i * step)] for i in range(max_sentences)]
    vocab_size = max(vocab_size, len(set("".join(lines))) + 256 + 1)  # every character, every byte, <unk>
    spm.set_random_generator_seed(seed)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, model_type=model_type, vocab_size=vocab_size,
        hard_vocab_limit=False, character_coverage=1.0, byte_fallback=True, num_threads=1,
        input_sentence_size=0, shuffle_input_sentence=False, max_sentence_length=MAX_SENTENCE_CHARS,
        split_digits=True, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2)
    path.write_bytes(model.getvalue())
    return path


class SubwordTokenizer:
    """Text to subword pieces and back, with the model a folder stores."""

    def __init__(self, path: str | Path):
        import sentencepiece as spm

        if not Path(path).is_file():
            raise InputError(f"{path}: no such subword model")
        self.processor = spm.SentencePieceProcessor(model_file=str(path))

    def tokenize(self, text: str) -> list[str]:
        return self.processor.encode(text, out_type=str)

    def detokenize(self, pieces: Iterable[str]) -> str:
        return self.processor.decode_pieces([p for p in pieces if p])

    def pieces(self) -> list[str]:
        """Every piece of the model, in id order (<unk> first)."""
        return [self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())]
