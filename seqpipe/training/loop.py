"""The one training loop, run by Ray Train workers, for every task.

A task module provides `build_task(task_config, device)`, named by a dotted path
"module:build_task", returning one of two kinds of task:

- a `Task` (the downstream models): the model, its examples and how to batch and
  evaluate them. The loop does the rest the same way for every such task: DDP through
  `ray.train.torch.prepare_model` (gloo on CPU, NCCL on GPUs), each worker on its own
  share of every epoch, AdamW or SGD, gradient clipping by global norm (the norm before
  clipping is logged), a stop with a clear error when the loss or the gradients stop
  being finite, early stopping on the validation metric, and the best and last
  checkpoints. An epoch cut short by the time budget is marked `partial_epoch` and does
  not count towards early stopping's patience.
- an `EpochTask` (word2vec, GloVe): it brings its own epoch step, which takes its own
  share of the data and merges across the workers itself, and its own state (numpy
  arrays and JSON progress); Ray keeps the latest checkpoints.

For both kinds the loop sets every worker up (torch threads, flushed denormals, device,
seeds), resumes from the last checkpoint, runs the epochs left, logs each epoch's metrics
to MLflow from rank 0 only, reports every epoch with a checkpoint written by rank 0
through `ray.train.report` (`seqpipe.training.checkpoint`: nothing is unpickled on
resume), and stops once `max_minutes` is spent. A supervised checkpoint also holds every
worker's generator states (`seqpipe.training.rng`), so a worker failure or a rerun with
the same run name resumes from the last checkpoint and repeats what the uninterrupted run
would have done.
"""
from __future__ import annotations

import importlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol, Sequence

import numpy as np
import torch
from torch import nn

from seqpipe.core.driver_files import received_paths
from seqpipe.core.errors import SeqpipeError
from seqpipe.training import checkpoint as checkpoints
from seqpipe.training import rng


class TrainingDiverged(SeqpipeError):
    """The loss or the gradient norm became NaN or infinite."""


@dataclass
class Task:
    model: nn.Module  # forward(**batch) -> (mean loss, number of predictions)
    train: list
    dev: list
    collate: Callable[[list, bool], dict]  # examples, training? -> keyword tensors for model.forward
    evaluate: Callable[[nn.Module, list], list]  # model in eval mode, dev examples -> one outcome per example
    summarize: Callable[[list], dict]  # every worker's outcomes -> validation metrics
    metric: str  # the validation metric early stopping and the best checkpoint follow
    mode: Literal["max", "min"]
    length: Callable[[Any], int] = len  # for batching examples of similar length together
    unused_parameters: bool = False  # DDP must look for parameters a step leaves unused (adaptive softmax)
    rngs: list = field(default_factory=list)  # the task's own random.Random generators (word dropout)


class EpochTask(Protocol):
    """A task that brings its own epoch step and checkpoint state (word2vec, GloVe).

    The loop calls start once, load_state when it resumes, then run_epoch for every epoch
    left, on every worker together; after each epoch rank 0's state() and progress() go
    into the checkpoint (one .npy file per array, progress.json).
    """

    def start(self, rank: int, world: int) -> None:
        """Take this worker's share of the data (world workers in all)."""

    def run_epoch(self, epoch: int) -> dict:
        """Train epoch `epoch` (0-based); the epoch's metrics (rank 0's with the evaluation)."""

    def state(self) -> dict[str, np.ndarray]:
        """The arrays a checkpoint saves, by name."""

    def progress(self) -> dict:
        """The task's own JSON-able progress fields (the loop adds epoch and history)."""

    def load_state(self, arrays: dict[str, np.ndarray], progress: dict) -> None:
        """Put back what state() and progress() gave (progress also holds epoch and history)."""


@dataclass
class Progress:
    epoch: int = 0
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    stopped: str = ""
    nodes: list = field(default_factory=list)  # the Ray node of every worker, by rank


def worker_loop(config: dict) -> None:
    """What every Ray Train worker runs; config holds JSON-able values, and the driver's paths in
    task_config as seqpipe.core.driver_files sent them (workers on other machines see no driver disk)."""
    import ray.train
    import ray.train.torch

    from seqpipe.config import RuntimeConfig

    cfg = _resolve(config["settings"]).model_validate(config["train"])  # TrainConfig, or an EpochTask's own
    runtime = RuntimeConfig.model_validate(config["runtime"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(config["threads"])
    torch.set_flush_denormal(True)  # tiny updates to near-zero rows would otherwise run 10x slower
    seed_everything(cfg.seed)  # the same on every worker while the model is built: DDP starts from rank 0's
    device = ray.train.torch.get_device() if cfg.use_gpu else torch.device("cpu")
    with received_paths(config["task_config"], runtime) as task_config:  # the driver's files, on this node
        task = _resolve(config["task"])(task_config, device)
        run = (_Supervised(task, cfg, rank, world, device) if isinstance(task, Task) else
               _OwnEpochs(task, rank, world, device))
        nodes = _worker_nodes(world)
        progress = run.restore(ray.train.get_checkpoint())
        progress.nodes = nodes
        run_id = config.get("mlflow_run_id") if _logs_live(runtime, nodes[0], config["driver_node"]) else None
        started = time.perf_counter()
        while progress.epoch < cfg.epochs and not progress.stopped:
            metrics = run.epoch(progress, started)
            if out_of_time(started, cfg.max_minutes, world, device) and not progress.stopped:
                progress.stopped = "time budget spent"
            if rank == 0:
                log_epoch(runtime, run_id, metrics, progress.epoch)
            run.report(progress, metrics)


def _logs_live(runtime, rank_0_node: str, driver_node: str) -> bool:
    """Whether rank 0 logs each epoch to MLflow as it ends: on the driver's machine, or with a
    tracking server every machine reaches; otherwise the driver logs the epochs after training."""
    from seqpipe.tracking import runs as tracking

    return rank_0_node == driver_node or tracking.reachable_from_any_machine(runtime)


def _record_workers(runtime, run_id: str | None, progress: dict, driver_node: str) -> None:
    """Tag the stage's run with the workers' Ray nodes and log the epochs rank 0 could not log."""
    nodes = progress.get("nodes") or []
    if not run_id or not nodes:
        return
    from seqpipe.tracking import runs as tracking

    tracking.set_tags_to(runtime, run_id, {"seqpipe.ray_nodes": ",".join(sorted(set(nodes)))})
    if not _logs_live(runtime, nodes[0], driver_node):
        for epoch, metrics in enumerate(progress["history"], 1):
            tracking.log_metrics_to(runtime, run_id, {**metrics, "epoch": epoch}, epoch)


def _worker_nodes(world: int) -> list[str]:
    """The Ray node of every worker, by rank (an all-gather: every worker calls it)."""
    import torch.distributed as dist

    from seqpipe.core.fanout import node_id

    if world == 1 or not dist.is_initialized():
        return [node_id()]
    nodes: list = [None] * world
    dist.all_gather_object(nodes, node_id())
    return nodes


class _Supervised:
    """A Task's epochs: DDP, clipping, validation, early stopping; model, optimiser and
    every worker's generators in the checkpoint."""

    def __init__(self, task: Task, cfg, rank: int, world: int, device):
        import ray.train.torch

        self.task, self.cfg, self.rank, self.world, self.device = task, cfg, rank, world, device
        rng.seed_worker(cfg.seed, rank, task.rngs)
        self.model = task.model.to(device)
        if world > 1:
            self.model = ray.train.torch.prepare_model(
                self.model, parallel_strategy_kwargs={"find_unused_parameters": task.unused_parameters})
        self.optimizer = make_optimizer(cfg, [p for p in self.model.parameters() if p.requires_grad])

    def restore(self, checkpoint) -> Progress:
        """Model, optimiser, progress and this worker's generators from the last checkpoint."""
        if checkpoint is None:
            return Progress()
        saved, states = checkpoints.load_model(checkpoint, unwrap(self.model), self.optimizer)
        if self.rank < len(states):  # with more workers than the run that saved it, the new ones start fresh
            rng.restore(states[self.rank], self.task.rngs)
        return Progress(**saved)

    def epoch(self, progress: Progress, started: float) -> dict:
        stats = train_epoch(self.model, self.optimizer, self.task, self.cfg, progress.epoch, self.rank, self.world,
                            self.device, started)
        metrics = (stats if stats.get("diverged") else
                   {**stats, **validate(unwrap(self.model), self.task, self.rank, self.world)})
        _advance(progress, metrics, self.task, self.cfg)
        return metrics

    def report(self, progress: Progress, metrics: dict) -> None:
        """Report the epoch with a checkpoint written by rank 0 (Ray keeps the best and the latest)."""
        states = [rng.capture(self.task.rngs)]
        if self.world > 1:
            import torch.distributed as dist

            states = [None] * self.world
            dist.all_gather_object(states, rng.capture(self.task.rngs))
        score = metrics.get(f"dev_{self.task.metric}", progress.best)
        worst = -math.inf if self.task.mode == "max" else math.inf
        score = score if score is not None and math.isfinite(score) else worst
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        model, optimizer = unwrap(self.model), self.optimizer
        write = (lambda folder: checkpoints.save_model(folder, model, optimizer, progress.__dict__, states))
        checkpoints.report({**numeric, "score": score, "epoch": progress.epoch}, write if self.rank == 0 else None)


class _OwnEpochs:
    """An EpochTask's epochs: its own step and state; the loop keeps epoch and history."""

    def __init__(self, task: EpochTask, rank: int, world: int, device):
        self.task, self.rank, self.world, self.device = task, rank, world, device
        task.start(rank, world)

    def restore(self, checkpoint) -> Progress:
        if checkpoint is None:
            return Progress()
        arrays, saved = checkpoints.load_arrays(checkpoint)
        self.task.load_state(arrays, saved)
        return Progress(epoch=saved["epoch"], history=saved["history"])

    def epoch(self, progress: Progress, started: float) -> dict:
        metrics = self.task.run_epoch(progress.epoch)
        progress.epoch += 1
        progress.history.append(metrics)
        diverged = torch.tensor([0.0 if math.isfinite(metrics.get("loss", 0.0)) else 1.0], device=self.device)
        if self.world > 1:  # every worker stops together
            import torch.distributed as dist

            dist.all_reduce(diverged)
        if diverged.item():
            progress.stopped = f"diverged: the loss of {int(diverged.item())} worker(s) is not finite"
        return metrics

    def report(self, progress: Progress, metrics: dict) -> None:
        """Report the epoch with rank 0's arrays and progress (its stop reason is for the driver; a resumed run
        does not read it)."""
        task, saved = self.task, {"epoch": progress.epoch, **self.task.progress(), "history": progress.history,
                                  "nodes": progress.nodes, "stopped": progress.stopped}
        write = (lambda folder: checkpoints.save_arrays(folder, task.state(), saved))
        checkpoints.report({**metrics, "epoch": progress.epoch}, write if self.rank == 0 else None)


def log_epoch(runtime, run_id: str | None, metrics: dict, epoch: int) -> None:
    """An epoch's metrics to the stage's MLflow run and to the log (rank 0 only)."""
    if run_id:
        from seqpipe.tracking import runs as tracking

        tracking.log_metrics_to(runtime, run_id, {**metrics, "epoch": epoch}, epoch)  # "epoch": the driver's progress
    print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in metrics.items()), flush=True)


def train_epoch(model, optimizer, task: Task, cfg, epoch: int, rank: int, world: int, device,
                started: float) -> dict:
    """One pass over this worker's share; stops early (all workers together) on divergence or time."""
    model.train()
    rng = random.Random(cfg.seed * 1000 + epoch)
    batches = make_batches(task.train, cfg.batch_size, rng, task.length, rank, world)
    loss_sum = predictions = 0.0  # over all workers
    norms, clipped, epoch_started = [], 0, time.perf_counter()
    for examples in batches:
        batch = {k: v.to(device) for k, v in task.collate(examples, True).items()}
        loss, count = model(**batch)
        # agree across workers before backward, so every worker stops at the same step
        shared = _all_reduce(torch.tensor([loss.item() * count, count, time.perf_counter() - started],
                                          dtype=torch.float64, device=device), world).cpu()
        if not math.isfinite(shared[0].item()):
            return {"diverged": 1.0, "reason": f"loss is {shared[0].item()} at epoch {epoch} step {len(norms)}"}
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm or float("inf")).item()
        if not math.isfinite(norm):
            return {"diverged": 1.0, "reason": f"gradient norm is {norm} at epoch {epoch} step {len(norms)}"}
        optimizer.step()
        norms.append(norm)
        clipped += bool(cfg.clip_norm and norm > cfg.clip_norm)
        loss_sum, predictions = loss_sum + shared[0].item(), predictions + shared[1].item()
        if cfg.max_minutes and shared[2].item() / world > cfg.max_minutes * 60:
            break
    seconds = time.perf_counter() - epoch_started
    partial = {"partial_epoch": 1.0} if len(norms) < len(batches) else {}
    return partial | {"train_loss": loss_sum / max(predictions, 1), "tokens_per_s": predictions / seconds,
            "grad_norm": float(np.mean(norms)) if norms else 0.0, "grad_norm_max": max(norms, default=0.0),
            "clipped_fraction": clipped / max(len(norms), 1), "epoch_seconds": seconds, "steps": len(norms)}


def validate(model: nn.Module, task: Task, rank: int, world: int) -> dict:
    """Every worker evaluates its share of the dev set; the outcomes are gathered and summarised."""
    model.eval()
    with torch.no_grad():
        outcomes = task.evaluate(model, task.dev[rank::world])
    if world > 1:
        import torch.distributed as dist

        gathered: list = [None] * world
        dist.all_gather_object(gathered, outcomes)
        outcomes = [o for part in gathered for o in part]
    return {f"dev_{k}": v for k, v in task.summarize(outcomes).items()}


def make_batches(examples: list, batch_size: int, rng: random.Random, length, rank: int = 0,
                 world: int = 1) -> list:
    """This worker's batches for one epoch: every worker gets the same number of batches.

    A seeded shuffle, an equal share per worker (a few examples repeat when the count
    does not divide), then batches of similar length (sorted within pools of 50 batches).
    """
    order = list(range(len(examples)))
    rng.shuffle(order)
    per_worker = max(1, math.ceil(len(order) / world))
    order = (order * (1 + per_worker * world // max(len(order), 1)))[: per_worker * world]
    mine = [examples[i] for i in order[rank::world]]
    pool = batch_size * 50
    batches = []
    for start in range(0, len(mine), pool):
        chunk = sorted(mine[start:start + pool], key=length)
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def make_optimizer(cfg, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def out_of_time(started: float, max_minutes: float | None, world: int = 1, device="cpu") -> bool:
    """Whether the training budget is spent; all workers agree (the slowest one's clock)."""
    if max_minutes is None:
        return False
    elapsed = torch.tensor([time.perf_counter() - started], dtype=torch.float64, device=device)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
    return elapsed.item() > max_minutes * 60


def _all_reduce(values: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(values)
    return values


def _advance(progress: Progress, metrics: dict, task: Task, cfg) -> Progress:
    """Count the epoch; track the best validation metric and early stopping."""
    progress.epoch += 1
    progress.history.append({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
    if metrics.get("diverged"):
        progress.stopped = "diverged: " + metrics["reason"]
        return progress
    value = metrics[f"dev_{task.metric}"]
    sign = 1 if task.mode == "max" else -1
    if progress.best is None or sign * (value - progress.best) > cfg.min_delta:
        progress.best, progress.best_epoch, progress.bad_epochs = value, progress.epoch, 0
    elif not metrics.get("partial_epoch"):  # a cut-short epoch is no evidence against more training
        progress.bad_epochs += 1
        if cfg.patience and progress.bad_epochs >= cfg.patience:
            progress.stopped = f"no better dev_{task.metric} for {cfg.patience} epochs"
    return progress


@dataclass
class FitResult:
    best_state: dict  # the best epoch's model state dict; mode "last": the last epoch's arrays
    progress: dict  # epoch and history; a Task's also best, best_epoch, bad_epochs, stopped


def fit(task: str, task_config: dict, cfg, runtime, run_name: str, mode: str = "max",
        mlflow_run_id: str | None = None, arrays: Sequence[str] | None = None) -> FitResult:
    """Train `task` ("module:build_task") on cfg.num_workers Ray Train workers.

    cfg: the training settings (TrainConfig for a Task; an EpochTask's own, EmbeddingsConfig),
    with seed, epochs, use_gpu, max_minutes, num_workers and threads_per_worker; the workers
    validate it again as its own class.
    mode: "max" / "min": a Task's validation metric is better higher / lower; the result holds
    the best epoch's model. "last" (an EpochTask): Ray keeps the two latest checkpoints and the
    result holds the last one's arrays, those named in `arrays` or all.

    A rerun with the same run_name resumes from the last checkpoint. Raises
    TrainingDiverged when the loss or the gradients stopped being finite.
    """
    from seqpipe.core.driver_files import send_paths
    from seqpipe.core.fanout import ensure_ray, node_id
    from seqpipe.training.scaling import trainer_class, worker_scaling

    ensure_ray(runtime)
    driver_node = node_id()
    scaling, threads = worker_scaling(cfg.num_workers, cfg.use_gpu, cfg.threads_per_worker,
                                      runtime.max_concurrent_stages or 1)
    runtime = runtime.absolute()  # workers' cwd differs
    config = {"task": task, "task_config": send_paths(task_config, runtime), "driver_node": driver_node, "settings": f"{type(cfg).__module__}:{type(cfg).__qualname__}",
              "train": cfg.model_dump(mode="json"), "runtime": runtime.model_dump(mode="json"),
              "mlflow_run_id": mlflow_run_id, "threads": threads}
    trainer = trainer_class(runtime)(worker_loop, train_loop_config=config, scaling_config=scaling,
                                     run_config=_run_config(cfg, runtime, run_name, mode))
    result = trainer.fit()
    fitted = FitResult(*checkpoints.load_arrays(result.checkpoint, arrays)) if mode == "last" else None
    progress = fitted.progress if fitted else checkpoints.load_progress(result.checkpoint)
    _record_workers(runtime, mlflow_run_id, progress, driver_node)
    if progress.get("stopped", "").startswith("diverged"):
        raise TrainingDiverged(f"training stopped, {progress['stopped']} (epoch {progress['epoch']}); lower the "
                               "learning rate, " + ("use fewer workers," if fitted else "set clip_norm,") +
                               " or check the data")
    if fitted:
        return fitted
    sign = 1 if mode == "max" else -1
    best, _ = max(result.best_checkpoints, key=lambda pair: sign * pair[1]["score"])
    return FitResult(best_state=checkpoints.load_model_state(best), progress=progress)


def _run_config(cfg, runtime, run_name: str, mode: str):
    """The run's folder (named: a rerun resumes), the checkpoints Ray keeps, the failures it recovers from."""
    import ray.train

    keep = (ray.train.CheckpointConfig(num_to_keep=2) if mode == "last" else
            ray.train.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="score", checkpoint_score_order=mode))
    return ray.train.RunConfig(
        name=run_name, storage_path=f"{runtime.state_dir.rstrip('/')}/ray_results", checkpoint_config=keep,
        failure_config=ray.train.FailureConfig(max_failures=getattr(cfg, "max_failures", 2)))  # EmbeddingsConfig: 2


def _resolve(path: str):
    """What a "module:name" path names: a task's build_task, the training settings' class."""
    module_name, _, name = path.partition(":")
    return getattr(importlib.import_module(module_name), name)
