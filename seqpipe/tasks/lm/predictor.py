"""A trained language model folder: score sentences, sample new ones."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from seqpipe.core.artifacts import is_complete
from seqpipe.core.errors import InputError
from seqpipe.tasks.lm.data import units_of
from seqpipe.tasks.lm.task import build_model
from seqpipe.models.language_model import sample, sequence_log_prob
from seqpipe.core.paths import load_weights
from seqpipe.data.subword import SubwordTokenizer


class LanguageModelFolder:
    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / "model.pt").exists():
            raise InputError(f"{folder}: not a language-model folder (no model.pt)")
        self.folder = folder
        self.tokens = (folder / "tokens.txt").read_text(encoding="utf-8").split("\n")[:-1]
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.text = json.loads((folder / "text.json").read_text())
        self.model = build_model(folder, with_init=False)
        self.model.load_state_dict(load_weights(folder / "model.pt"))
        self.model.eval()
        self.complete = is_complete(folder)
        self.subword = SubwordTokenizer(folder / "subword.spm") if self.text["level"] == "subword" else None

    def predict(self, texts: list[str]) -> list[float]:
        """log P(text) of each text (the registered pyfunc's output)."""
        return [self.score(t)["log_prob"] for t in texts]

    def tokenize(self, text: str) -> list[str]:
        return units_of(text, self.text, self.subword)

    def score(self, text: str) -> dict:
        """log P(sentence) in nats: each token given the ones before it, then <eos>."""
        tokens = self.tokenize(text)
        unk = self.index["<unk>"]
        ids = [self.index.get(t, unk) for t in tokens] + [self.index["<eos>"]]
        per_token = sequence_log_prob(self.model, ids, self.index["<bos>"])
        return {"tokens": tokens + ["<eos>"], "log_probs": per_token, "log_prob": sum(per_token),
                "unknown": [t for t in tokens if t not in self.index]}

    def sample(self, n: int = 5, temperature: float = 1.0, max_len: int = 60, seed: int | None = None) -> list[str]:
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        banned = [self.index[t] for t in ("<pad>", "<unk>", "<bos>") if t in self.index]
        rows = sample(self.model, self.index["<bos>"], self.index["<eos>"], n, temperature, max_len, generator, banned)
        if self.subword:
            return [self.subword.detokenize(self.tokens[i] for i in row) for row in rows]
        joiner = "" if self.text["level"] == "char" else " "
        return [joiner.join(self.tokens[i] for i in row) for row in rows]


Predictor = LanguageModelFolder
