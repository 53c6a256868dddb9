"""After training: test CER/WER of greedy CTC decoding, prefix beam search, and beam search
fused with a character language model, with the real-time factor of each."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from seqpipe.config import SpeechConfig
from seqpipe.decoding.ctc import greedy, prefix_beam_search
from seqpipe.core.paths import load_weights
from seqpipe.core.predictor import load_predictor
from seqpipe.tasks.speech.task import build_model, emissions, error_rates, labels_to_text, load_split


class _LMState:
    """A prefix's LM state, computed only when the prefix is extended (most never are)."""
    __slots__ = ("parent", "token", "log_probs", "rnn")

    def __init__(self, parent, token: int, log_probs=None, rnn=None):
        self.parent, self.token, self.log_probs, self.rnn = parent, token, log_probs, rnn


class RecurrentCharLM:
    """A character-level language-model folder as the CharLM of CTC prefix beam search.

    A state holds the log-probabilities of the next character and the RNN state; the RNN
    step of an extended prefix runs only when that prefix is itself extended or ended.
    """

    def __init__(self, folder: str | Path, alphabet: str):
        self.lm = load_predictor(folder, "lm")  # the lm task's predictor, found from the folder's manifest
        if self.lm.text["level"] != "char":
            raise ValueError(f"{folder}: shallow fusion needs a character-level language model")
        unk = self.lm.index["<unk>"]
        self.tokens = [self.lm.index.get(c, unk) for c in alphabet]  # label i (from 1) -> LM token
        self.bos, self.eos = self.lm.index["<bos>"], self.lm.index["<eos>"]

    def _resolve(self, state: _LMState) -> _LMState:
        if state.log_probs is None:
            parent = self._resolve(state.parent) if state.parent is not None else None
            with torch.no_grad():
                log_probs, state.rnn = self.lm.model.log_probs(torch.tensor([[state.token]]),
                                                               parent.rnn if parent else None)
            state.log_probs, state.parent = log_probs[0, -1], None
        return state

    def initial(self) -> _LMState:
        return _LMState(None, self.bos)

    def score(self, state: _LMState, label: int):
        token = self.tokens[label - 1]
        return float(self._resolve(state).log_probs[token]), _LMState(state, token)

    def end(self, state: _LMState) -> float:
        return float(self._resolve(state).log_probs[self.eos])


def load_acoustic_model(folder: Path):
    model = build_model(folder)
    model.load_state_dict(load_weights(folder / "model.pt"))
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
                "beam": lambda lp: prefix_beam_search(lp, cfg.beam, lm=None, beta=0.0, prune=cfg.beam_prune)[0][0]}
    if lm is not None:
        decoders["beam_lm"] = lambda lp: prefix_beam_search(lp, cfg.beam, lm=lm, alpha=cfg.lm_alpha,
                                                            beta=cfg.lm_beta, prune=cfg.beam_prune)[0][0]
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


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """The test manifest, else the held-out part of the training manifest."""
    if cfg.test_manifest:
        return [cfg.test_manifest], {}
    return [cfg.train_manifest, cfg.dev_manifest], {"dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed}
