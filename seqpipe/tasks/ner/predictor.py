"""A trained NER folder: tag raw text, print the entities."""
from __future__ import annotations

import json
from pathlib import Path

from seqpipe.core.errors import InputError
from seqpipe.tasks.ner.tokenize import tokenize_with_offsets
from seqpipe.tasks.ner.task import Encoder, build_tagger, predict, to_iob2
from seqpipe.core.paths import load_weights


class NerTagger:
    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / "model.pt").exists():
            raise InputError(f"{folder}: not an NER model folder (no model.pt)")
        self.encoder = Encoder(folder)
        self.model = build_tagger(folder, with_init=False)
        self.model.load_state_dict(load_weights(folder / "model.pt"))
        self.model.eval()

    def predict(self, texts: list[str]) -> list[str]:
        """The entities of each text, as JSON (the registered pyfunc's output)."""
        return [json.dumps(self.entities(t)) for t in texts]

    def tag_tokens(self, sentences: list[list[str]]) -> list[list[str]]:
        """IOB2 tags of already tokenised sentences."""
        examples = [self.encoder.encode(tokens) for tokens in sentences if tokens]
        tags = iter(predict(self.model, self.encoder, examples))
        return [to_iob2(next(tags)) if tokens else [] for tokens in sentences]

    def entities(self, text: str) -> list[dict]:
        """The entities of a text: their words, type and character offsets."""
        pieces = tokenize_with_offsets(text)
        if not pieces:
            return []
        tags = self.tag_tokens([[p[0] for p in pieces]])[0]
        found, current = [], None
        for (_, start, end), tag in zip(pieces, tags):
            if tag == "O":
                current = None
            elif tag.startswith("I-") and current is not None and current["type"] == tag[2:]:
                current["end"] = end
            else:
                current = {"type": tag[2:], "start": start, "end": end}
                found.append(current)
        return [{**e, "text": text[e["start"]:e["end"]]} for e in found]


Predictor = NerTagger
