"""After training: test CER/WER of greedy CTC decoding, prefix beam search, and beam search
fused with a character language model, with the real-time factor of each."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from seqpipe.config import SpeechConfig
from seqpipe.decoding.ctc import greedy, prefix_beam_search
from seqpipe.speech.training import build_model, emissions, error_rates, labels_to_text, load_split


class RecurrentCharLM:
    """A character-level language-model folder as the CharLM of CTC prefix beam search.

    A state is (log-probabilities of the next character, the RNN state); scoring a label
    reads its log-probability and runs one RNN step for the extended prefix.
    """

    def __init__(self, folder: str | Path, alphabet: str):
        from seqpipe.lm.generate import LanguageModelFolder

        self.lm = LanguageModelFolder(folder)
        if self.lm.text["level"] != "char":
            raise ValueError(f"{folder}: shallow fusion needs a character-level language model")
        unk = self.lm.index["<unk>"]
        self.tokens = [self.lm.index.get(c, unk) for c in alphabet]  # label i (from 1) -> LM token
        self.bos, self.eos = self.lm.index["<bos>"], self.lm.index["<eos>"]

    def _after(self, token: int, rnn_state):
        with torch.no_grad():
            log_probs, rnn_state = self.lm.model.log_probs(torch.tensor([[token]]), rnn_state)
        return log_probs[0, -1], rnn_state

    def initial(self):
        return self._after(self.bos, None)

    def score(self, state, label: int):
        token = self.tokens[label - 1]
        return float(state[0][token]), self._after(token, state[1])

    def end(self, state) -> float:
        return float(state[0][self.eos])


def load_acoustic_model(folder: Path):
    model = build_model(folder)
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return model.eval(), json.loads((folder / "model.json").read_text())["alphabet"]


def evaluate_model(folder: Path, cfg: SpeechConfig, fusion_lm: str | None) -> dict:
    model, alphabet = load_acoustic_model(folder)
    split = "test" if any((folder / "features").glob("test-*.npz")) else "dev"
    examples = load_split(folder, split)
    started = time.perf_counter()
    outputs = list(emissions(model, examples))
    acoustic_seconds = time.perf_counter() - started
    audio = sum(e["seconds"] for e in examples)
    metrics = {"evaluated_on": split, "test_utterances": len(examples), "test_audio_seconds": audio}
    lm = RecurrentCharLM(fusion_lm, alphabet) if fusion_lm else None
    decoders = {"greedy": lambda lp: greedy(lp)[0],
                "beam": lambda lp: prefix_beam_search(lp, cfg.beam, lm=None, beta=0.0)[0][0]}
    if lm is not None:
        decoders["beam_lm"] = lambda lp: prefix_beam_search(lp, cfg.beam, lm=lm, alpha=cfg.lm_alpha,
                                                            beta=cfg.lm_beta)[0][0]
    for name, decode in decoders.items():
        subset = outputs if name == "greedy" else outputs[: cfg.beam_utterances]
        started = time.perf_counter()
        hyps = [labels_to_text(decode(lp), alphabet) for lp, _ in subset]
        seconds = time.perf_counter() - started + acoustic_seconds * len(subset) / max(len(outputs), 1)
        refs = [labels_to_text(e["labels"].tolist(), alphabet) for _, e in subset]
        rates = error_rates(list(zip(hyps, refs)))
        metrics.update({f"cer_{name}": rates["cer"], f"wer_{name}": rates["wer"],
                        f"rtf_{name}": seconds / max(sum(e["seconds"] for _, e in subset), 1e-9)})
    best = "beam_lm" if lm is not None else "beam"
    metrics.update(cer=metrics[f"cer_{best}"], wer=metrics[f"wer_{best}"], rtf=metrics[f"rtf_{best}"])
    return metrics
