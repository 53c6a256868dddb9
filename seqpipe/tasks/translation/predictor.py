"""A trained translation folder: translate raw text."""
from __future__ import annotations

import unicodedata
from pathlib import Path

from seqpipe.core.errors import InputError
from seqpipe.tasks.translation.evaluate import decode, load_translator


class Translator:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not (self.folder / "model.pt").exists():
            raise InputError(f"{self.folder}: not a translation model folder (no model.pt)")
        self.model, self.vocab = load_translator(self.folder)

    def predict(self, texts: list[str]) -> list[str]:
        """Translations with the default beam search (the registered pyfunc's output)."""
        return self.translate(texts)

    def translate(self, texts: list[str], beam: int = 5, alpha: float = 0.7, max_len: int = 200) -> list[str]:
        """Translations of raw texts: beam search (beam 0 = greedy) with length normalisation alpha."""
        clean = [unicodedata.normalize("NFC", " ".join(t.split())) for t in texts]  # as the readers clean
        examples = [{"src": self.vocab.encode_source(self.vocab.source_tokenizer.tokenize(t))} for t in clean]
        return [self.vocab.decode_target(ids) for ids in decode(self.model, examples, beam, alpha, max_len)]


Predictor = Translator
