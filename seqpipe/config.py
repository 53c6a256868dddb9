"""Configuration: one pydantic model per stage, loaded from commented YAML in conf/.

Every knob of the pipeline lives here; `load_config` reads a YAML file, applies
`--set a.b=value` overrides and validates, turning any mistake into a `ConfigError`
whose message names the key path and the reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from seqpipe.core.errors import SeqpipeError
from seqpipe.core.paths import is_uri
from seqpipe.core.store import working_copy


class ConfigError(SeqpipeError, ValueError):
    """A configuration file or override that cannot be used, with a readable reason."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _keep_section_defaults(cls, data: Any) -> Any:
        """A nested section given in part keeps this section's own defaults for the rest:
        `lm: {train: {epochs: 3}}` keeps the LM's batch size and learning rate, not TrainConfig's."""
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            value = data.get(name)
            if isinstance(value, dict) and field.default_factory is not None:
                default = field.default_factory()
                if isinstance(default, BaseModel) and default.model_fields_set:
                    data = {**data, name: {**default.model_dump(include=default.model_fields_set), **value}}
        return data


class RuntimeConfig(Strict):
    state_dir: str = Field(".seqpipe", description="Project state: stage folders, Prefect DB, MLflow DB and artifacts, "
                           "demo data. A URI (s3://bucket/seqpipe) keeps the stage folders and Ray Train checkpoints on "
                           "object storage and the rest in work_dir.")
    work_dir: str | None = Field(None, description="Local folder for what stays on this machine when state_dir is a URI "
                                 "(working copies of stage folders, logs, MLflow's SQLite, demo data); null = "
                                 "~/.cache/seqpipe/<state_dir without its scheme>.")
    executor: Literal["ray", "local"] = Field("ray", description="'ray': stages fan out as Ray tasks; 'local': in-process.")
    ray_address: str = Field("local", description="'local' starts Ray on this machine; 'auto' or 'ray://host:10001' joins a cluster.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs for a local Ray; null = all cores.")
    max_concurrent_stages: int | None = Field(
        None, ge=1, description="Downstream stages trained at once, each on its share of the cluster; null = as "
        "many as the cluster's CPUs and GPUs hold for the configured workers (1 on a 2-core machine).")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; null = SQLite under state_dir.")
    experiment: str = "seqpipe"
    strict_paths: bool = Field(False, description="Refuse data paths outside data_roots.")
    data_roots: list[str] = Field(default_factory=list, description="Folders data may come from when strict_paths "
                                  "is on; the state folder is always allowed.")

    @property
    def local_dir(self) -> Path:
        """The state folder on this machine: state_dir itself, or work_dir when state_dir is a URI."""
        if not is_uri(self.state_dir):
            return Path(self.state_dir).expanduser().resolve()
        if self.work_dir:
            return Path(self.work_dir).expanduser().resolve()
        return working_copy(self.state_dir, Path.home() / ".cache" / "seqpipe")

    def absolute(self) -> "RuntimeConfig":
        """The same settings with local folders made absolute (Ray workers run in another cwd)."""
        return self.model_copy(update={
            "state_dir": self.state_dir if is_uri(self.state_dir) else str(self.local_dir),
            "work_dir": self.work_dir and str(Path(self.work_dir).expanduser().resolve())})

    @property
    def store_cache(self) -> Path:
        """Where working copies of object-storage folders live."""
        return self.local_dir / "store"


class ServicesConfig(Strict):
    host: str = Field("127.0.0.1", description="Address `seqpipe up` binds the Prefect and MLflow servers to; "
                      "0.0.0.0 exposes them to the network (they have no authentication).")
    prefect_port: int = Field(4200, ge=1, le=65535)
    mlflow_port: int = Field(5000, ge=1, le=65535)
    start_timeout_s: float = Field(120.0, gt=0, description="How long `seqpipe up` waits for a server to answer.")


class ScheduleConfig(Strict):
    cron: str = Field("0 2 * * *", description="When the nightly retraining (the `pipeline` deployment) runs.")
    timezone: str = Field("UTC", description="IANA time zone of the cron expression, e.g. Europe/Paris.")
    active: bool = Field(True, description="false = the schedule is created paused (resume it in the Prefect UI).")


class PromotionConfig(Strict):
    enabled: bool = Field(True, description="Gate every newly registered model version against the `champion` alias.")
    margin: float = Field(0.0, ge=0, description="How much better (in the gate metric's own units: F1, BLEU, "
                          "perplexity, CER) a version must be to become champion; equal or worse stays challenger.")
    margins: dict[str, float] = Field(default_factory=dict, description="Per registered model, e.g. "
                                      "{seqpipe-ner: 0.005}; overrides margin.")

class DemoConfig(Strict):
    corpus: Literal["auto", "english", "docstrings"] = Field(
        "auto", description="english: the prose packages of seqpipe's demo extra (speeches, Wikipedia); docstrings: "
        "the installed packages' documentation; auto: english where installed.")
    max_mb: float = Field(20.0, gt=0, description="Size of the demo corpus (at most).")
    ner_sentences: int = Field(6000, ge=30, description="Sentences of the generated NER demo set (80/10/10 split).")
    translation_pairs: int = Field(20_000, ge=100, description="Pairs of the generated date-translation demo set.")
    speech_utterances: int = Field(600, ge=20, description="Utterances synthesised for the speech demo set.")
    sentiment_texts: int = Field(6000, ge=30, description="Reviews of the generated sentiment demo set (80/10/10 split).")
    captioning_images: int = Field(3000, ge=30, description="Scenes of the generated captioning demo set (80/10/10).")
    train_minutes: float = Field(1.0, gt=0, description="Training budget of each downstream stage on demo data "
                                 "(a stage's own train.max_minutes wins when set).")
    speech_train_minutes: float = Field(1.5, gt=0, description="The speech demo's budget instead: its CER passes "
                                        "0.25 after 9 to 11 epochs of 5-6 s on 2 cores, so 1 minute had no margin.")
    captioning_train_minutes: float = Field(6.0, gt=0, description="The captioning demo's budget instead: exact "
                                            "match 0.94 on unseen scenes after 13 epochs of about 30 s on 2 cores "
                                            "(captioning is not among the default downstream stages).")


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
    lr: float | None = Field(None, gt=0, description="Initial learning rate; null = 0.025 skip-gram, 0.05 CBOW, 0.05 GloVe.")
    min_lr_ratio: float = Field(1e-4, ge=0, le=1, description="The learning rate decays linearly to lr * min_lr_ratio.")
    kernel: Literal["auto", "hogwild", "batched"] = Field(
        "auto", description="hogwild: compiled CPU kernels on the worker's threads, in corpus order | batched: torch "
        "kernels on shuffled batches of pairs (GPU or CPU) | auto: hogwild on CPU, batched on GPU.")
    batch_pairs: int = Field(4096, ge=1, description="Pairs per SGD step (a multiple of share_negatives).")
    share_negatives: int = Field(32, ge=1, description="Consecutive pairs that share one draw of negatives.")
    chunk_tokens: int = Field(500_000, ge=1000, description="Corpus words made into shuffled pairs at a time; "
                              "workers merge their moves after each chunk.")
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


class EncoderConfig(Strict):
    cell: Literal["lstm", "gru", "rnn"] = "lstm"
    hidden: int = Field(256, ge=1, description="Hidden units per direction.")
    layers: int = Field(1, ge=1)
    bidirectional: bool = True
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout on the inputs, between layers and on the outputs.")


class EmbeddingLayerConfig(Strict):
    pretrained: bool = Field(True, description="Initialise from pretrained word vectors (the pretrain stage's, or `path`).")
    path: str | None = Field(None, description="An embeddings folder or a word2vec/GloVe .txt/.bin file; "
                             "null = the pipeline's pretrain stage output.")
    freeze: bool = Field(False, description="Keep the embedding table fixed during fine-tuning.")
    dim: int = Field(100, ge=1, description="Size when no pretrained vectors are used.")
    max_pretrained_words: int = Field(100_000, ge=0, description="Pretrained words added to the model's vocabulary "
                                      "(most frequent first), so that words unseen in training still get vectors.")


class TrainConfig(Strict):
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only.")
    batch_size: int = Field(32, ge=1, description="Examples per step on each worker.")
    epochs: int = Field(30, ge=1, description="At most this many epochs (early stopping usually ends sooner).")
    clip_norm: float | None = Field(5.0, gt=0, description="Clip gradients to this global L2 norm; null = no clipping.")
    patience: int | None = Field(3, ge=1, description="Stop after this many epochs without a better validation "
                                 "metric; null = never stop early.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change of the validation metric that counts as better.")
    num_workers: int = Field(2, ge=1, description="Ray Train workers (DDP: gloo on CPU, NCCL on GPUs).")
    threads_per_worker: int | None = Field(None, ge=1, description="torch threads per worker; null = cores / workers.")
    use_gpu: bool = False
    max_minutes: float | None = Field(None, gt=0, description="Training budget; the epoch under way stops when it is spent.")
    max_failures: int = Field(2, ge=0, description="Worker failures Ray Train recovers from (resuming the last checkpoint).")
    seed: int = 1


class NerConfig(Strict):
    train_path: str | None = Field(None, description="CoNLL file(s) to train on (file, folder or glob); null = demo data.")
    dev_path: str | None = Field(None, description="Validation set; null = dev_fraction of the training sentences.")
    test_path: str | None = Field(None, description="Test set, evaluated once with the best model; null = none.")
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    token_column: int = Field(0, description="Column of the token (negative counts from the end).")
    tag_column: int = Field(-1, description="Column of the NER tag (CoNLL-2003: the last, -1).")
    scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field("auto", description="Tag scheme of the files; auto = detect per file.")
    max_reject_rate: float = Field(0.0, ge=0, le=1, description="0 = the first malformed sentence is an error naming "
                                   "file and line; above 0 = skip and count malformed sentences up to this rate.")
    out: str | None = Field(None, description="Folder that receives ner-<hash>/; null = <state_dir>/ner.")
    crf: bool = Field(True, description="CRF output layer with Viterbi decoding; false = per-token softmax.")
    char_features: bool = Field(True, description="A character BiLSTM per word (case, affixes, unseen words).")
    char_dim: int = Field(25, ge=1)
    char_hidden: int = Field(25, ge=1)
    lowercase: bool = Field(True, description="Look words up lowercased (as the pretrained vectors are); case is "
                            "kept by the character features and a casing feature.")
    word_dropout: float = Field(0.05, ge=0, lt=1, description="Training words replaced by <unk> with this probability.")
    embeddings: EmbeddingLayerConfig = Field(default_factory=EmbeddingLayerConfig)
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


class SentimentConfig(Strict):
    train_path: str | None = Field(None, description="Labelled texts to train on: CSV, TSV, JSONL or Parquet (a file, "
                                   "folder or glob; .gz/.bz2/.xz read too); null = demo data.")
    dev_path: str | None = Field(None, description="Validation set; null = dev_fraction of the training texts.")
    test_path: str | None = Field(None, description="Test set, evaluated once with the best model; null = none.")
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet"] = Field("auto", description="auto = by file suffix.")
    text_column: str | int = Field("text", description="The text's column: a name (CSV/TSV: the header row names the "
                                   "columns) or a 0-based number (CSV/TSV without a header row).")
    label_column: str | int = Field("label", description="The label's column, like text_column.")
    labels: list[str] = Field(default_factory=list, description="The labels in order; empty = those of the training "
                              "data, sorted. A row with any other label is a reject.")
    max_reject_rate: float = Field(0.0, ge=0, le=1, description="0 = the first bad row is an error naming file and "
                                   "line; above 0 = skip and count bad rows up to this rate.")
    out: str | None = Field(None, description="Folder that receives sentiment-<hash>/; null = <state_dir>/sentiment.")
    lowercase: bool = Field(True, description="Look words up lowercased (as the pretrained vectors are).")
    max_words: int = Field(200, ge=1, description="Words of a text the model reads (the rest is cut).")
    pooling: Literal["last", "attention", "both"] = Field("both", description="One vector per text: the encoder's final "
                                                          "states, attention over its words, or both concatenated.")
    word_dropout: float = Field(0.05, ge=0, lt=1, description="Training words replaced by <unk> with this probability.")
    embeddings: EmbeddingLayerConfig = Field(default_factory=EmbeddingLayerConfig)
    encoder: EncoderConfig = Field(default_factory=lambda: EncoderConfig(hidden=128))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(batch_size=64))


class CaptioningConfig(Strict):
    train_captions: str | None = Field(None, description="Captions of the training images: a TSV/CSV file with "
                                       "columns image and caption (several rows per image), or Flickr8k's "
                                       "`name.jpg#n<TAB>caption` lines; null = demo data.")
    dev_captions: str | None = Field(None, description="Validation captions; null = dev_fraction of the training images.")
    test_captions: str | None = Field(None, description="Test captions, scored once with the best model; null = none.")
    images: str | None = Field(None, description="Folder the image names are relative to; null = the folder of "
                               "each captions file.")
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    max_reject_rate: float = Field(0.0, ge=0, le=1, description="0 = the first unreadable image or bad row is an "
                                   "error naming file and line; above 0 = skip and count them up to this rate.")
    out: str | None = Field(None, description="Folder that receives captioning-<hash>/; null = <state_dir>/captioning.")
    image_size: int = Field(64, ge=8, description="Images are resized to this many pixels square.")
    channels: list[int] = Field(default_factory=lambda: [32, 64, 128], description="Convolution blocks of the "
                                "encoder (each halves the image): 64 pixels and 3 blocks give an 8x8 grid of regions.")
    lowercase: bool = True
    max_words: int = Field(30, ge=1, description="Longest caption written (and read: longer ones are cut).")
    attention: Literal["additive", "multiplicative"] = "additive"
    decoder: Literal["bahdanau", "luong"] = Field("luong", description="luong: teacher forcing in one recurrent call "
                                                  "(faster on CPU); bahdanau: the context feeds the recurrence, one "
                                                  "step at a time.")
    beam: int = Field(5, ge=1, description="Beam size of the test captions and of `seqpipe caption`.")
    alpha: float = Field(0.7, ge=0, description="Length normalisation: score = log P / T^alpha.")
    attention_plots: int = Field(4, ge=0, description="Test images drawn with the attention of every word.")
    encoder: EncoderConfig = Field(default_factory=lambda: EncoderConfig(cell="gru", hidden=256, dropout=0.2))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(batch_size=64, lr=2e-3, num_workers=1))


class SubwordConfig(Strict):
    model: Literal["bpe", "unigram"] = Field("bpe", description="SentencePiece model type.")
    vocab_size: int = Field(8000, ge=300, description="Pieces (fewer when the text is small).")


class LmConfig(Strict):
    level: Literal["word", "subword", "char"] = Field("word", description="word: the vocabulary stage's words; "
                                                       "subword: SentencePiece units trained on the corpus; char.")
    subword: SubwordConfig = Field(default_factory=SubwordConfig)
    out: str | None = Field(None, description="Folder that receives lm-<hash>/; null = <state_dir>/lm.")
    max_len: int = Field(64, ge=2, description="Longer sentences are cut into pieces of this many tokens.")
    max_sentences: int | None = Field(None, ge=10, description="Use at most this many corpus sentences; null = all.")
    dev_sentences: int = Field(2000, ge=1, description="Sentences held out for validation perplexity.")
    adaptive_cutoffs: list[int] = Field(default_factory=lambda: [2000, 10000], description="Adaptive softmax "
                                        "clusters (word level, when the vocabulary is larger); [] = full softmax.")
    temperature: float = Field(1.0, ge=0, description="Default sampling temperature (0 = greedy).")
    max_sample_len: int = Field(60, ge=1)
    embeddings: EmbeddingLayerConfig = Field(default_factory=EmbeddingLayerConfig)
    # one layer and one worker whose threads take the cores: on 2 CPU cores, 3x the optimiser steps a
    # minute of two DDP workers (the embedding and softmax gradients are synchronised every step)
    encoder: EncoderConfig = Field(default_factory=lambda: EncoderConfig(bidirectional=False, layers=1, dropout=0.2))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(batch_size=64, lr=5e-3, epochs=20, patience=2,
                                                                   num_workers=1))


class ParallelFiles(Strict):
    source: str | None = Field(None, description="Source sentences, one per line (aligned with `target`).")
    target: str | None = Field(None, description="Target sentences, line i translating line i of `source`.")
    table: str | None = Field(None, description="Or one TSV/JSONL/CSV/Parquet table of pairs (source_field, target_field).")


class TranslationConfig(Strict):
    train_data: ParallelFiles = Field(default_factory=ParallelFiles, description="Empty = the demo date task.")
    dev_data: ParallelFiles = Field(default_factory=ParallelFiles, description="Empty = dev_fraction of train.")
    test_data: ParallelFiles = Field(default_factory=ParallelFiles)
    source_field: str = "source"
    target_field: str = "target"
    dev_fraction: float = Field(0.05, gt=0, lt=1)
    level: Literal["auto", "word", "subword", "char"] = Field(
        "auto", description="Token level of both sides: subword units (SentencePiece, one model per side, trained on "
        "the training pairs) when the words are too many (auto_subword_types), else words; the date demo uses char.")
    subword: SubwordConfig = Field(default_factory=lambda: SubwordConfig(vocab_size=4000))
    auto_subword_types: int = Field(5000, ge=1, description="level auto: subword units when a side of the training "
                                    "pairs has more word types than this, else words.")
    max_chars: int = Field(1000, ge=1, description="Pairs with a longer side are rejected as over-long.")
    max_tokens: int = Field(100, ge=1, description="Pairs with a side of more tokens are rejected as over-long.")
    max_reject_rate: float = Field(0.01, ge=0, le=1, description="Fail when more pairs are rejected (0: the first "
                                   "bad pair is an error naming file and line).")
    min_count: int = Field(1, ge=1, description="Rarer tokens map to <unk>.")
    max_vocab: int = Field(30_000, ge=1, description="Tokens per side, most frequent first.")
    out: str | None = Field(None, description="Folder that receives translation-<hash>/; null = <state_dir>/translation.")
    embedding_dim: int = Field(128, ge=1, description="Token embedding size (the source side's comes from "
                               "pretrained vectors when they are used).")
    attention: Literal["additive", "multiplicative"] = Field("additive", description="Bahdanau (additive) or "
                                                               "Luong (multiplicative) attention.")
    decoder: Literal["bahdanau", "luong"] = Field("luong", description="luong: attend after the decoder RNN's step "
        "(teacher forcing runs the RNN over the whole target in one call: a faster step); bahdanau: attend "
        "before it and feed the context into the RNN (one step at a time).")
    tie_embeddings: bool = Field(True, description="The output layer shares the target embedding's weights (the "
                                 "readout has embedding_dim units).")
    beam: int = Field(5, ge=1, description="Beam width for evaluation and `seqpipe translate`.")
    alpha: float = Field(0.7, ge=0, description="Length normalisation: score = log P / T^alpha (0 = none, 1 = mean).")
    eval_sentences: int = Field(1000, ge=1, description="Dev sentences translated (greedy) after each epoch for BLEU.")
    analysis_sentences: int = Field(500, ge=1, description="Dev sentences of the beam-search error analysis and sweep.")
    sweep: bool = Field(True, description="Dev BLEU for beam in {1, 3, 10} x alpha in {0, 0.7, 1}.")
    attention_plots: int = Field(4, ge=0, description="Test sentences whose attention is plotted.")
    embeddings: EmbeddingLayerConfig = Field(default_factory=lambda: EmbeddingLayerConfig(pretrained=False))
    encoder: EncoderConfig = Field(default_factory=lambda: EncoderConfig(cell="gru", dropout=0.2))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(batch_size=64, patience=3))


class SpeechConfig(Strict):
    train_manifest: str | None = Field(None, description="CSV/TSV/JSONL/Parquet manifest (path, transcript[, speaker, "
                                       "duration]) or a folder of recordings; null = the synthesised demo voices.")
    dev_manifest: str | None = Field(None, description="null = dev_fraction of the training utterances (whole "
                                     "speakers when the manifest names them).")
    test_manifest: str | None = None
    dev_fraction: float = Field(0.1, gt=0, lt=1)
    path_field: str = "path"
    transcript_field: str = "transcript"
    speaker_field: str = "speaker"
    alphabet: str = Field(" abcdefghijklmnopqrstuvwxyz'", min_length=1, description="Output characters (transcripts "
                          "are NFKC-normalised and lowercased; other characters reject the utterance).")
    max_reject_rate: float = Field(0.01, ge=0, le=1)
    out: str | None = Field(None, description="Folder that receives speech-<hash>/; null = <state_dir>/speech.")
    sample_rate: int = Field(16_000, ge=1000, description="Audio is resampled to this rate.")
    n_mels: int = Field(80, ge=1)
    n_fft: int = Field(400, ge=16, description="STFT window (25 ms at 16 kHz).")
    hop: int = Field(160, ge=1, description="STFT hop (10 ms at 16 kHz).")
    conv_layers: int = Field(2, ge=0, description="Convolutions in front of the RNN, each halving the frame rate.")
    conv_channels: int = Field(32, ge=1)
    freq_masks: int = Field(2, ge=0, description="SpecAugment: frequency bands masked per utterance in training.")
    freq_width: int = Field(15, ge=0)
    time_masks: int = Field(2, ge=0, description="SpecAugment: time spans masked per utterance (each at most 1/5).")
    time_width: int = Field(40, ge=0)
    speed_perturb: float = Field(0.0, ge=0, lt=1, description="Training plays each batch up to this much faster "
                                 "or slower (frames resampled in time); 0 = off (no gain in a 10-minute budget).")
    freq_warp: float = Field(0.0, ge=0, lt=1, description="Training stretches each utterance's mel axis by up to "
                             "this much (a longer or shorter vocal tract, VTLP); 0 = off.")
    beam: int = Field(16, ge=1, description="Prefix beam search width.")
    beam_prune: float = Field(-5.0, le=0, description="Labels with a frame log-probability below this are not tried "
                              "as extensions (the best `beam` always are).")
    lm_alpha: float = Field(0.5, ge=0, description="Weight of the character LM in shallow fusion.")
    lm_beta: float = Field(1.0, description="Bonus per emitted character (offsets the LM's preference for short output).")
    beam_utterances: int = Field(300, ge=1, description="Test utterances decoded by every decoder (spread evenly "
                                 "through the test set), and dev utterances that tune the fusion weights; the "
                                 "prefix search runs in Python.")
    fusion_lm: str | None = Field("transcripts", description="The character LM of shallow fusion: 'transcripts' = "
                                  "an n-gram LM of the training transcripts; a text file = one of that text; a "
                                  "character-level lm-<hash> folder; 'auto' = the pipeline's corpus LM; null = none.")
    lm_order: int = Field(6, ge=1, description="Characters per n-gram of the fitted fusion LM.")
    lm_tune: bool = Field(True, description="Choose lm_alpha and lm_beta on the dev set (from a grid with the "
                          "configured pair and no LM), so beam + LM is never worse than beam on dev (WER).")
    encoder: EncoderConfig = Field(default_factory=lambda: EncoderConfig(cell="gru", layers=2, dropout=0.2))
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(batch_size=16, epochs=60, patience=5))


class PipelineConfig(Strict):
    """The whole pipeline. The order is the Prefect run form's: the data and the models a user
    changes most first, how and where it runs last."""
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    downstream: list[Literal["ner", "lm", "translation", "speech", "sentiment", "captioning"]] = Field(
        default_factory=lambda: ["ner", "lm", "translation", "speech", "sentiment"],
        description="Stages after pretraining.")
    demo: DemoConfig = Field(default_factory=DemoConfig)
    vocab: VocabConfig = Field(default_factory=VocabConfig)
    embeddings: EmbeddingsConfig = Field(default_factory=EmbeddingsConfig)
    ner: NerConfig = Field(default_factory=NerConfig)
    lm: LmConfig = Field(default_factory=LmConfig)
    translation: TranslationConfig = Field(default_factory=TranslationConfig)
    speech: SpeechConfig = Field(default_factory=SpeechConfig)
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)
    captioning: CaptioningConfig = Field(default_factory=CaptioningConfig)
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)


def config_hash(model: BaseModel) -> str:
    """Stable hash of a config's values (key order and formatting do not matter)."""
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                model: type[BaseModel] = PipelineConfig) -> Any:
    """Read YAML (or the embedded defaults when path is None), apply overrides, validate.

    Precedence, lowest first: the YAML file, `SEQPIPE__SECTION__KEY=value` environment
    variables (pipeline config only; see `_env_overrides`), then `overrides` (`--set`).
    """
    data: dict = {}
    if path is not None:
        data = _read_yaml(Path(path))
    env = _env_overrides(os.environ) if issubclass(model, PipelineConfig) else []
    for item in env + list(overrides):
        _apply_override(data, item)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        where = f" in {path}" if path else ""
        if env:
            where += " (with environment overrides " + ", ".join(_env_name(i) for i in env) + ")"
        raise ConfigError(f"invalid configuration{where}:\n" + format_validation_error(err)) from None


def format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        reason = e["msg"]
        if e["type"] == "extra_forbidden":
            reason = "unknown key (check the spelling against conf/pipeline.yaml)"
        elif e["type"] != "missing":
            reason += f", got {e['input']!r}"
        lines.append(f"  {key}: {reason}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}" if not path.exists() else f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.reader.ReaderError as err:  # a character YAML forbids (NUL, say): a position, no mark
        line = text.count("\n", 0, err.position) + 1
        column = err.position - text.rfind("\n", 0, err.position)
        raise ConfigError(f"{path}:{line}:{column}: not valid YAML (character #x{err.character:04x} "
                          f"is not allowed)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    values, pending = 0, [data]
    while pending:  # aliases share objects: a tiny file can expand exponentially ("billion laughs")
        item = pending.pop()
        values += 1
        if values > 100_000:
            raise ConfigError(f"{path}: too large: over 100000 values once aliases (*name) are expanded")
        if isinstance(item, dict):
            pending += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            pending += item
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def _apply_override(data: dict, item: str) -> None:
    """Apply one `a.b.c=value` override; the value is parsed as YAML (numbers, lists, booleans)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like section.key=value")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
        node = child
    node[parts[-1]] = value


ENV_PREFIX = "SEQPIPE__"


def _env_overrides(environ: Mapping[str, str]) -> list[str]:
    """`SEQPIPE__RUNTIME__TRACKING_URI=http://mlflow:5000` -> `runtime.tracking_uri=http://mlflow:5000`.

    Names are case-insensitive, `__` separates the key path (single underscores belong to
    the key), values are parsed as YAML like `--set`; sorted so that the result is stable.
    """
    items = []
    for name in sorted(n for n in environ if n.upper().startswith(ENV_PREFIX)):
        parts = name[len(ENV_PREFIX):].lower().split("__")
        if not all(parts):
            raise ConfigError(f"environment variable {name}: expected {ENV_PREFIX}SECTION__KEY=value")
        items.append(".".join(parts) + "=" + environ[name])
    return items


def _env_name(item: str) -> str:
    return ENV_PREFIX + item.partition("=")[0].replace(".", "__").upper()
