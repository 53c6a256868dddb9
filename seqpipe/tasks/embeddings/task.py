"""Word2vec and GloVe as tasks of the one training loop (`seqpipe.training.loop`).

`build_task` (the dotted path "seqpipe.tasks.embeddings.task:build_task") gives the loop
an EpochTask, which brings its own epoch step and state: `Word2VecTask` here, or
`GloveTask` (`seqpipe.tasks.embeddings.glove_task`) for algo "glove". The loop runs it on
Ray Train workers; rank 0 evaluates, and the loop logs the epoch's metrics to MLflow and
checkpoints the task's state (word2vec's W_in, W_out, progress as .npy and JSON: nothing
is unpickled on resume). A rerun with the same run name resumes from the last checkpoint.

Word2vec: data-parallel workers that merge their moves after every chunk of about
`merge_tokens` words each. Each worker trains on its contiguous share of the corpus words with
the plain loop of `seqpipe.tasks.embeddings.word2vec`; a merge takes the leading (most frequent)
rows of W_in and W_out that `scaling.rows_to_merge` names (pWord2Vec's schedule: `merge_rows`
rows every merge, twice as many every 2nd, ..., every row at an epoch's end) and moves each by
the workers' summed moves, shrunk where they agree (`scaling.merge_summed_moves`): unrelated
moves add up as one process's steps would, N equal moves count once. As that trains a row the
workers agree on at lr / N, N workers start at lr * sqrt(N) (`scaling.worker_lr`).
Measured on the 20M-word book corpus of bench/data.md (24.1M tokens; skip-gram 100d, 3
epochs, hogwild kernel, 2 cores; analogy accuracy / WordSim353): one worker 35.5% / 0.482.
The earlier rule (each row moved by the mean move of the workers that moved it, every
500,000 words) with 4 workers: 10.1% after epoch 1 (one worker 18.2%); with interleaved
shares (blocks of 10,000 words) instead of contiguous ones 9.3% after epoch 1, 19.6% after 3:
the rule, not the shares, loses the quality (a row every worker moves learns at lr / N). A plain
sum of the moves (every 100,000 words, this schedule) diverged with 4 workers in epoch 1.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from seqpipe.data.corpus import read_share, shard_words
from seqpipe.data.vocab import Vocabulary
from seqpipe.tasks.embeddings import sgns
from seqpipe.tasks.embeddings.quality import EpochEvaluation
from seqpipe.tasks.embeddings.word2vec import Tree, Word2VecState, initial_lr, train_epoch, use_hogwild
from seqpipe.training.scaling import merge_leading_rows, rows_to_merge, worker_lr


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
              "vocab_uri": str(Path(vocab_uri).resolve()), "scratch_dir": str(_scratch_dir(runtime))}
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
    """Skip-gram or CBOW on this worker's contiguous share of the corpus words (an EpochTask).

    The share is read from the shards that hold it into memory-mapped files on the worker's
    disk (`seqpipe.data.corpus.read_share`), so a worker's memory does not grow with the corpus."""

    def __init__(self, cfg, task_config: dict, device):
        self.cfg, self.device, self.corpus_uri = cfg, device, task_config["corpus_uri"]
        self.scratch_dir = task_config.get("scratch_dir")
        self.vocab = Vocabulary.load(task_config["vocab_uri"])
        self.model = Word2VecState(*_init(cfg, self.vocab, device))
        self.noise, self.tree = _output_layer(cfg, self.vocab, task_config["vocab_uri"], device)
        self.keep = self.vocab.keep_probabilities(cfg.sample)

    def start(self, rank: int, world: int) -> None:
        """Map this worker's share: the in-vocabulary words [share[rank], share[rank + 1]) of the corpus,
        streamed from the shards that hold them onto local disk (memory does not grow with the corpus)."""
        specials = len(self.vocab.specials)
        words_per_shard = shard_words(self.corpus_uri, self.vocab.tokens, specials)
        share = np.linspace(0, sum(words_per_shard), world + 1).astype(np.int64)
        folder = self._scratch(rank)
        self.ids, self.sentence = read_share(self.corpus_uri, self.vocab.tokens, specials, int(share[rank]),
                                             int(share[rank + 1]), folder, words_per_shard)
        folder.rmdir()  # its files are unlinked already: mapped, they live as long as the arrays
        self.rank, self.world = rank, world
        if world > 1:  # every row the workers agree on moves by their mean: see scaling.worker_lr
            self.cfg = self.cfg.model_copy(update={"lr": worker_lr(initial_lr(self.cfg), world)})
        # several workers: a chunk between two merges; one worker merges with no one, so its hogwild
        # threads take the epoch in one piece (the batched kernel: chunks of chunk_tokens)
        alone = world == 1 and use_hogwild(self.cfg, self.device)
        self.n_chunks = self._merges_per_epoch() if world > 1 else 1 if alone else None
        self.evaluation = EpochEvaluation(self.cfg.eval, self.vocab.tokens[specials:]) if rank == 0 else None

    def run_epoch(self, epoch: int) -> dict:
        """Epoch `epoch`, which self.model.epoch counts too (the learning rate follows its words_done)."""
        cfg, model = self.cfg, self.model
        metrics = train_epoch(model, self.ids, self.sentence, cfg, self.keep, self.noise, self.tree,
                              len(self.ids) * cfg.epochs, seed=cfg.seed * 100 + self.rank, n_chunks=self.n_chunks,
                              sync=self._merge_after_each_chunk(self.n_chunks) if self.world > 1 else None)
        metrics = _combine_across_workers(metrics, self.world, self.device)
        if self.rank == 0:
            metrics.update(self.evaluation(model.w_in[len(self.vocab.specials):].cpu().numpy()))
        return metrics

    def _scratch(self, rank: int) -> Path:
        """A new folder for the share's files in scratch_dir, which exists on every node (the driver's
        path on its node, elsewhere a folder seqpipe.core.driver_files made), else the system's temp."""
        return Path(tempfile.mkdtemp(prefix=f"word2vec-share-{rank}-", dir=self.scratch_dir))

    def state(self) -> dict[str, np.ndarray]:
        return {"w_in": self.model.w_in.cpu().numpy(), "w_out": self.model.w_out.cpu().numpy()}

    def progress(self) -> dict:
        return {"words_done": self.model.words_done}

    def load_state(self, arrays: dict[str, np.ndarray], progress: dict) -> None:
        self.model = Word2VecState(torch.from_numpy(arrays["w_in"]).to(self.device),
                                   torch.from_numpy(arrays["w_out"]).to(self.device),
                                   progress["epoch"], progress["words_done"])

    def _merges_per_epoch(self) -> int:
        """Chunks of about merge_tokens words in the largest share: the same number on every worker,
        as each merge is an all-reduce that every worker joins."""
        import torch.distributed as dist

        longest = torch.tensor([len(self.ids)], dtype=torch.int64)
        dist.all_reduce(longest, op=dist.ReduceOp.MAX)
        return max(1, -(-int(longest.item()) // self.cfg.merge_tokens))

    def _merge_after_each_chunk(self, merges: int) -> Callable[[], None]:
        """After each of the epoch's `merges` chunks: W_in's and W_out's leading (most frequent) rows,
        as many as `scaling.rows_to_merge` says, move by the SUM of the workers' moves since those rows'
        last merge, as one process taking every worker's steps would move them; every row at the last."""
        import torch.distributed as dist

        tensors = [self.model.w_in, self.model.w_out]
        before = [tensor.clone() for tensor in tensors]
        done = 0

        def merge() -> None:
            nonlocal done
            done += 1
            rows = rows_to_merge(done, merges, len(self.model.w_in), self.cfg.merge_rows)
            merge_leading_rows(tensors[:1], before[:1], dist.all_reduce, rows)
            # hierarchical softmax: W_out's rows are the Huffman tree's inner nodes, not in word order
            out_rows = rows if self.cfg.loss == "ns" else len(self.model.w_out)
            merge_leading_rows(tensors[1:], before[1:], dist.all_reduce, out_rows)

        return merge


def _scratch_dir(runtime) -> Path:
    """Where workers write their corpus shares: the local state folder's scratch/ (a per-machine
    folder, on disk). Made here, empty, so the path reaches the workers as it is."""
    folder = runtime.local_dir / "scratch"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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
