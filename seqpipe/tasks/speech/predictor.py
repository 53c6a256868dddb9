"""A trained speech folder: transcribe audio files."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from seqpipe.config import SpeechConfig
from seqpipe.decoding.ctc import greedy, prefix_beam_search
from seqpipe.core.errors import InputError
from seqpipe.tasks.speech.audio import read_audio
from seqpipe.tasks.speech.features import LogMel
from seqpipe.tasks.speech.evaluate import DECODING_FILE, load_acoustic_model
from seqpipe.tasks.speech.fusion import NGRAM_FILE, RecurrentCharLM
from seqpipe.models.char_ngram import CharNgramLM
from seqpipe.tasks.speech.task import labels_to_text

DECODING = {"alpha": "lm_alpha", "beta": "lm_beta", "prune": "beam_prune"}  # transcribe() argument -> speech key


class Transcriber:
    """A speech model folder that decodes as it was evaluated: beam search fused with the
    folder's own n-gram LM (fusion_lm.json) when it has one, with the fusion weights tuned on
    dev (decoding.json) and the beam_prune of the config it was trained with (its
    manifest.json), unless `decoding` ({"alpha", "beta", "prune"}) or transcribe()'s
    arguments say otherwise."""

    def __init__(self, folder: str | Path, decoding: dict | None = None):
        self.folder = Path(folder)
        if not (self.folder / "model.pt").exists():
            raise InputError(f"{self.folder}: not a speech model folder (no model.pt)")
        self.model, self.alphabet = load_acoustic_model(self.folder)
        f = json.loads((self.folder / "model.json").read_text())["features"]
        self.logmel = LogMel(f["sample_rate"], f["n_fft"], f["hop"], f["n_mels"])
        self.decoding = {**trained_decoding(self.folder), **(decoding or {})}
        own = self.folder / NGRAM_FILE
        self.own_lm = CharNgramLM.load(own) if own.is_file() else None  # loaded once, not per file

    def predict(self, paths: list[str]) -> list[str]:
        """Greedy transcripts of audio file paths (the registered pyfunc's output)."""
        return [self.transcribe(path) for path in paths]

    def transcribe(self, path: str | Path, beam: int = 0, lm: str | None = None, alpha: float | None = None,
                   beta: float | None = None, prune: float | None = None) -> str:
        """The text of an audio file (any rate, resampled): greedy (beam 0) or prefix beam search,
        fused with a character LM folder when given, else with the folder's own n-gram LM;
        None = the folder's decoding settings."""
        wave = read_audio(path, self.logmel.sample_rate)
        features = self.logmel.normalise(self.logmel(wave)).unsqueeze(0)
        with torch.no_grad():
            log_probs, _ = self.model.log_probs(features, torch.tensor([features.shape[1]]))
        if beam == 0:
            return labels_to_text(greedy(log_probs[0])[0], self.alphabet)
        given = {"alpha": alpha, "beta": beta, "prune": prune}
        alpha, beta, prune = (self.decoding[k] if given[k] is None else given[k] for k in DECODING)
        fusion = RecurrentCharLM(lm, self.alphabet) if lm else self.own_lm
        best = prefix_beam_search(log_probs[0], beam, lm=fusion, alpha=alpha, beta=beta if fusion else 0.0, prune=prune)
        return labels_to_text(best[0][0], self.alphabet)


def trained_decoding(folder: Path) -> dict:
    """{"alpha", "beta", "prune"} the folder was evaluated with: decoding.json's tuned weights,
    else the speech config in its manifest.json (the defaults for a key neither has)."""
    path, tuned = Path(folder) / "manifest.json", Path(folder) / DECODING_FILE
    saved = json.loads(path.read_text(encoding="utf-8")).get("config", {}) if path.is_file() else {}
    saved.update(json.loads(tuned.read_text(encoding="utf-8")) if tuned.is_file() else {})
    return {arg: saved.get(key, SpeechConfig.model_fields[key].default) for arg, key in DECODING.items()}


Predictor = Transcriber
