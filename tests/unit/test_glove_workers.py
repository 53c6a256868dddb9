"""GloVe on several workers: AdaGrad's accumulators sum the workers' increments, the vectors and
biases their moves (shrunk where they agree), and 2 workers at lr * sqrt(2) reach one worker's loss.

Two real processes joined by torch.distributed (gloo on 127.0.0.1), running the worker
loop's own epoch function; no Ray needed for the arithmetic of the merge.
"""
from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqpipe.config import EmbeddingsConfig
from seqpipe.tasks.embeddings.glove import glove_loss, init_glove
from seqpipe.tasks.embeddings.glove_task import train_epoch
from seqpipe.training.scaling import merge_increments, worker_lr

VOCAB, DIM, EPOCHS = 41, 8, 50  # odd: rank::2 shares mix the columns
CFG = EmbeddingsConfig(algo="glove", dim=DIM, lr=0.1, batch_pairs=16, chunk_tokens=1000, seed=3)


def cooccurrences():
    rng = np.random.default_rng(0)
    u, v = rng.normal(0, 0.7, (VOCAB, 4)), rng.normal(0, 0.7, (VOCAB, 4))
    x = np.maximum(np.exp(u @ v.T + 2.0 + rng.normal(0, 0.05, (VOCAB, VOCAB))), 1e-2)
    rows, cols = np.divmod(np.arange(VOCAB * VOCAB), VOCAB)
    return [torch.as_tensor(rows), torch.as_tensor(cols), torch.as_tensor(x.reshape(-1), dtype=torch.float32)]


def train(rank: int, world: int, reduce=None, epochs: int = EPOCHS, n_chunks: int = 2) -> list[torch.Tensor]:
    entries = [e[rank::world] for e in cooccurrences()]
    params = init_glove(VOCAB, DIM, seed=CFG.seed)
    cfg = CFG.model_copy(update={"lr": worker_lr(CFG.lr, world)})  # as GloveTask.start
    for epoch in range(epochs):
        train_epoch(params, entries, cfg, rank, epoch, n_chunks=n_chunks, reduce=reduce)
    return params.tensors()


def as_params(tensors):
    params = init_glove(VOCAB, DIM)
    for tensor, saved in zip(params.tensors(), tensors):
        tensor.copy_(saved)
    return params


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    accumulator = torch.tensor([1.0, 1.0]) + torch.tensor([0.5, 2.0]) * (rank + 1)  # G_k from G = 1
    merge_increments([accumulator], [torch.ones(2)], dist.all_reduce)
    tensors = train(rank, 2, dist.all_reduce)
    if rank == 0:
        torch.save({"merged": accumulator, "tensors": tensors}, out)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path_factory.mktemp("glove") / "params.pt")
    mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
    saved = torch.load(out)
    return as_params(train(0, 1)), as_params(saved["tensors"]), saved["merged"]


def test_accumulators_merge_as_one_plus_the_sum_of_the_increments(two_workers):
    _, _, merged = two_workers
    assert merged.tolist() == [1 + 0.5 + 1.0, 1 + 2.0 + 4.0]  # averaging would give [1.75, 4.0]


def test_one_and_two_workers_reach_the_same_loss(two_workers):
    one, two, *_ = two_workers
    entries = cooccurrences()
    start = float(glove_loss(init_glove(VOCAB, DIM, seed=CFG.seed), *entries))
    loss_one, loss_two = float(glove_loss(one, *entries)), float(glove_loss(two, *entries))
    assert loss_one < 0.01 * start
    assert loss_two == pytest.approx(loss_one, rel=0.2)  # averaging every tensor: 4.5x higher


def _one_of_eight(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=8)
    torch.set_num_threads(1)
    tensors = train(rank, 8, dist.all_reduce, epochs=20, n_chunks=1)  # an eighth of the entries between merges
    if rank == 0:
        torch.save(tensors, out)
    dist.destroy_process_group()


def test_eight_workers_merging_once_an_epoch_converge(tmp_path):
    """Summing every increment diverged here (NaN), as it did on the book corpus (an infinite loss)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_one_of_eight, args=(port, str(tmp_path / "params.pt")), nprocs=8, join=True)
    entries = cooccurrences()
    start = float(glove_loss(init_glove(VOCAB, DIM, seed=CFG.seed), *entries))
    assert float(glove_loss(as_params(torch.load(tmp_path / "params.pt")), *entries)) < 0.01 * start
