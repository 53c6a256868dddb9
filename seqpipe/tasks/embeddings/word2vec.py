"""One worker's word2vec epoch, chunk by chunk, with the learning rate decaying linearly.

Plain numpy + torch, no Ray: `seqpipe.tasks.embeddings.task` runs it inside the Ray Train
workers of `seqpipe.training.loop` and merges the workers' moves after every chunk. Two
kernels train a chunk (`cfg.kernel`):
- hogwild (the CPU default): the compiled kernels of `seqpipe.tasks.embeddings.hogwild`
  walk the chunk in order on the worker's threads, each thread its own span.
- batched (the GPU path): the chunk is subsampled and made into shuffled pairs (in a
  background thread while the previous chunk trains), then SGD in batches of pairs with
  the torch kernels of `seqpipe.tasks.embeddings.sgns`.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from seqpipe.tasks.embeddings import sgns
from seqpipe.tasks.embeddings.data import cbow_windows, skipgram_pairs, subsample


@dataclass
class Word2VecState:
    w_in: torch.Tensor
    w_out: torch.Tensor
    epoch: int = 0          # epochs completed
    words_done: int = 0     # raw corpus words processed so far (drives the learning rate)


@dataclass
class Tree:
    """Huffman codes as tensors, for hierarchical softmax."""
    codes: torch.Tensor
    points: torch.Tensor
    lengths: torch.Tensor


def initial_lr(cfg) -> float:
    return cfg.lr or (0.025 if cfg.algo == "skipgram" else 0.05)


def train_epoch(state: Word2VecState, ids: np.ndarray, sentence: np.ndarray, cfg, keep_prob: np.ndarray,
                noise: sgns.NoiseSampler | None, tree: Tree | None, total_words: int, seed: int,
                n_chunks: int | None = None, sync: Callable[[], None] | None = None) -> dict:
    """Train one epoch over this worker's ids; returns loss, words and pairs trained, seconds.

    The ids are cut into n_chunks equal chunks (default: about chunk_tokens each) and
    `sync` (parameter averaging across workers) runs after every chunk, so workers with
    the same n_chunks call it the same number of times.
    """
    if use_hogwild(cfg, state.w_in.device):
        return _train_epoch_hogwild(state, ids, sentence, cfg, keep_prob, noise, tree, total_words, seed,
                                    n_chunks, sync)
    rng = np.random.default_rng([seed, state.epoch])
    generator = torch.Generator(device=state.w_in.device).manual_seed(seed * 1000 + state.epoch)
    n_chunks = n_chunks or max(1, -(-len(ids) // cfg.chunk_tokens))
    bounds = np.linspace(0, len(ids), n_chunks + 1).astype(np.int64)
    make = (lambda i: _chunk_examples(_span(ids, bounds[i], bounds[i + 1]), _span(sentence, bounds[i], bounds[i + 1]),
                                      keep_prob, cfg, rng, state.w_in.device))
    totals = {"loss": 0.0, "pairs": 0, "words": 0}
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        upcoming = pool.submit(make, 0)
        for i in range(n_chunks):
            inputs, outputs = upcoming.result()
            if i + 1 < n_chunks:
                upcoming = pool.submit(make, i + 1)
            chunk_words = int(bounds[i + 1] - bounds[i])
            _train_chunk(state, inputs, outputs, chunk_words, cfg, noise, tree, total_words, generator, totals)
            state.words_done += chunk_words
            totals["words"] += chunk_words
            if sync is not None:
                sync()
    seconds = time.perf_counter() - started
    state.epoch += 1
    return {"loss": totals["loss"] / max(totals["pairs"], 1), "words": totals["words"], "pairs": totals["pairs"],
            "seconds": seconds, "words_per_s": totals["words"] / max(seconds, 1e-9)}


def use_hogwild(cfg, device) -> bool:
    """The compiled CPU kernels unless the config asks for the batched ones or trains on a GPU."""
    return cfg.kernel == "hogwild" or (cfg.kernel == "auto" and torch.device(device).type == "cpu")


def _train_epoch_hogwild(state, ids, sentence, cfg, keep_prob, noise, tree, total_words, seed,
                         n_chunks, sync) -> dict:
    from seqpipe.tasks.embeddings import hogwild

    threads = max(1, torch.get_num_threads())
    n_chunks = n_chunks or max(1, -(-len(ids) // cfg.chunk_tokens))
    bounds = np.linspace(0, len(ids), n_chunks + 1).astype(np.int64)
    train_span = hogwild.span_trainer(
        state.w_in.numpy(), state.w_out.numpy(), cfg, keep_prob,
        noise=None if noise is None else (noise.prob.numpy(), noise.alias.numpy()),
        tree=None if tree is None else (tree.codes.numpy(), tree.points.numpy(), tree.lengths.numpy()))
    lr0, floor = initial_lr(cfg), initial_lr(cfg) * cfg.min_lr_ratio
    rate = (lambda words: max(floor, lr0 * (1.0 - words / max(total_words, 1))))
    totals, started = {"loss": 0.0, "pairs": 0}, time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i in range(n_chunks):
            spans = np.linspace(bounds[i], bounds[i + 1], threads + 1).astype(np.int64)
            chunk_words = int(bounds[i + 1] - bounds[i])
            lr_start, lr_end = rate(state.words_done), rate(state.words_done + chunk_words)
            seeds = np.random.SeedSequence([seed, state.epoch, i]).generate_state(threads, np.uint32)
            jobs = [pool.submit(train_span, _span(ids, a, b), _span(sentence, a, b), lr_start, lr_end, int(s))
                    for a, b, s in zip(spans[:-1], spans[1:], seeds)]
            for job in jobs:
                loss, pairs = job.result()
                totals["loss"] += loss
                totals["pairs"] += pairs
            state.words_done += chunk_words
            if sync is not None:
                sync()
    seconds = time.perf_counter() - started
    state.epoch += 1
    return {"loss": totals["loss"] / max(totals["pairs"], 1), "words": len(ids), "pairs": totals["pairs"],
            "seconds": seconds, "words_per_s": len(ids) / max(seconds, 1e-9)}


def _span(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """array[start:stop] as a plain ndarray view, no copy: a worker's share is memory-mapped
    (seqpipe.data.corpus.read_share), and the kernels read its pages as they go."""
    return np.asarray(array[start:stop])


def _chunk_examples(ids, sentence, keep_prob, cfg, rng, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffled training examples of one chunk: (inputs or contexts, outputs) as tensors."""
    kept, kept_sentence = subsample(ids, sentence, keep_prob, rng)
    if cfg.algo == "skipgram":
        inputs, outputs = skipgram_pairs(kept, kept_sentence, cfg.window, rng)
    else:
        inputs, outputs = cbow_windows(kept, kept_sentence, cfg.window, rng)
    order = rng.permutation(len(outputs))
    as_tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(a[order]).astype(np.int64)).to(device))
    return as_tensor(inputs), as_tensor(outputs)


def _train_chunk(state, inputs, outputs, chunk_words, cfg, noise, tree, total_words, generator, totals):
    batch = max(cfg.share_negatives, cfg.batch_pairs - cfg.batch_pairs % cfg.share_negatives)
    n = len(outputs) - len(outputs) % cfg.share_negatives  # whole groups only
    lr0, floor = initial_lr(cfg), initial_lr(cfg) * cfg.min_lr_ratio
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        progress = (state.words_done + chunk_words * start / max(n, 1)) / max(total_words, 1)
        lr = max(floor, lr0 * (1.0 - progress))
        totals["loss"] += _step(state, inputs[start:stop], outputs[start:stop], cfg, noise, tree, lr, generator)
        totals["pairs"] += stop - start


def _step(state, inputs, outputs, cfg, noise, tree, lr, generator) -> float:
    if cfg.loss == "hs":
        from seqpipe.tasks.embeddings import hsoftmax

        if cfg.algo == "skipgram":
            return hsoftmax.hs_step(state.w_in, state.w_out, inputs, outputs, tree.codes, tree.points,
                                    tree.lengths, lr)
        return _cbow_hs_step(state, inputs, outputs, tree, lr)
    negatives = noise.sample((len(outputs) // cfg.share_negatives, cfg.negative), generator)
    if cfg.algo == "skipgram":
        return sgns.skipgram_step(state.w_in, state.w_out, inputs, outputs, negatives, lr)
    return sgns.cbow_step(state.w_in, state.w_out, inputs, outputs, negatives, lr)


def _cbow_hs_step(state, contexts, outputs, tree, lr) -> float:
    from seqpipe.tasks.embeddings import hsoftmax

    hidden, mask = sgns.cbow_hidden(state.w_in, contexts)
    loss, d_hidden, nodes, d_nodes = hsoftmax.hs_gradients(hidden, state.w_out, outputs, tree.codes,
                                                           tree.points, tree.lengths)
    rows, slot = mask.nonzero(as_tuple=True)
    words = contexts[rows, slot]
    state.w_in.index_add_(0, words, d_hidden[rows] * sgns.shared_row_scale(words, len(state.w_in))[:, None], alpha=-lr)
    state.w_out.index_add_(0, nodes, d_nodes * sgns.shared_row_scale(nodes, len(state.w_out))[:, None], alpha=-lr)
    return float(loss)
