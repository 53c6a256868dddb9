"""Subword units: trained deterministically, round-trip any text, stored with the translation
vocabulary and used by the model a folder loads; level auto picks them for large vocabularies."""
import numpy as np
import pytest

from seqpipe.config import LmConfig, TranslationConfig
from seqpipe.data.subword import SubwordTokenizer, train_subword
from seqpipe.tasks.lm import data as lm_data
from seqpipe.tasks.translation.data import prepare
from seqpipe.tasks.translation.parallel_text import Pair, ParallelData
from seqpipe.tasks.translation.task import Vocabularies
from seqpipe.tasks.translation.tokenizers import resolve_level

ENGLISH = ["the house is small", "the house is big", "a small dog runs home", "the dogs run to the big houses",
           "it is 2021 and the year ends", "she reads books about houses"]
GERMAN = ["das Haus ist klein", "das Haus ist groß", "ein kleiner Hund läuft heim", "die Hunde laufen zu den großen Häusern",
          "es ist 2021 und das Jahr endet", "sie liest Bücher über Häuser"]


def pairs(n_copies=20):
    return [Pair(en, de, "toy.tsv", i) for i, (en, de) in enumerate(zip(ENGLISH * n_copies, GERMAN * n_copies))]


@pytest.mark.parametrize("model_type", ["bpe", "unigram"])
def test_training_is_deterministic_and_every_text_round_trips(tmp_path, model_type):
    first = train_subword(GERMAN * 20, tmp_path / "a.spm", model_type, vocab_size=330)
    second = train_subword(GERMAN * 20, tmp_path / "b.spm", model_type, vocab_size=330)
    assert first.read_bytes() == second.read_bytes(), "the same text and settings give the same model"
    tokenizer = SubwordTokenizer(first)
    for text in GERMAN + ["Zürich, 12. März – naïve 😀 漢字", "x"]:
        pieces = tokenizer.tokenize(text)
        assert tokenizer.detokenize(pieces) == text
    assert len(tokenizer.tokenize("das Haus ist klein")) < len("das Haus ist klein"), "pieces, not characters"


def test_subword_level_stores_a_model_per_side_with_the_vocabulary(tmp_path):
    cfg = TranslationConfig(level="subword", subword={"vocab_size": 320})
    data = {"train": ParallelData(pairs(), [], 120, ["toy.tsv"]), "dev": ParallelData(pairs(1), [], 6, ["toy.tsv"])}
    tokens, rejects = prepare(tmp_path, cfg, data, None)
    assert (tmp_path / "source.spm").is_file() and (tmp_path / "target.spm").is_file() and not rejects
    vocab = Vocabularies(tmp_path)
    src, tgt, ref = tokens["dev"][3]
    assert ref == GERMAN[3] and src == vocab.source_tokenizer.tokenize(ENGLISH[3])
    assert vocab.decode_target(vocab.encode_target(tgt)) == GERMAN[3], "ids back to plain text, as BLEU expects"
    assert set(tgt) <= set(vocab.target), "the target vocabulary holds the pieces the training side uses"


def test_level_auto_takes_subwords_only_when_the_words_are_too_many():
    assert resolve_level(TranslationConfig(auto_subword_types=100), pairs()) == "word"
    assert resolve_level(TranslationConfig(auto_subword_types=10), pairs()) == "subword"
    assert resolve_level(TranslationConfig(level="char", auto_subword_types=10), pairs()) == "char"


def test_the_language_model_reads_the_corpus_in_subword_units_stored_with_its_tokens(corpus_and_vocab, tmp_path):
    corpus, vocab, _ = corpus_and_vocab
    cfg = LmConfig(level="subword", subword={"vocab_size": 400}, dev_sentences=50)
    stats = lm_data.prepare(tmp_path, cfg, corpus, vocab, None)
    tokens = (tmp_path / "tokens.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert (tmp_path / "subword.spm").is_file() and tokens[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert stats["vocab_size"] == len(tokens) and stats["unk_rate"] == 0.0, "byte fallback: nothing is unknown"
    tokenizer = SubwordTokenizer(tmp_path / "subword.spm")
    ids, offsets = np.load(tmp_path / "dev_ids.npy"), np.load(tmp_path / "dev_offsets.npy")
    first = [tokens[i] for i in ids[offsets[0] + 1:offsets[1] - 1]]  # without <bos> and <eos>
    sentences = lm_data.corpus_sentences(lm_data.shard_paths(corpus))
    assert tokenizer.detokenize(first) in sentences and len(first) < len(tokenizer.detokenize(first))
