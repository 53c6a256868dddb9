import pytest

from seqpipe.tasks.ner.conll import read_conll
from seqpipe.tasks.ner.demo import build_ner_demo
from seqpipe.tasks.ner.schemes import spans
from seqpipe.tasks.ner.tokenize import tokenize, tokenize_with_offsets


@pytest.mark.parametrize("text, tokens", [
    ("He lives in London.", ["He", "lives", "in", "London", "."]),
    ("Potter's wand", ["Potter", "'s", "wand"]),
    ("Jean-Pierre met O'Neil", ["Jean-Pierre", "met", "O'Neil"]),
    ("It cost 3.5 or 1,000 euros, at 12:30.", ["It", "cost", "3.5", "or", "1,000", "euros", ",", "at", "12:30", "."]),
    ("Dr. Who and Mr. Bean left the U.S. today", ["Dr.", "Who", "and", "Mr.", "Bean", "left", "the", "U.S.", "today"]),
    ("Müller aß in Zürich 北京大学.", ["Müller", "aß", "in", "Zürich", "北京大学", "."]),
    ("Cafe\u0301 ok", ["Cafe\u0301", "ok"]),
    ("\"We don't know,\" J. Smith said...", ['"', "We", "do", "n't", "know", ",", '"', "J.", "Smith", "said", "..."]),
    ("(Reuters) - Shares fell 5%", ["(", "Reuters", ")", "-", "Shares", "fell", "5", "%"]),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_offsets_map_back_to_the_text():
    text = "  Prof. Anna Kowalska-Nowak's team, based in Kraków, won 2,500 zł!\n"
    spans_ = tokenize_with_offsets(text)
    assert [t for t, _, _ in spans_] == tokenize(text)
    assert all(text[start:end] == token for token, start, end in spans_)
    assert "".join(text[s:e] for _, s, e in spans_) == "".join(text.split())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return build_ner_demo(tmp_path_factory.mktemp("demo"), sentences=1000, seed=7)


def test_demo_files_parse_without_rejects(demo):
    assert demo.name == "ner-demo-v2-1000-7"
    sizes = {}
    for name in ("train.txt", "dev.txt", "test.txt"):
        data = read_conll(demo / name, target="iob2")
        assert not data.rejects and data.scheme == "iob2"
        sizes[name] = len(data.sentences)
    assert sizes == {"train.txt": 800, "dev.txt": 100, "test.txt": 100}


def test_demo_has_all_four_types_and_multi_token_entities(demo):
    data = read_conll(demo / "train.txt")
    entities = [(t, e - s) for sentence in data.sentences for t, s, e in spans(sentence.tags)]
    assert {t for t, _ in entities} == {"PER", "LOC", "ORG", "MISC"}
    assert any(length > 1 for _, length in entities)
    counts = [len(spans(s.tags)) for s in data.sentences]
    assert {0, 1, 2, 3} <= set(counts)
    assert any(s.tokens[0].islower() for s in data.sentences)


def test_demo_tokens_are_what_the_tokenizer_gives(demo):
    data = read_conll(demo / "dev.txt")
    for sentence in data.sentences[:50]:
        assert tokenize(" ".join(sentence.tokens)) == sentence.tokens


def test_demo_is_deterministic_and_reused(demo, tmp_path):
    again = build_ner_demo(tmp_path, sentences=1000, seed=7)
    for name in ("train.txt", "dev.txt", "test.txt"):
        assert (again / name).read_bytes() == (demo / name).read_bytes()
    other = build_ner_demo(tmp_path, sentences=1000, seed=8)
    assert (other / "train.txt").read_bytes() != (again / "train.txt").read_bytes()
    stamp = (again / "train.txt").stat().st_mtime_ns
    assert build_ner_demo(tmp_path, sentences=1000, seed=7) == again
    assert (again / "train.txt").stat().st_mtime_ns == stamp


def test_dev_and_test_entities_are_mostly_unseen_in_train(demo):
    def surfaces(name):
        return {(t, " ".join(s.tokens[a:b])) for s in read_conll(demo / name).sentences for t, a, b in spans(s.tags)}

    train = surfaces("train.txt")
    for name in ("dev.txt", "test.txt"):
        held_out = surfaces(name)
        assert len(held_out & train) <= 0.1 * len(held_out)
