"""The speech (CTC) task of the shared training loop, and the model a folder holds.

A prepared folder (written by `seqpipe.tasks.speech.stage`) holds model.json (the feature
settings, the alphabet, the model's hyperparameters) and features/<split>-NNNNN.npz
shards: log-mel frames (float16) and label ids of every accepted utterance, computed
once, so epochs never decode audio again.
"""
from __future__ import annotations

import json
from pathlib import Path

import jiwer
import numpy as np
import torch

from seqpipe.decoding.ctc import greedy
from seqpipe.models.acoustic import AcousticModel
from seqpipe.training.loop import Task


def load_split(folder: Path, split: str) -> list[dict]:
    """The utterances of a split: frames (T, n_mels) float16, label ids, reference text, seconds."""
    examples = []
    for shard in sorted((folder / "features").glob(f"{split}-*.npz")):
        data = np.load(shard)
        frames, offsets = data["frames"], data["frame_offsets"]
        labels, label_offsets = data["labels"], data["label_offsets"]
        for i in range(len(offsets) - 1):
            examples.append({"frames": frames[offsets[i]:offsets[i + 1]],
                             "labels": labels[label_offsets[i]:label_offsets[i + 1]].astype(np.int64),
                             "seconds": float(data["seconds"][i]), "id": str(data["ids"][i])})
    return examples


def build_model(folder: Path) -> AcousticModel:
    spec = json.loads((folder / "model.json").read_text())
    m = spec["model"]
    return AcousticModel(spec["features"]["n_mels"], len(spec["alphabet"]) + 1, m["conv_layers"], m["conv_channels"],
                         m["cell"], m["hidden"], m["layers"], m["dropout"], m["freq_masks"], m["freq_width"],
                         m["time_masks"], m["time_width"], m.get("speed_perturb", 0.0), m.get("freq_warp", 0.0))


def collate(examples: list[dict], training: bool = True) -> dict:
    longest = max(len(e["frames"]) for e in examples)
    features = torch.zeros(len(examples), longest, examples[0]["frames"].shape[1])
    targets = torch.zeros(len(examples), max(len(e["labels"]) for e in examples), dtype=torch.long)
    for row, e in enumerate(examples):
        features[row, :len(e["frames"])] = torch.from_numpy(e["frames"].astype(np.float32))
        targets[row, :len(e["labels"])] = torch.from_numpy(e["labels"])
    batch = {"features": features, "lengths": torch.tensor([len(e["frames"]) for e in examples])}
    if training:
        batch.update(targets=targets, target_lengths=torch.tensor([len(e["labels"]) for e in examples]))
    return batch


def labels_to_text(ids: list[int], alphabet: str) -> str:
    return "".join(alphabet[i - 1] for i in ids if 0 < i <= len(alphabet))


def emissions(model: AcousticModel, examples: list[dict], batch_size: int = 16):
    """(log-probs (T', labels), seconds) per utterance, batched."""
    device = next(model.parameters()).device
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        batch = collate(chunk, training=False)
        with torch.no_grad():
            log_probs, lengths = model.log_probs(batch["features"].to(device), batch["lengths"].to(device))
        for row, e in enumerate(chunk):
            yield log_probs[row, : int(lengths[row])].cpu(), e


def error_rates(outcomes: list[tuple[str, str]]) -> dict:
    """Character and word error rates (jiwer) over (hypothesis, reference) pairs."""
    hyps, refs = [h for h, _ in outcomes], [r for _, r in outcomes]
    return {"cer": jiwer.cer(refs, hyps), "wer": jiwer.wer(refs, hyps)}


def build_task(task_config: dict, device) -> Task:
    """Utterances, batching, and the dev CER of greedy decoding after each epoch."""
    folder = Path(task_config["folder"])
    alphabet = json.loads((folder / "model.json").read_text())["alphabet"]

    def evaluate(model, dev):
        return [(labels_to_text(greedy(lp)[0], alphabet), labels_to_text(e["labels"].tolist(), alphabet))
                for lp, e in emissions(model, dev)]

    return Task(model=build_model(folder), train=load_split(folder, "train"), dev=load_split(folder, "dev"),
                collate=collate, evaluate=evaluate, summarize=error_rates, metric="cer", mode="min",
                length=lambda e: len(e["frames"]))
