"""The upstream stages: corpus ingestion, vocabulary, word-embedding pretraining and its evaluation."""
from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import Field, model_validator

from seqpipe.config.base import Strict


class IngestConfig(Strict):
    sources: list[str] = Field(default_factory=list, description="Files, folders, globs, URIs or hf:NAME; empty = demo corpus.")
    out: str | None = Field(None, description="Folder that receives corpus-<hash>/; null = <state_dir>/corpus.")
    format: Literal["auto", "txt", "jsonl", "json", "csv", "tsv", "parquet", "hf"] = "auto"
    txt_unit: Literal["line", "file"] = Field("line", description="A .txt document is one line, or the whole file.")
    text_field: str = Field("text", description="Field (JSON, dotted path allowed) or column (CSV/Parquet/HF) holding the text.")
    hf_split: str = "train"
    encoding: str = "utf-8"
    normalize: Literal["NFKC", "NFC", "none"] = "NFKC"
    lowercase: bool = True
    split_sentences: bool = True
    tokenize: Literal["word", "char", "whitespace"] = "word"
    max_record_chars: int = Field(1_000_000, ge=1, description="Longer records are rejected as over-long.")
    max_reject_rate: float = Field(0.05, ge=0.0, le=1.0, description="Fail when more of the records read are rejected (blank lines excluded).")
    shard_mb: float = Field(32.0, gt=0, description="Largest shard, in MB of input; shards shrink so that every worker gets several.")
    row_group_rows: int = Field(16_384, ge=1, description="Rows per Parquet row group (the unit of streaming reads).")
    incremental: bool = Field(True, description="Reuse the processed rows of unchanged sources from the newest earlier corpus in the same folder.")


class VocabConfig(Strict):
    out: str | None = Field(None, description="Folder that receives vocab-<hash>/; null = <state_dir>/vocab.")
    min_count: int = Field(5, ge=1, description="Words seen fewer times map to <unk>.")
    max_size: int | None = Field(None, ge=1, description="Keep at most this many words (specials not counted).")
    specials: list[str] = Field(default_factory=lambda: ["<pad>", "<unk>", "<bos>", "<eos>"])
    char_min_count: int = Field(1, ge=1)
    unigram_power: float = Field(0.75, ge=0.0, description="Negative-sampling noise distribution P(w) ~ count(w)^power.")

    @model_validator(mode="before")
    @classmethod
    def _ignore_sample(cls, data: Any) -> Any:
        """`vocab.sample` never did anything (training reads embeddings.sample): accepted with a
        warning for one release, and left out of the config (so out of the vocabulary's hash)."""
        if isinstance(data, dict) and "sample" in data:
            warnings.warn("vocab.sample is ignored; set embeddings.sample (vocab.sample will be an "
                          "unknown key in the next release)", FutureWarning, stacklevel=2)
            data = {k: v for k, v in data.items() if k != "sample"}
        return data


class EvalConfig(Strict):
    analogies: str | None = Field(None, description="Google questions-words.txt format; null = skip analogies.")
    similarity: list[str] = Field(default_factory=list, description="WordSim353 / SimLex-999 style files.")
    top_n: int = Field(30_000, ge=1, description="Analogy answers are searched among the top_n most frequent words.")
    method: Literal["3cosadd", "3cosmul"] = "3cosadd"
    neighbours_of: list[str] = Field(default_factory=lambda: ["data", "model", "file", "function", "time"],
                                     description="Words whose nearest neighbours are logged after each epoch.")


class EmbeddingsConfig(Strict):
    out: str | None = Field(None, description="Folder that receives embeddings-<hash>/; null = <state_dir>/embeddings.")
    algo: Literal["skipgram", "cbow", "glove"] = "skipgram"
    loss: Literal["ns", "hs"] = Field("ns", description="ns: negative sampling | hs: hierarchical softmax (word2vec only).")
    dim: int = Field(100, ge=1)
    window: int = Field(5, ge=1, description="Maximum window; word2vec draws each word's window from 1..window.")
    negative: int = Field(5, ge=1, description="Negative samples per pair (ns).")
    sample: float = Field(1e-3, ge=0.0, description="Frequent-word subsampling threshold; 0 = off.")
    epochs: int = Field(5, ge=1)
    lr: float | None = Field(None, gt=0, description="Initial learning rate; null = 0.025 skip-gram, 0.05 CBOW, "
                             "0.05 GloVe. N workers each start at lr * sqrt(N) (scaling.worker_lr).")
    min_lr_ratio: float = Field(1e-4, ge=0, le=1, description="The learning rate decays linearly to lr * min_lr_ratio.")
    kernel: Literal["auto", "hogwild", "batched"] = Field(
        "auto", description="hogwild: compiled CPU kernels on the worker's threads, in corpus order | batched: torch "
        "kernels on shuffled batches of pairs (GPU or CPU) | auto: hogwild on CPU, batched on GPU.")
    batch_pairs: int = Field(4096, ge=1, description="Pairs per SGD step (a multiple of share_negatives).")
    share_negatives: int = Field(32, ge=1, description="Consecutive pairs that share one draw of negatives.")
    chunk_tokens: int = Field(500_000, ge=1000, description="Word2vec, one worker, batched kernel: corpus "
                              "words made into shuffled pairs at a time (several: merge_tokens); GloVe: entries "
                              "each worker trains between two merges.")
    merge_tokens: int = Field(100_000, ge=1000, description="Word2vec on several workers: the words each worker "
                              "trains between two merges (one worker never merges; GloVe merges every chunk_tokens).")
    merge_rows: int = Field(1024, ge=1, description="Word2vec on several workers: a merge takes the merge_rows most "
                            "frequent words' rows, every 2nd merge 2x as many, every 4th 4x, ...; every row at an "
                            "epoch's end (scaling.rows_to_merge).")
    num_workers: int = Field(1, ge=1, description="Ray Train workers; each trains on its share of the corpus words "
                             "(one per machine: its threads share the vectors, workers merge every chunk).")
    threads_per_worker: int | None = Field(None, ge=1, description="Kernel threads per worker; null = cores / workers.")
    use_gpu: bool = False
    max_minutes: float | None = Field(None, gt=0, description="Training budget: stop after the first epoch that "
                                      "ends past it (the learning rate still decays over `epochs`).")
    seed: int = 1
    glove_window: int = Field(10, ge=1)
    glove_x_max: float = Field(100.0, gt=0)
    glove_alpha: float = Field(0.75, gt=0)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _kernel_fits_the_device(self):
        if self.kernel == "hogwild" and self.use_gpu:
            raise ValueError("embeddings.kernel hogwild runs on CPU threads; with use_gpu: true use batched (or auto)")
        return self
