"""A trained captioning folder: caption image files with the batched beam search."""
from __future__ import annotations

import json
from pathlib import Path

from seqpipe.core.errors import InputError
from seqpipe.core.paths import load_weights
from seqpipe.tasks.captioning.data import load_image
from seqpipe.tasks.captioning.task import build_captioner, caption_images, read_lines


class ImageCaptioner:
    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / "model.pt").exists():
            raise InputError(f"{folder}: not a captioning model folder (no model.pt)")
        self.words = read_lines(folder / "words.txt")
        self.spec = json.loads((folder / "model.json").read_text())
        self.settings = json.loads((folder / "manifest.json").read_text())["config"] \
            if (folder / "manifest.json").exists() else {"beam": 5, "alpha": 0.7}
        self.model = build_captioner(folder)
        self.model.load_state_dict(load_weights(folder / "model.pt"))
        self.model.eval()

    def predict(self, paths: list[str]) -> list[str]:
        """The caption of each image file (the registered pyfunc's output)."""
        return self.caption(paths)

    def caption(self, paths: list[str], beam: int | None = None) -> list[str]:
        images = [load_image(p, self.spec["image_size"]) for p in paths]
        found = caption_images(self.model, images, self.settings["beam"] if beam is None else beam,
                               self.settings["alpha"], self.spec["max_words"] + 1)
        return [" ".join(self.words[i] for i in h.tokens) for h in found]


Predictor = ImageCaptioner
