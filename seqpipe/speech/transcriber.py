"""A trained speech folder: transcribe audio files."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from seqpipe.decoding.ctc import greedy, prefix_beam_search
from seqpipe.errors import InputError
from seqpipe.speech.audio import read_audio
from seqpipe.speech.features import LogMel
from seqpipe.speech.report import RecurrentCharLM, load_acoustic_model
from seqpipe.speech.training import labels_to_text


class Transcriber:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not (self.folder / "model.pt").exists():
            raise InputError(f"{self.folder}: not a speech model folder (no model.pt)")
        self.model, self.alphabet = load_acoustic_model(self.folder)
        f = json.loads((self.folder / "model.json").read_text())["features"]
        self.logmel = LogMel(f["sample_rate"], f["n_fft"], f["hop"], f["n_mels"])

    def transcribe(self, path: str | Path, beam: int = 0, lm: str | None = None, alpha: float = 0.5,
                   beta: float = 1.0, prune: float = -5.0) -> str:
        """The text of an audio file (any rate, resampled): greedy (beam 0) or prefix beam search,
        fused with a character LM folder when given."""
        wave = read_audio(path, self.logmel.sample_rate)
        features = self.logmel.normalise(self.logmel(wave)).unsqueeze(0)
        with torch.no_grad():
            log_probs, _ = self.model.log_probs(features, torch.tensor([features.shape[1]]))
        if beam == 0:
            return labels_to_text(greedy(log_probs[0])[0], self.alphabet)
        fusion = RecurrentCharLM(lm, self.alphabet) if lm else None
        best = prefix_beam_search(log_probs[0], beam, lm=fusion, alpha=alpha, beta=beta if fusion else 0.0, prune=prune)
        return labels_to_text(best[0][0], self.alphabet)
