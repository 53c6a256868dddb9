import numpy as np
import pyarrow.parquet as pq
import pytest

from seqpipe.config import VocabConfig
from seqpipe.core.errors import InputError
from seqpipe.data.ingest import run_ingest
from seqpipe.data.vocab import Vocabulary, run_vocab
from tests.conftest import write_lines


@pytest.fixture
def corpus(tmp_path, runtime, ingest_cfg):
    lines = ["b a c a b a", "d c a", "e"]  # a:4 b:2 c:2 d:1 e:1
    return run_ingest(ingest_cfg(write_lines(tmp_path / "a.txt", lines)), runtime).uri


def test_order_is_specials_then_count_desc_then_token(tmp_path, runtime, corpus):
    result = run_vocab(VocabConfig(min_count=1, out=str(tmp_path / "v")), corpus, runtime)
    table = pq.read_table(f"{result.uri}/vocab.parquet").to_pydict()
    assert table["token"] == ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", "d", "e"]
    assert table["id"] == list(range(9)) and table["count"] == [0, 0, 0, 0, 4, 2, 2, 1, 1]


def test_min_count_and_max_size_map_the_rest_to_unk(tmp_path, runtime, corpus):
    result = run_vocab(VocabConfig(min_count=2, max_size=2, out=str(tmp_path / "v")), corpus, runtime)
    vocab = Vocabulary.load(result.uri)
    assert vocab.tokens[4:] == ["a", "b"]
    assert vocab.counts[1] == 4, "<unk> counts the occurrences it stands for (c, c, d, e)"
    assert result.stats["coverage"] == pytest.approx(6 / 10)
    import pyarrow as pa
    assert vocab.encode(pa.array(["a", "zzz", "b"])).tolist() == [4, 1, 5]


def test_char_vocabulary_counts_characters_and_spaces(tmp_path, runtime, corpus):
    result = run_vocab(VocabConfig(min_count=1, out=str(tmp_path / "v")), corpus, runtime)
    chars = Vocabulary.load(result.uri, kind="chars")
    counts = dict(zip(chars.tokens, chars.counts.tolist()))
    assert counts["a"] == 4 and counts[" "] == 10 - 3


def test_rerun_reuses_and_is_deterministic(tmp_path, runtime, corpus):
    cfg = VocabConfig(min_count=1, out=str(tmp_path / "v"))
    first, second = run_vocab(cfg, corpus, runtime), run_vocab(cfg, corpus, runtime)
    assert second.reused and first.content_hash == second.content_hash


def test_deprecated_vocab_sample_is_ignored_and_does_not_change_the_hash(tmp_path, runtime, corpus):
    first = run_vocab(VocabConfig(min_count=1, out=str(tmp_path / "v")), corpus, runtime)
    for sample in (1e-3, 1e-5, 0):
        with pytest.warns(FutureWarning, match="vocab.sample is ignored; set embeddings.sample"):
            cfg = VocabConfig(min_count=1, out=str(tmp_path / "v"), sample=sample)
        again = run_vocab(cfg, corpus, runtime)
        assert again.reused and again.uri == first.uri, f"sample={sample} retrained the vocabulary"


def test_unigram_table_is_saved_with_the_vocabulary(tmp_path, runtime, corpus):
    result = run_vocab(VocabConfig(min_count=1, out=str(tmp_path / "v")), corpus, runtime)
    table = np.load(f"{result.uri}/unigram.npz")
    assert len(table["prob"]) == 9 and float(table["power"]) == 0.75


def test_not_a_corpus_is_a_clear_error(tmp_path, runtime):
    with pytest.raises(InputError, match="not an ingested corpus"):
        run_vocab(VocabConfig(), str(tmp_path), runtime)
