"""GloVe on Ray: co-occurrence counted per corpus shard as Ray tasks, trained on Ray Train.

The co-occurrence matrix is built shard-parallel and merged once (sparse: memory grows
with the number of distinct pairs); each Ray Train worker then trains AdaGrad on its
strided share of the non-zero entries, in chunks of `chunk_tokens` entries. After every
chunk the workers SUM their increments to every tensor, vectors, biases and AdaGrad
accumulators alike: x = x0 + sum_k (x_k - x0), so an accumulator that started at 1 becomes
1 + sum_k (G_k - 1), as if one process had taken all the steps (glove.c's Hogwild threads
add their updates the same way). Averaging instead would leave every accumulator N times
too small, the steps sqrt(N) too large, and the result dependent on num_workers.
Measured on the 20M-word book corpus of bench/data.md (100d, 5 epochs; analogy accuracy /
WordSim353): one worker 5.9% / 0.077; 2 workers summing 5.8% / 0.080, averaging every tensor
1.6% / 0.023, word2vec's per-row mean of the vectors 1.6% / 0.031; 4 workers summing diverged
(an infinite loss in epoch 1): more workers than cores is not yet usable for GloVe.
Rank 0 evaluates, logs and checkpoints; each epoch's order is drawn from (seed, rank,
epoch), so a resumed run repeats the uninterrupted one.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

GLOVE_LR = 0.05


def count_shard(path: str, vocab_uri: str, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair keys row * V + col, values) of one corpus shard's co-occurrences."""
    from seqpipe.data.corpus import load_ids
    from seqpipe.tasks.embeddings.glove import cooccurrence
    from seqpipe.data.vocab import Vocabulary

    vocab = Vocabulary.load(vocab_uri)
    specials = len(vocab.specials)
    ids, sentence = load_ids([path], vocab.tokens, specials)
    offsets = np.concatenate([[0], np.flatnonzero(np.diff(sentence)) + 1, [len(ids)]]).astype(np.int64)
    rows, cols, values = cooccurrence(ids - specials, offsets, len(vocab) - specials, window=window)
    return rows.astype(np.int64) * (len(vocab) - specials) + cols, values


def build_cooccurrence(config: dict, cfg, runtime, folder: Path) -> Path:
    """Count every shard as a Ray task, merge, save cooc.npz (rows, cols, values)."""
    from seqpipe.data.corpus import shard_paths
    from seqpipe.core.fanout import run_tasks

    parts = run_tasks(count_shard, [(p, config["vocab_uri"], cfg.glove_window) for p in
                                    shard_paths(config["corpus_uri"])], runtime)
    keys = np.concatenate([k for k, _ in parts])
    values = np.concatenate([v for _, v in parts])
    unique, inverse = np.unique(keys, return_inverse=True)
    merged = np.bincount(inverse, weights=values).astype(np.float32)
    size = config["words"]
    np.savez(folder / "cooc.npz", rows=(unique // size).astype(np.int64), cols=(unique % size).astype(np.int64),
             values=merged)
    return folder / "cooc.npz"


def train_epoch(params, entries: list[torch.Tensor], cfg, rank: int, epoch: int, n_chunks: int,
                reduce: Callable[[torch.Tensor], None] | None = None) -> float:
    """One worker's epoch over its entries (rows, cols, values); returns the summed cost.

    `reduce` sums a tensor over the workers in place (all_reduce); it runs after each of the
    n_chunks chunks, which every worker must take the same number of (None: one worker).
    """
    from seqpipe.tasks.embeddings.glove import epoch_order, glove_epoch
    from seqpipe.training.scaling import merge_increments

    order = epoch_order(len(entries[0]), cfg.seed, rank, epoch)
    bounds = np.linspace(0, len(order), n_chunks + 1).astype(np.int64)
    cost = 0.0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        before = [t.clone() for t in params.tensors()] if reduce else []
        cost += glove_epoch(params, *entries, order[lo:hi], cfg.batch_pairs * 4, lr=cfg.lr or GLOVE_LR,
                            x_max=cfg.glove_x_max, alpha=cfg.glove_alpha)
        if reduce:
            merge_increments(params.tensors(), before, reduce)
    return cost


def worker_loop(config: dict) -> None:
    import ray.train
    import torch.distributed as dist

    from seqpipe.config import EmbeddingsConfig, RuntimeConfig
    from seqpipe.tasks.embeddings.glove import glove_vectors, init_glove
    from seqpipe.tasks.embeddings.quality import EpochEvaluation
    from seqpipe.training.loop import log_epoch, out_of_time

    cfg, runtime = EmbeddingsConfig.model_validate(config["cfg"]), RuntimeConfig.model_validate(config["runtime"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(config["threads"])
    torch.set_flush_denormal(True)
    cooc = np.load(config["cooc"])
    entries = [torch.from_numpy(cooc[k][rank::world]) for k in ("rows", "cols", "values")]
    n_chunks = max(1, -(-len(cooc["values"]) // world // cfg.chunk_tokens))
    params = init_glove(config["words"], cfg.dim, seed=cfg.seed)
    start, history = _restore(ray.train.get_checkpoint(), params)
    evaluation = EpochEvaluation(cfg.eval, config["tokens"]) if rank == 0 else None
    budget_started = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        started = time.perf_counter()
        cost = train_epoch(params, entries, cfg, rank, epoch, n_chunks, dist.all_reduce if world > 1 else None)
        metrics = {"loss": cost / max(len(entries[0]), 1), "seconds": time.perf_counter() - started, "words": 0}
        if rank == 0:
            metrics.update(evaluation(glove_vectors(params)))
            log_epoch(runtime, config.get("mlflow_run_id"), metrics, epoch + 1)
        history.append(metrics)
        with tempfile.TemporaryDirectory() as folder:
            if rank == 0:
                _save(params, epoch + 1, history, Path(folder))
            checkpoint = ray.train.Checkpoint.from_directory(folder) if rank == 0 else None
            ray.train.report({**metrics, "epoch": epoch + 1}, checkpoint=checkpoint)
        if out_of_time(budget_started, cfg.max_minutes, world, torch.device("cpu")):
            break


def fit(config: dict, cfg, runtime, run_name: str) -> tuple[np.ndarray, list[dict]]:
    """Co-occurrence, then training on cfg.num_workers workers; (vectors W + W~, history)."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from seqpipe.core.fanout import ensure_ray
    from seqpipe.training.scaling import worker_scaling
    from seqpipe.data.vocab import Vocabulary

    ensure_ray(runtime)
    vocab = Vocabulary.load(config["vocab_uri"])
    tokens = vocab.tokens[len(vocab.specials):]
    work = Path(runtime.state_dir).resolve() / "ray_results" / run_name
    work.mkdir(parents=True, exist_ok=True)
    config = {**config, "words": len(tokens), "tokens": tokens}
    cooc = work / "cooc.npz" if (work / "cooc.npz").exists() else build_cooccurrence(config, cfg, runtime, work)
    scaling, threads = worker_scaling(cfg.num_workers, cfg.use_gpu, cfg.threads_per_worker)
    trainer = TorchTrainer(
        worker_loop, train_loop_config={**config, "cooc": str(cooc), "threads": threads}, scaling_config=scaling,
        run_config=ray.train.RunConfig(name=run_name, storage_path=str(work.parent),
                                       checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
                                       failure_config=ray.train.FailureConfig(max_failures=2)))
    checkpoint = trainer.fit().checkpoint
    with checkpoint.as_directory() as folder:
        progress = json.loads((Path(folder) / "progress.json").read_text())
        return np.load(Path(folder) / "w.npy") + np.load(Path(folder) / "w_ctx.npy"), progress["history"]


_NAMES = ["w", "w_ctx", "b", "b_ctx", "gradsq_w", "gradsq_w_ctx", "gradsq_b", "gradsq_b_ctx"]  # params.tensors()


def _save(params, epoch: int, history: list[dict], folder: Path) -> None:
    for name, tensor in zip(_NAMES, params.tensors()):
        np.save(folder / f"{name}.npy", tensor.cpu().numpy())
    (folder / "progress.json").write_text(json.dumps({"epoch": epoch, "history": history}))


def _restore(checkpoint, params) -> tuple[int, list[dict]]:
    if checkpoint is None:
        return 0, []
    with checkpoint.as_directory() as folder:
        for name, tensor in zip(_NAMES, params.tensors()):
            tensor.copy_(torch.from_numpy(np.load(Path(folder) / f"{name}.npy")))
        progress = json.loads((Path(folder) / "progress.json").read_text())
    return progress["epoch"], progress["history"]
