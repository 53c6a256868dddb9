"""Word2vec and GloVe as tasks of the one training loop (`seqpipe.training.loop`).

`build_task` (the dotted path "seqpipe.tasks.embeddings.task:build_task") gives the loop
an EpochTask, which brings its own epoch step and state: `Word2VecTask` here, or
`GloveTask` (`seqpipe.tasks.embeddings.glove_task`) for algo "glove". The loop runs it on
Ray Train workers; rank 0 evaluates, and the loop logs the epoch's metrics to MLflow and
checkpoints the task's state (word2vec's W_in, W_out, progress as .npy and JSON: nothing
is unpickled on resume). A rerun with the same run name resumes from the last checkpoint.

Word2vec: data-parallel workers that merge their moves after every chunk. Each worker
trains on its contiguous share of the corpus words with the plain loop of
`seqpipe.tasks.embeddings.word2vec`; after every chunk (about `chunk_tokens` words) each row of
W_in and W_out moves by the mean of the moves of the workers that moved it
(`scaling.merge_moves`): a word only one worker saw keeps its whole update, a frequent
word gets the workers' average. Measured on the 20M-word book corpus of bench/data.md
(skip-gram 100d, 5 epochs, a row cap of 256; analogy accuracy / WordSim353): one worker 39.4% / 0.500;
2 workers averaging 36.5% / 0.475, summing 38.0% / 0.484, this rule 37.0% / 0.468;
4 workers averaging 28.9% / 0.438, summing diverged (NaN in epoch 1), this rule 30.0% / 0.451.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqpipe.data.corpus import load_ids, shard_paths
from seqpipe.data.vocab import Vocabulary
from seqpipe.tasks.embeddings import sgns
from seqpipe.tasks.embeddings.quality import EpochEvaluation
from seqpipe.tasks.embeddings.word2vec import Tree, Word2VecState, train_epoch, use_hogwild
from seqpipe.training.scaling import merge_moves


def build_task(task_config: dict, device):
    """The loop's view of the embeddings: word2vec's or GloVe's epochs, as cfg.algo says."""
    from seqpipe.config import EmbeddingsConfig

    cfg = EmbeddingsConfig.model_validate(task_config["cfg"])
    if cfg.algo == "glove":
        from seqpipe.tasks.embeddings.glove_task import GloveTask

        return GloveTask(cfg, task_config)
    return Word2VecTask(cfg, task_config, device)


def task_config(cfg, corpus_uri: str, vocab_uri: str, runtime, run_name: str) -> dict:
    """What build_task reads on every worker (absolute paths: workers run in their own working
    directory); for GloVe, the co-occurrence counts first (made once per run name)."""
    config = {"cfg": cfg.model_dump(mode="json"), "corpus_uri": str(Path(corpus_uri).resolve()),
              "vocab_uri": str(Path(vocab_uri).resolve())}
    if cfg.algo == "glove":
        from seqpipe.tasks.embeddings.glove_task import cooccurrence_file

        config["cooc"] = str(cooccurrence_file(config, cfg, runtime, run_name))
    return config


def vector_arrays(cfg) -> tuple[str, ...]:
    """The arrays of the task's state that the word vectors are made of."""
    return ("w", "w_ctx") if cfg.algo == "glove" else ("w_in",)


def word_vectors(cfg, arrays: dict[str, np.ndarray], specials: int) -> np.ndarray:
    """One float32 row per word, specials left out: W_in, or GloVe's W + W~ (no rows for specials)."""
    if cfg.algo == "glove":
        return arrays["w"] + arrays["w_ctx"]
    return arrays["w_in"][specials:].astype(np.float32)


class Word2VecTask:
    """Skip-gram or CBOW on this worker's contiguous share of the corpus words (an EpochTask)."""

    def __init__(self, cfg, task_config: dict, device):
        self.cfg, self.device, self.corpus_uri = cfg, device, task_config["corpus_uri"]
        self.vocab = Vocabulary.load(task_config["vocab_uri"])
        self.model = Word2VecState(*_init(cfg, self.vocab, device))
        self.noise, self.tree = _output_layer(cfg, self.vocab, task_config["vocab_uri"], device)
        self.keep = self.vocab.keep_probabilities(cfg.sample)

    def start(self, rank: int, world: int) -> None:
        specials = len(self.vocab.specials)
        ids, sentence = load_ids(shard_paths(self.corpus_uri), self.vocab.tokens, specials)
        share = np.linspace(0, len(ids), world + 1).astype(np.int64)
        self.ids, self.sentence = ids[share[rank]:share[rank + 1]], sentence[share[rank]:share[rank + 1]]
        # one worker merges with no one: its hogwild threads take the epoch in one piece
        alone = world == 1 and use_hogwild(self.cfg, self.device)
        self.n_chunks = 1 if alone else max(1, -(-int(share[1] - share[0]) // self.cfg.chunk_tokens))
        self.rank, self.world = rank, world
        self.evaluation = EpochEvaluation(self.cfg.eval, self.vocab.tokens[specials:]) if rank == 0 else None

    def run_epoch(self, epoch: int) -> dict:
        """Epoch `epoch`, which self.model.epoch counts too (the learning rate follows its words_done)."""
        cfg, model = self.cfg, self.model
        metrics = train_epoch(model, self.ids, self.sentence, cfg, self.keep, self.noise, self.tree,
                              len(self.ids) * cfg.epochs, seed=cfg.seed * 100 + self.rank, n_chunks=self.n_chunks,
                              sync=self._merge_after_each_chunk() if self.world > 1 else None)
        metrics = _combine_across_workers(metrics, self.world, self.device)
        if self.rank == 0:
            metrics.update(self.evaluation(model.w_in[len(self.vocab.specials):].cpu().numpy()))
        return metrics

    def state(self) -> dict[str, np.ndarray]:
        return {"w_in": self.model.w_in.cpu().numpy(), "w_out": self.model.w_out.cpu().numpy()}

    def progress(self) -> dict:
        return {"words_done": self.model.words_done}

    def load_state(self, arrays: dict[str, np.ndarray], progress: dict) -> None:
        self.model = Word2VecState(torch.from_numpy(arrays["w_in"]).to(self.device),
                                   torch.from_numpy(arrays["w_out"]).to(self.device),
                                   progress["epoch"], progress["words_done"])

    def _merge_after_each_chunk(self) -> Callable[[], None]:
        """Each row of W_in and W_out moves by the mean move of the workers that moved it since the last merge."""
        import torch.distributed as dist

        tensors = [self.model.w_in, self.model.w_out]
        before = [tensor.clone() for tensor in tensors]

        def merge() -> None:
            merge_moves(tensors, before, dist.all_reduce)
            for start, tensor in zip(before, tensors):
                start.copy_(tensor)

        return merge


def _init(cfg, vocab, device):
    w_in, w_out = sgns.init_vectors(len(vocab), cfg.dim, cfg.seed, device)
    if cfg.loss == "hs":  # one output row per inner node of the Huffman tree
        w_out = torch.zeros(max(len(vocab) - 1, 1), cfg.dim, device=device)
    return w_in, w_out


def _output_layer(cfg, vocab, vocab_uri: str, device):
    """The noise sampler (negative sampling) or the Huffman tree (hierarchical softmax)."""
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
