"""After training: test CER/WER of greedy CTC decoding, prefix beam search, and beam search
fused with a character language model (its weights tuned on dev), with the real-time factor
of each."""
from __future__ import annotations

import json
import time
from pathlib import Path

from seqpipe.config import SpeechConfig
from seqpipe.decoding.ctc import greedy, prefix_beam_search
from seqpipe.core.paths import load_weights
from seqpipe.core.artifacts import write_json
from seqpipe.tasks.speech.fusion import load_fusion_lm, tune_weights
from seqpipe.tasks.speech.task import build_model, emissions, error_rates, labels_to_text, load_split


def load_acoustic_model(folder: Path):
    model = build_model(folder)
    model.load_state_dict(load_weights(folder / "model.pt"))
    return model.eval(), json.loads((folder / "model.json").read_text())["alphabet"]


DECODING_FILE = "decoding.json"  # the fusion weights the folder was evaluated with (tuned on dev)


def evaluate_model(folder: Path, cfg: SpeechConfig, fusion_source: str | None) -> dict:
    model, alphabet = load_acoustic_model(folder)
    lm = load_fusion_lm(folder, fusion_source, alphabet)
    alpha, beta = fusion_weights(folder, model, lm, alphabet, cfg)
    split = "test" if any((folder / "features").glob("test-*.npz")) else "dev"
    examples = evenly_spaced(load_split(folder, split), cfg.beam_utterances)
    started = time.perf_counter()
    outputs = list(emissions(model, examples))
    acoustic_seconds = time.perf_counter() - started
    audio = sum(e["seconds"] for e in examples)
    metrics = {"evaluated_on": split, "test_utterances": len(examples), "test_audio_seconds": audio}
    if lm is not None:
        metrics.update(lm_alpha=alpha, lm_beta=beta)
    decoders = {"greedy": lambda lp: greedy(lp)[0],
                "beam": lambda lp: prefix_beam_search(lp, cfg.beam, lm=None, beta=0.0, prune=cfg.beam_prune)[0][0]}
    if lm is not None:
        decoders["beam_lm"] = lambda lp: prefix_beam_search(lp, cfg.beam, lm=lm, alpha=alpha,
                                                            beta=beta, prune=cfg.beam_prune)[0][0]
    for name, decode in decoders.items():
        started = time.perf_counter()
        hyps = [labels_to_text(decode(lp), alphabet) for lp, _ in outputs]
        seconds = time.perf_counter() - started + acoustic_seconds
        refs = [labels_to_text(e["labels"].tolist(), alphabet) for _, e in outputs]
        rates = error_rates(list(zip(hyps, refs)))
        metrics.update({f"cer_{name}": rates["cer"], f"wer_{name}": rates["wer"],
                        f"rtf_{name}": seconds / max(audio, 1e-9)})
    best = "beam_lm" if lm is not None else "beam"
    metrics.update(cer=metrics[f"cer_{best}"], wer=metrics[f"wer_{best}"], rtf=metrics[f"rtf_{best}"])
    return metrics


def fusion_weights(folder: Path, model, lm, alphabet: str, cfg: SpeechConfig) -> tuple[float, float]:
    """The configured (lm_alpha, lm_beta), or with lm_tune the best pair on beam_utterances dev
    utterances (spread evenly); written to decoding.json, which the folder's Transcriber decodes with."""
    alpha, beta = cfg.lm_alpha, cfg.lm_beta
    if lm is not None and cfg.lm_tune:
        dev = evenly_spaced(load_split(folder, "dev"), cfg.beam_utterances)
        log_probs = [lp for lp, _ in emissions(model, dev)]
        alpha, beta = tune_weights(lm, log_probs, [labels_to_text(e["labels"].tolist(), alphabet) for e in dev],
                                   alphabet, cfg)
    write_json(folder / DECODING_FILE, {"lm_alpha": alpha, "lm_beta": beta})
    return alpha, beta


def evenly_spaced(examples: list, n: int) -> list:
    """n of the examples spread evenly through the list (all of them when there are n or fewer)."""
    if len(examples) <= n:
        return examples
    return [examples[i * len(examples) // n] for i in range(n)]


def evaluation_set(cfg, inputs) -> tuple[list[str | None], dict]:
    """The test manifest, else the held-out part of the training manifest (whole speakers when it
    names them), read as the settings say (its fields; the alphabet: a transcript with another
    character is a reject), and the beam_utterances of it that every decoder is scored on."""
    reading = {"path_field": cfg.path_field, "transcript_field": cfg.transcript_field, "alphabet": cfg.alphabet,
               "beam_utterances": cfg.beam_utterances}
    if cfg.test_manifest:
        return [cfg.test_manifest], reading
    return [cfg.train_manifest, cfg.dev_manifest], {**reading, "speaker_field": cfg.speaker_field,
                                                    "dev_fraction": cfg.dev_fraction, "seed": cfg.train.seed}
