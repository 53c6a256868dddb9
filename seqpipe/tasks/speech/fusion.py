"""The character language model speech recognition fuses with, and the fusion weights.

`speech.fusion_lm` names the LM: "transcripts" (the default) fits a character n-gram LM
(seqpipe.models.char_ngram) to the training transcripts, a text file fits one to that
text (one sentence per line), and an lm-<hash> folder of the LM stage is used as it is
(a recurrent LM; "auto" in the pipeline = its corpus-trained `lm-char`). An n-gram LM is
stored in the speech folder as fusion_lm.json, so the folder decodes on its own.
With `lm_tune`, the fusion weights are chosen on the dev set from a grid that includes
the configured pair and "no LM", so beam + LM is never worse (in WER) than beam alone on dev.
"""
from __future__ import annotations

from pathlib import Path

import torch

from seqpipe.config import SpeechConfig
from seqpipe.core.errors import InputError
from seqpipe.core.predictor import load_predictor
from seqpipe.decoding.ctc import prefix_beam_search
from seqpipe.models.char_ngram import CharNgramLM
from seqpipe.tasks.speech.manifest import normalise_transcript

TRANSCRIPTS = "transcripts"
NGRAM_FILE = "fusion_lm.json"
ALPHAS = (0.5, 1.0, 2.0)  # the tuning grid, beside the configured lm_alpha, lm_beta and no LM
BETAS = (0.0, 1.0, 2.0)


def fusion_source(cfg: SpeechConfig, given_lm: str | None) -> str | None:
    """What the stage fuses with: an LM folder the caller gives (the pipeline's lm-char, --lm),
    else speech.fusion_lm ("transcripts", a text file or an LM folder); "auto" outside the
    pipeline and null: nothing."""
    if given_lm:
        return given_lm
    source = cfg.fusion_lm
    if source in (None, "auto"):
        return None
    if source != TRANSCRIPTS and not Path(source).exists():
        raise InputError(f"speech.fusion_lm: {source} does not exist (name 'transcripts', a text file "
                         "or a character-level lm-<hash> folder)")
    return source


def fit_ngram(folder: Path, cfg: SpeechConfig, source: str | None, transcripts: list[str]) -> None:
    """folder/fusion_lm.json, when the source is the training transcripts or a text file."""
    if source == TRANSCRIPTS:
        sentences = transcripts
    elif source and Path(source).is_file():
        with open(source, encoding="utf-8", errors="replace") as f:
            sentences = [normalise_transcript(line) for line in f]
    else:
        return
    CharNgramLM.fit(sentences, cfg.alphabet, cfg.lm_order).save(folder / NGRAM_FILE)


def load_fusion_lm(folder: Path, source: str | None, alphabet: str):
    """The folder's own n-gram LM, else the LM folder `source`, else None."""
    if (folder / NGRAM_FILE).is_file():
        return CharNgramLM.load(folder / NGRAM_FILE)
    return RecurrentCharLM(source, alphabet) if source and Path(source).is_dir() else None


def tune_weights(lm, dev_log_probs: list[torch.Tensor], references: list[str], alphabet: str,
                 cfg: SpeechConfig) -> tuple[float, float]:
    """(alpha, beta) with the lowest dev WER (then CER) over the grid; alpha 0 = no LM, tried first,
    so it wins ties. WER first: a LM turns a misheard word into a real word, which is what a
    transcript needs, though the word it picks may be further in characters from the truth."""
    from seqpipe.tasks.speech.task import error_rates, labels_to_text

    grid = [(0.0, 0.0), (cfg.lm_alpha, cfg.lm_beta)] + [(a, b) for a in ALPHAS for b in BETAS]
    scored = []
    for alpha, beta in dict.fromkeys(grid):
        hyps = [labels_to_text(prefix_beam_search(lp, cfg.beam, lm=lm, alpha=alpha, beta=beta,
                                                  prune=cfg.beam_prune)[0][0], alphabet) for lp in dev_log_probs]
        rates = error_rates(list(zip(hyps, references)))
        scored.append(((rates["wer"], rates["cer"]), (alpha, beta)))
    return min(scored, key=lambda s: s[0])[1]


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
