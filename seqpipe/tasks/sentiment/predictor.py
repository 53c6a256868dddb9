"""A trained sentiment folder: the label of raw text and its probability."""
from __future__ import annotations

import json
from pathlib import Path

from seqpipe.core.errors import InputError
from seqpipe.core.paths import load_weights
from seqpipe.tasks.sentiment.data import tokenize_texts
from seqpipe.tasks.sentiment.task import UNK, build_classifier, probabilities, read_lines


class Classifier:
    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / "model.pt").exists():
            raise InputError(f"{folder}: not a sentiment model folder (no model.pt)")
        self.words = {w: i for i, w in enumerate(read_lines(folder / "words.txt"))}
        self.labels = read_lines(folder / "labels.txt")
        self.spec = json.loads((folder / "model.json").read_text())
        self.model = build_classifier(folder, with_init=False)
        self.model.load_state_dict(load_weights(folder / "model.pt"))
        self.model.eval()

    def predict(self, texts: list[str]) -> list[str]:
        """Each text's label and probabilities, as JSON (the registered pyfunc's output)."""
        return [json.dumps(c) for c in self.classify(texts)]

    def classify(self, texts: list[str]) -> list[dict]:
        """{"label", "probability", "probabilities": {label: p}} of each text."""
        tokens = tokenize_texts(texts, self.spec["lowercase"], self.spec["max_words"])
        examples = [([self.words.get(w, UNK) for w in words] or [UNK], 0) for words in tokens]
        found = []
        for row in probabilities(self.model, examples).tolist() if examples else []:
            best = max(range(len(row)), key=row.__getitem__)
            found.append({"label": self.labels[best], "probability": row[best],
                          "probabilities": dict(zip(self.labels, row))})
        return found


Predictor = Classifier
