"""Word2vec on Ray Train: data-parallel workers that merge their moves after every chunk.

Each worker trains on its contiguous share of the corpus words with the plain loop of
`seqpipe.tasks.embeddings.word2vec`; after every chunk (about `chunk_tokens` words) each row of
W_in and W_out moves by the mean of the moves of the workers that moved it
(`scaling.merge_moves`): a word only one worker saw keeps its whole update, a frequent
word gets the workers' average. Measured on the 20M-word book corpus of bench/data.md
(skip-gram 100d, 5 epochs, a row cap of 256; analogy accuracy / WordSim353): one worker 39.4% / 0.500;
2 workers averaging 36.5% / 0.475, summing 38.0% / 0.484, this rule 37.0% / 0.468;
4 workers averaging 28.9% / 0.438, summing diverged (NaN in epoch 1), this rule 30.0% / 0.451. Rank 0 evaluates, logs the
epoch's metrics to MLflow and writes the checkpoint (W_in, W_out, progress as .npy and
JSON: nothing is unpickled on resume). A rerun with the same run name resumes from the
last checkpoint.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def worker_loop(config: dict) -> None:
    """The function every Ray Train worker runs (config holds plain JSON-able values)."""
    import ray.train
    import torch.distributed as dist

    from seqpipe.config import EmbeddingsConfig, RuntimeConfig
    from seqpipe.data.corpus import load_ids, shard_paths
    from seqpipe.tasks.embeddings.quality import EpochEvaluation
    from seqpipe.tasks.embeddings.word2vec import Word2VecState, train_epoch
    from seqpipe.training.loop import log_epoch, out_of_time
    from seqpipe.training.scaling import merge_moves
    from seqpipe.data.vocab import Vocabulary

    cfg, runtime = EmbeddingsConfig.model_validate(config["cfg"]), RuntimeConfig.model_validate(config["runtime"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(config["threads"])
    torch.set_flush_denormal(True)  # tiny updates to near-zero rows would otherwise run 10x slower
    device = ray.train.torch.get_device() if cfg.use_gpu else torch.device("cpu")

    vocab = Vocabulary.load(config["vocab_uri"])
    ids, sentence = load_ids(shard_paths(config["corpus_uri"]), vocab.tokens, len(vocab.specials))
    share = np.linspace(0, len(ids), world + 1).astype(np.int64)
    ids, sentence = ids[share[rank]:share[rank + 1]], sentence[share[rank]:share[rank + 1]]
    n_chunks = max(1, -(-int(share[1] - share[0]) // cfg.chunk_tokens))
    state, history = _restore(ray.train.get_checkpoint(), device) or (Word2VecState(*_init(cfg, vocab, device)), [])
    noise, tree = _output_layer(cfg, vocab, config["vocab_uri"], device)

    before = [state.w_in.clone(), state.w_out.clone()] if world > 1 else []

    def merge() -> None:
        merge_moves([state.w_in, state.w_out], before, dist.all_reduce)
        for start, tensor in zip(before, (state.w_in, state.w_out)):
            start.copy_(tensor)

    keep = vocab.keep_probabilities(cfg.sample)
    started = time.perf_counter()
    evaluation = EpochEvaluation(cfg.eval, vocab.tokens[len(vocab.specials):]) if rank == 0 else None
    for _ in range(state.epoch, cfg.epochs):
        metrics = train_epoch(state, ids, sentence, cfg, keep, noise, tree, len(ids) * cfg.epochs,
                              seed=cfg.seed * 100 + rank, n_chunks=n_chunks, sync=merge if world > 1 else None)
        metrics = _combine_across_workers(metrics, world, device)
        if rank == 0:
            metrics.update(evaluation(state.w_in[len(vocab.specials):].cpu().numpy()))
            log_epoch(runtime, config.get("mlflow_run_id"), metrics, state.epoch)
        history.append(metrics)
        with tempfile.TemporaryDirectory() as folder:
            if rank == 0:
                _save(state, history, Path(folder))
            checkpoint = ray.train.Checkpoint.from_directory(folder) if rank == 0 else None
            ray.train.report({**metrics, "epoch": state.epoch}, checkpoint=checkpoint)
        if out_of_time(started, cfg.max_minutes, world, device):
            break


def fit(config: dict, cfg, runtime, run_name: str):
    """Run worker_loop on cfg.num_workers Ray Train workers; returns the last checkpoint's folder."""
    import ray.train
    from ray.train.torch import TorchTrainer

    from seqpipe.core.fanout import ensure_ray
    from seqpipe.training.scaling import worker_scaling

    ensure_ray(runtime)
    scaling, threads = worker_scaling(cfg.num_workers, cfg.use_gpu, cfg.threads_per_worker)
    trainer = TorchTrainer(
        worker_loop, train_loop_config={**config, "threads": threads}, scaling_config=scaling,
        run_config=ray.train.RunConfig(
            name=run_name, storage_path=str((Path(runtime.state_dir) / "ray_results").resolve()),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
            failure_config=ray.train.FailureConfig(max_failures=2)),
    )
    result = trainer.fit()
    return result.checkpoint


def load_checkpoint(checkpoint) -> tuple[np.ndarray, np.ndarray, dict]:
    with checkpoint.as_directory() as folder:
        folder = Path(folder)
        progress = json.loads((folder / "progress.json").read_text())
        return np.load(folder / "w_in.npy"), np.load(folder / "w_out.npy"), progress


def _init(cfg, vocab, device):
    from seqpipe.tasks.embeddings import sgns

    w_in, w_out = sgns.init_vectors(len(vocab), cfg.dim, cfg.seed, device)
    if cfg.loss == "hs":  # one output row per inner node of the Huffman tree
        w_out = torch.zeros(max(len(vocab) - 1, 1), cfg.dim, device=device)
    return w_in, w_out


def _output_layer(cfg, vocab, vocab_uri: str, device):
    """The noise sampler (negative sampling) or the Huffman tree (hierarchical softmax)."""
    from seqpipe.tasks.embeddings import sgns
    from seqpipe.tasks.embeddings.word2vec import Tree

    if cfg.loss == "ns":
        table = np.load(Path(vocab_uri) / "unigram.npz")
        return sgns.NoiseSampler(table["prob"], table["alias"], device), None
    from seqpipe.tasks.embeddings import hsoftmax

    counts = vocab.counts.copy()
    counts[: len(vocab.specials)] = 0
    return None, Tree(*hsoftmax.to_tensors(*hsoftmax.huffman_tree(counts), device=device))


def _combine_across_workers(metrics: dict, world: int, device) -> dict:
    """Sum words and pairs over the workers; loss is the pair-weighted mean; time the slowest."""
    if world == 1:
        return metrics
    import torch.distributed as dist

    values = torch.tensor([metrics["words"], metrics["pairs"], metrics["loss"] * metrics["pairs"]],
                          dtype=torch.float64, device=device)
    dist.all_reduce(values)
    seconds = torch.tensor([metrics["seconds"]], dtype=torch.float64, device=device)
    dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
    words, pairs, loss_sum = values.tolist()
    return {"words": words, "pairs": pairs, "loss": loss_sum / max(pairs, 1), "seconds": seconds.item(),
            "words_per_s": words / max(seconds.item(), 1e-9)}


def _save(state, history: list[dict], folder: Path) -> None:
    np.save(folder / "w_in.npy", state.w_in.cpu().numpy())
    np.save(folder / "w_out.npy", state.w_out.cpu().numpy())
    progress = {"epoch": state.epoch, "words_done": state.words_done, "history": history}
    (folder / "progress.json").write_text(json.dumps(progress))


def _restore(checkpoint, device):
    from seqpipe.tasks.embeddings.word2vec import Word2VecState

    if checkpoint is None:
        return None
    w_in, w_out, progress = load_checkpoint(checkpoint)
    state = Word2VecState(torch.from_numpy(w_in).to(device), torch.from_numpy(w_out).to(device),
                          progress["epoch"], progress["words_done"])
    return state, progress["history"]
