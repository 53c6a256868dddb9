"""A language model reads at scoring time the units it was trained on (every level)."""
import numpy as np
import pytest

from seqpipe.config import IngestConfig, LmConfig, RuntimeConfig, VocabConfig
from seqpipe.core.artifacts import read_json
from seqpipe.data.ingest import run_ingest
from seqpipe.data.vocab import run_vocab
from seqpipe.tasks.lm import data

SENTENCES = ["Hello, world!", "Don't stop: it's 5.00 (or so).", "Mr. Smith's dog-walker said \"no\"."]


@pytest.fixture(scope="module")
def corpus_and_vocab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lmtext")
    runtime = RuntimeConfig(executor="local", state_dir=str(tmp / "state"))
    (tmp / "a.txt").write_text("".join(s + "\n" for s in SENTENCES * 10), encoding="utf-8")
    corpus = run_ingest(IngestConfig(sources=[str(tmp / "a.txt")], split_sentences=False), runtime)
    return corpus.uri, run_vocab(VocabConfig(min_count=1), corpus.uri, runtime).uri


@pytest.mark.parametrize("level", ["char", "word"])
def test_training_sentences_are_the_units_scoring_reads(corpus_and_vocab, tmp_path, level):
    """The character LM used to train on the tokens joined by spaces ("hello , world !") and be
    scored (seqpipe score, speech fusion) on the text's own characters ("hello, world!")."""
    corpus, vocab = corpus_and_vocab
    data.prepare(tmp_path, LmConfig(level=level, dev_sentences=3), corpus, vocab, None)
    tokens = (tmp_path / "tokens.txt").read_text(encoding="utf-8").split("\n")[:-1]
    ids, offsets = np.load(tmp_path / "train_ids.npy"), np.load(tmp_path / "train_offsets.npy")
    trained = {tuple(tokens[i] for i in ids[s + 1:e - 1]) for s, e in zip(offsets[:-1], offsets[1:])}  # no <bos>/<eos>
    scored = {tuple(data.units_of(s, read_json(tmp_path / "text.json"))) for s in SENTENCES}
    assert trained == scored
    if level == "char":
        assert ("h", "e", "l", "l", "o", ",", " ", "w", "o", "r", "l", "d", "!") in trained
