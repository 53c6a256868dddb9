"""A word2vec worker's share, streamed from the shards to disk, is the whole corpus's load sliced."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from seqpipe.core.artifacts import read_json
from seqpipe.data.corpus import load_ids, read_share, shard_paths, shard_words
from seqpipe.data.ingest import run_ingest
from seqpipe.data.vocab import Vocabulary, run_vocab
from seqpipe.config import VocabConfig

MAX_SENTENCE = 16  # small, so that long sentences are cut into pieces


def write_text(folder: Path) -> list[Path]:
    """Three files of sentences of 1..40 words (some of 60, cut into pieces), rare words among them."""
    rng = np.random.default_rng(0)
    words = [f"w{''.join(chr(97 + int(d)) for d in str(i))}" for i in range(2000)]
    paths = []
    for f in range(3):
        lines = []
        for _ in range(120):
            n = 60 if rng.random() < 0.05 else int(rng.integers(1, 41))
            picks = np.minimum(rng.zipf(1.3, size=n) - 1, len(words) - 1)
            lines.append(" ".join(words[int(i)] for i in picks) + ".")
        paths.append(folder / f"part{f}.txt")
        paths[-1].write_text("\n".join(lines) + "\n")
    return paths


@pytest.fixture
def corpus_and_vocab(tmp_path, runtime, ingest_cfg):
    sources = write_text(tmp_path)
    corpus = run_ingest(ingest_cfg(*sources, shard_mb=0.004, row_group_rows=5), runtime).uri
    vocab = Vocabulary.load(run_vocab(VocabConfig(min_count=3, out=str(tmp_path / "vocab")), corpus, runtime).uri)
    assert len(shard_paths(corpus)) >= 3  # a share spans shards
    return corpus, vocab


def boundaries(sentence: np.ndarray) -> np.ndarray:
    return np.flatnonzero(sentence[1:] != sentence[:-1])


@pytest.mark.parametrize("with_counts", [True, False])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_streamed_share_is_the_whole_load_sliced(corpus_and_vocab, tmp_path, world, with_counts):
    corpus, vocab = corpus_and_vocab
    specials = len(vocab.specials)
    ids, sentence = load_ids(shard_paths(corpus), vocab.tokens, specials, max_sentence=MAX_SENTENCE)
    assert len(ids) < read_json(Path(corpus) / "manifest.json")["counts"]["tokens"]  # OOV words were dropped
    assert len(boundaries(sentence)) > len(boundaries(load_ids(shard_paths(corpus), vocab.tokens, specials)[1]))
    if not with_counts:  # a corpus written without counts/: the words of each shard are counted by reading it
        shutil.rmtree(Path(corpus) / "counts")
    words = shard_words(corpus, vocab.tokens, specials)
    assert sum(words) == len(ids)
    share = np.linspace(0, len(ids), world + 1).astype(np.int64)
    for rank in range(world):
        a, b = int(share[rank]), int(share[rank + 1])
        got_ids, got_sentence = read_share(corpus, vocab.tokens, specials, a, b, tmp_path / "scratch", words,
                                           max_sentence=MAX_SENTENCE, batch_rows=3)
        assert got_ids.dtype == np.int32 and got_sentence.dtype == np.int32
        np.testing.assert_array_equal(got_ids, ids[a:b])
        np.testing.assert_array_equal(boundaries(got_sentence), boundaries(sentence[a:b]))
    assert not list((tmp_path / "scratch").iterdir())  # the files are unlinked once mapped


def test_a_share_that_overruns_the_corpus_is_an_error(corpus_and_vocab, tmp_path):
    corpus, vocab = corpus_and_vocab
    words = shard_words(corpus, vocab.tokens, len(vocab.specials))
    with pytest.raises(ValueError, match="in-vocabulary words"):
        read_share(corpus, vocab.tokens, len(vocab.specials), 0, sum(words) + 5, tmp_path / "scratch",
                   [*words[:-1], words[-1] + 5])
