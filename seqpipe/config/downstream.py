"""The downstream stages, one section per task folder, and the parts they share: the encoder,
the embedding layer and the training loop's settings."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.base import Strict


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
    tie_embeddings: bool = Field(True, description="The output layer scores words with the input embedding's "
                                 "(pretrained) vectors: rare words keep what pretraining learnt of them.")
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
