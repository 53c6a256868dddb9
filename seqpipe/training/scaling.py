"""How many Ray Train workers, with how many CPUs and torch threads each, how many stages
train side by side, and how the embedding trainers' workers merge what they learned."""
from __future__ import annotations

import os
import sys
from typing import Callable

import torch


def worker_scaling(num_workers: int, use_gpu: bool, threads_per_worker: int | None, stages_at_once: int = 1):
    """(ScalingConfig, torch threads per worker) sharing the stage's part of the cluster's CPUs
    (1 / stages_at_once of them) between the workers.

    A worker asks for no more than its share of the CPUs (fractional when there are
    fewer CPUs than workers), so a small machine can still place them all.
    """
    import ray
    import ray.train

    cores = max(1, int(ray.cluster_resources().get("CPU", 1)) // stages_at_once)
    per_worker = max(1, cores // num_workers)
    scaling = ray.train.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                      resources_per_worker={"CPU": min(per_worker, cores / num_workers)})
    return scaling, threads_per_worker or per_worker


def stages_at_once(runtime, trains: list) -> int:
    """How many training stages run side by side: runtime.max_concurrent_stages, or as many as the
    cluster's CPUs (one per worker thread) and GPUs (one per worker) hold for the most demanding
    of `trains` (the stages' training settings: num_workers, threads_per_worker, use_gpu)."""
    if runtime.max_concurrent_stages or not trains:
        return min(runtime.max_concurrent_stages or 1, max(1, len(trains)))
    cpus, gpus = _cluster_cpus_gpus(runtime)
    fit = cpus // max(t.num_workers * (t.threads_per_worker or 1) for t in trains)
    gpu_workers = [t.num_workers for t in trains if t.use_gpu]
    if gpu_workers:
        fit = min(fit, gpus // max(gpu_workers))
    return max(1, min(fit, len(trains)))


def _cluster_cpus_gpus(runtime) -> tuple[int, int]:
    """The CPUs and GPUs of the cluster; of this machine for a local Ray not started yet (a rerun
    whose stages are all reused never starts it)."""
    from seqpipe.core.fanout import ensure_ray

    started = "ray" in sys.modules and sys.modules["ray"].is_initialized()
    if runtime.ray_address == "local" and not started:
        return runtime.num_cpus or os.cpu_count() or 1, torch.cuda.device_count()
    import ray

    ensure_ray(runtime)
    resources = ray.cluster_resources()
    return int(resources.get("CPU", 1)), int(resources.get("GPU", 0))


def merge_increments(tensors: list[torch.Tensor], before: list[torch.Tensor],
                     reduce: Callable[[torch.Tensor], None]) -> None:
    """tensor = before + sum over workers of (tensor_k - before), in place.

    `reduce` sums a tensor over the workers (all_reduce). Every worker's steps count, as the
    updates of glove.c's threads on shared memory do; an AdaGrad accumulator that started at 1
    becomes 1 + sum_k (G_k - 1) (GloVe's accumulators: `seqpipe.tasks.embeddings.glove_task`).
    """
    for tensor, start in zip(tensors, before):
        tensor -= start
        reduce(tensor)
        tensor += start


def worker_lr(lr: float, workers: int) -> float:
    """The learning rate each of `workers` embedding workers (word2vec, GloVe) starts from: lr * sqrt(workers).

    merge_summed_moves gives a row the workers agree on (a frequent word, moved the same way on
    every share) their mean move, which trains it at lr / N, and a row one worker moved its whole
    move. sqrt(N) sits between: on the book corpus of bench/data.md (skip-gram, 3 epochs) 2 workers
    went from 32.3% to 35.3% analogy accuracy, 4 from 30.8% to 34.6%, 8 from 24.9% to 31.5% (one
    worker 35.4%); 4 * lr with 8 workers gave 30.9%. GloVe, 8 workers: 0.4% to 3.4% (one 2.1%).
    """
    return lr * workers ** 0.5


def rows_to_merge(merge: int, merges: int, rows: int, base: int) -> int:
    """How many leading (most frequent) rows merge number `merge` (1, 2, ...) of an epoch's `merges` sums.

    pWord2Vec's schedule (Ji et al. 2016, "Parallelizing Word2Vec in Shared and Distributed
    Memory"): `base` rows at every merge, 2 * base at every 2nd, 4 * base at every 4th, ...
    (base << the trailing zero bits of `merge`), and every row at the epoch's last merge. Rows are
    in frequency order, so by Zipf's law a row takes about as many steps between two of its
    merges whatever its rank, and a merge costs about base * log2(rows / base) rows, not all.
    """
    if merge >= merges:
        return rows
    return min(rows, base << ((merge & -merge).bit_length() - 1))


def merge_leading_rows(tensors: list[torch.Tensor], before: list[torch.Tensor],
                       reduce: Callable[[torch.Tensor], None], rows: int, rule: Callable = None) -> None:
    """`rule` (merge_summed_moves, or merge_increments) on the first `rows` rows of every tensor,
    then before[:rows] = tensor[:rows].

    The other rows keep this worker's own moves until a later merge takes them in: as their
    `before` stays at their last merge, that merge counts every move since then.
    """
    parts, starts = [t[:rows] for t in tensors], [b[:rows] for b in before]
    (rule or merge_summed_moves)(parts, starts, reduce)
    for start, part in zip(starts, parts):
        start.copy_(part)


def merge_summed_moves(tensors: list[torch.Tensor], before: list[torch.Tensor],
                       reduce: Callable[[torch.Tensor], None]) -> None:
    """Each row moves by the sum of the workers' moves, shrunk where the moves agree, in place:
    by s * sum_k d_k with s = min(1, sum_k |d_k|^2 / |sum_k d_k|^2).

    Moves in unrelated directions (a row a few steps moved on each worker: SGD steps on
    different contexts) are summed, as one process taking all the steps would; N equal moves
    (a frequent row that each worker already took to the same place: summing would overshoot
    N-fold, and diverged) give their mean. The merged move is never longer than
    sqrt(sum_k |d_k|^2). A row one worker moved keeps its move. (1-D tensors: per element.)
    """
    for tensor, start in zip(tensors, before):
        tensor -= start
        squares = tensor * tensor if tensor.dim() == 1 else (tensor * tensor).sum(1)
        reduce(tensor)
        reduce(squares)
        summed = tensor * tensor if tensor.dim() == 1 else (tensor * tensor).sum(1)
        shrink = (squares / summed.clamp(min=torch.finfo(tensor.dtype).tiny)).clamp(max=1.0)
        tensor *= shrink if tensor.dim() == 1 else shrink[:, None]
        tensor += start


def trainer_class(runtime):
    """Ray Train's TorchTrainer; on the Ray this process started, without its placement-group
    cleaner. The cleaner asks Ray's State API every second whether the controller lives; that
    API is served by the dashboard, which a local Ray runs without (README, Security defaults),
    so it printed a warning each second, and with a second local Ray on the machine (another
    seqpipe run, the tests) it could not tell which to ask and crashed the run. A local Ray
    ends with this process, and its placement groups with it: there is nothing to clean."""
    from ray.train.torch import TorchTrainer
    from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback

    if runtime.ray_address != "local":
        return TorchTrainer

    class LocalTorchTrainer(TorchTrainer):
        def _create_default_callbacks(self):
            return [c for c in super()._create_default_callbacks() if not isinstance(c, PlacementGroupCleanerCallback)]

    return LocalTorchTrainer
