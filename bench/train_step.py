"""Benchmark: training-step throughput of the speech recogniser and the NER tagger, on CPU or GPU.

    .venv/bin/python bench/train_step.py                 # cuda when present, else cpu
    .venv/bin/python bench/train_step.py --device cpu --json steps.json

The models alone (random inputs of realistic shapes, AdamW steps), without Ray or data
loading: what a device gives the model code. Each figure is the mean of 10 timed steps
after 3 warm-up steps. No peer: compare devices by running it on each.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, print_table, write_json  # noqa: E402


def timed(step, device: str, warmup: int = 3, iters: int = 10) -> float:
    import torch

    for _ in range(warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters


def training_step(model, inputs: tuple):
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)

    def step():
        optimizer.zero_grad()
        loss, _ = model(*inputs)
        loss.backward()
        optimizer.step()
    return step


def speech_frames_per_s(device: str, batch: int = 16, frames: int = 800) -> float:
    """2 stride-2 convolutions, 3 x BiGRU 256 (as the README's figures were measured), CTC over 28 characters + blank."""
    import torch

    from seqpipe.models.acoustic import AcousticModel

    model = AcousticModel(80, 29, layers=3).to(device).train()
    inputs = (torch.randn(batch, frames, 80, device=device), torch.full((batch,), frames),
              torch.randint(1, 29, (batch, 60), device=device), torch.full((batch,), 60))
    return batch * frames / timed(training_step(model, inputs), device)


def ner_tokens_per_s(device: str, batch: int = 32, length: int = 30) -> float:
    """The `ner` defaults: 20k-word embeddings, character BiLSTM, casing, BiLSTM 256, CRF over 17 tags."""
    import torch
    from torch import nn

    from seqpipe.models.tagger import Tagger

    model = Tagger(nn.Embedding(20_000, 100, padding_idx=0), 17, num_chars=100).to(device).train()
    inputs = (torch.randint(1, 20_000, (batch, length), device=device),
              torch.randint(0, 4, (batch, length), device=device), torch.full((batch,), length),
              torch.randint(0, 17, (batch, length), device=device),
              torch.randint(1, 100, (batch, length, 12), device=device))
    return batch * length / timed(training_step(model, inputs), device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when present")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args()
    import torch

    torch.manual_seed(0)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    figures = {"device": device, "machine": machine(),
               "speech_frames_per_s": round(speech_frames_per_s(device)),
               "ner_tokens_per_s": round(ner_tokens_per_s(device))}
    print(f"machine: {figures['machine']}; device: {device}")
    print_table([("speech recogniser, batch 16 x 800 frames", f"{figures['speech_frames_per_s']:,} input frames/s"),
                 ("NER tagger, batch 32 x 30 tokens", f"{figures['ner_tokens_per_s']:,} tokens/s")],
                ("training step", "throughput"))
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
