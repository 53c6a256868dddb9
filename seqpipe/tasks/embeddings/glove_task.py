"""GloVe as a task of the one training loop: co-occurrence counted per corpus shard as Ray
tasks (`seqpipe.core.fanout`), then `GloveTask`'s epochs on the Ray Train workers of
`seqpipe.training.loop`.

The co-occurrence matrix is built shard-parallel and merged once (sparse: memory grows
with the number of distinct pairs); each Ray Train worker then trains AdaGrad on its
strided share of the non-zero entries, in chunks of `chunk_tokens` entries. After every
chunk the workers SUM their increments to the AdaGrad accumulators: x = x0 + sum_k (x_k - x0),
so an accumulator that started at 1 becomes 1 + sum_k (G_k - 1), as if one process had taken
all the steps (glove.c's Hogwild threads add their updates the same way; averaging would leave
it N times too small and the steps sqrt(N) too large). The vectors and biases move by the
workers' summed moves, shrunk where they agree, and N workers start at lr * sqrt(N), as
word2vec's (`scaling.merge_summed_moves`, `scaling.worker_lr`).
Measured on the 20M-word book corpus of bench/data.md (100d, 3 epochs; analogy accuracy /
WordSim353 / loss): one worker 2.1% / 0.032 / 0.0149; 8 workers summing every increment
diverged (an infinite loss from epoch 1); 8 workers with this merge 3.4% / 0.048 / 0.0162
(0.4% / -0.030 with every worker at lr 0.05, no sqrt(N)). GloVe needs many more epochs than 3 on this corpus.
Rank 0 evaluates, the loop logs and checkpoints (every tensor of `GloveParams` as .npy,
progress as JSON); each epoch's order is drawn from (seed, rank, epoch), so a resumed run
repeats the uninterrupted one.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqpipe.core.driver_files import Sent, received_paths, send
from seqpipe.core.fanout import run_tasks
from seqpipe.data.corpus import load_ids, shard_paths
from seqpipe.data.vocab import Vocabulary
from seqpipe.tasks.embeddings.glove import cooccurrence, epoch_order, glove_epoch, glove_vectors, init_glove
from seqpipe.tasks.embeddings.quality import EpochEvaluation
from seqpipe.training.scaling import merge_increments, merge_summed_moves, worker_lr

GLOVE_LR = 0.05
_NAMES = ["w", "w_ctx", "b", "b_ctx", "gradsq_w", "gradsq_w_ctx", "gradsq_b", "gradsq_b_ctx"]  # params.tensors()


def count_shard(corpus: Sent, shard: str, vocab_folder: Sent, window: int, runtime) -> tuple[np.ndarray, np.ndarray]:
    """(pair keys row * V + col, values) of one corpus shard's co-occurrences, on any node."""
    with received_paths([corpus, vocab_folder], runtime) as (corpus_path, vocab_path):
        return _count_shard(str(Path(corpus_path) / shard), vocab_path, window)


def _count_shard(path: str, vocab_uri: str, window: int) -> tuple[np.ndarray, np.ndarray]:
    vocab = Vocabulary.load(vocab_uri)
    specials = len(vocab.specials)
    ids, sentence = load_ids([path], vocab.tokens, specials)
    offsets = np.concatenate([[0], np.flatnonzero(np.diff(sentence)) + 1, [len(ids)]]).astype(np.int64)
    rows, cols, values = cooccurrence(ids - specials, offsets, len(vocab) - specials, window=window)
    return rows.astype(np.int64) * (len(vocab) - specials) + cols, values


def cooccurrence_file(config: dict, cfg, runtime, run_name: str) -> Path:
    """The run's cooc.npz, next to its Ray Train checkpoints: counted once, reused by a rerun."""
    work = runtime.local_dir / "ray_results" / run_name
    work.mkdir(parents=True, exist_ok=True)
    return work / "cooc.npz" if (work / "cooc.npz").exists() else build_cooccurrence(config, cfg, runtime, work)


def build_cooccurrence(config: dict, cfg, runtime, folder: Path) -> Path:
    """Count every shard as a Ray task, merge, save cooc.npz (rows, cols, values)."""
    corpus, vocab = send(config["corpus_uri"], runtime), send(config["vocab_uri"], runtime)
    shards = [str(Path(p).relative_to(config["corpus_uri"])) for p in shard_paths(config["corpus_uri"])]
    parts = run_tasks(count_shard, [(corpus, shard, vocab, cfg.glove_window, runtime) for shard in shards], runtime)
    keys = np.concatenate([k for k, _ in parts])
    values = np.concatenate([v for _, v in parts])
    unique, inverse = np.unique(keys, return_inverse=True)
    merged = np.bincount(inverse, weights=values).astype(np.float32)
    vocab = Vocabulary.load(config["vocab_uri"])
    size = len(vocab) - len(vocab.specials)
    np.savez(folder / "cooc.npz", rows=(unique // size).astype(np.int64), cols=(unique % size).astype(np.int64),
             values=merged)
    return folder / "cooc.npz"


def train_epoch(params, entries: list[torch.Tensor], cfg, rank: int, epoch: int, n_chunks: int,
                reduce: Callable[[torch.Tensor], None] | None = None) -> float:
    """One worker's epoch over its entries (rows, cols, values); returns the summed cost.

    `reduce` sums a tensor over the workers in place (all_reduce); it runs after each of the
    n_chunks chunks, which every worker must take the same number of (None: one worker).
    """
    order = epoch_order(len(entries[0]), cfg.seed, rank, epoch)
    bounds = np.linspace(0, len(order), n_chunks + 1).astype(np.int64)
    cost = 0.0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        before = [t.clone() for t in params.tensors()] if reduce else []
        cost += glove_epoch(params, *entries, order[lo:hi], cfg.batch_pairs * 4, lr=cfg.lr or GLOVE_LR,
                            x_max=cfg.glove_x_max, alpha=cfg.glove_alpha)
        if reduce:  # vectors and biases: summed moves, shrunk where they agree; AdaGrad's sums: summed
            tensors = params.tensors()
            merge_summed_moves(tensors[:4], before[:4], reduce)
            merge_increments(tensors[4:], before[4:], reduce)
    return cost


class GloveTask:
    """AdaGrad on this worker's strided share of the co-occurrence entries (an EpochTask)."""

    def __init__(self, cfg, task_config: dict):
        vocab = Vocabulary.load(task_config["vocab_uri"])
        self.cfg, self.cooc, self.tokens = cfg, task_config["cooc"], vocab.tokens[len(vocab.specials):]
        self.params = init_glove(len(self.tokens), cfg.dim, seed=cfg.seed)

    def start(self, rank: int, world: int) -> None:
        cooc = np.load(self.cooc)
        self.entries = [torch.from_numpy(cooc[k][rank::world]) for k in ("rows", "cols", "values")]
        self.n_chunks = max(1, -(-len(cooc["values"]) // world // self.cfg.chunk_tokens))
        self.rank, self.world = rank, world
        if world > 1:  # as word2vec's: a row the workers agree on moves by their mean
            self.cfg = self.cfg.model_copy(update={"lr": worker_lr(self.cfg.lr or GLOVE_LR, world)})
        self.evaluation = EpochEvaluation(self.cfg.eval, self.tokens) if rank == 0 else None

    def run_epoch(self, epoch: int) -> dict:
        import torch.distributed as dist

        started = time.perf_counter()
        cost = train_epoch(self.params, self.entries, self.cfg, self.rank, epoch, self.n_chunks,
                           dist.all_reduce if self.world > 1 else None)
        metrics = {"loss": cost / max(len(self.entries[0]), 1), "seconds": time.perf_counter() - started, "words": 0}
        if self.rank == 0:
            metrics.update(self.evaluation(glove_vectors(self.params)))
        return metrics

    def state(self) -> dict[str, np.ndarray]:
        return {name: tensor.cpu().numpy() for name, tensor in zip(_NAMES, self.params.tensors())}

    def progress(self) -> dict:
        return {}

    def load_state(self, arrays: dict[str, np.ndarray], progress: dict) -> None:
        for name, tensor in zip(_NAMES, self.params.tensors()):
            tensor.copy_(torch.from_numpy(arrays[name]))
