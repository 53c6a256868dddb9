import pyarrow as pa

from seqpipe.data import text


def words(s: str) -> list[str]:
    return text.tokenize(text.clean(pa.array([s])), "word").to_pylist()[0]


def test_word_tokens_keep_inner_joiners_and_split_punctuation():
    assert words("Don't e-mail me, Mr. Smith: it's 3.14 (or 1,000)!") == [
        "Don't", "e-mail", "me", ",", "Mr", ".", "Smith", ":", "it's", "3.14", "(", "or", "1,000", ")", "!"]


def test_quotes_and_dashes_around_words_are_tokens():
    assert words("'quoted' -- “curly” x - y") == ["'", "quoted", "'", "-", "-", "“", "curly", "”", "x", "-", "y"]


def test_unicode_words_stay_whole():
    assert words("Über café naïve Ελληνικά 東京") == ["Über", "café", "naïve", "Ελληνικά", "東京"]


def test_clean_normalises_nfkc_and_whitespace():
    assert text.clean(pa.array(["ﬁne\u00a0 ①\t\tx\u3000y\x01z  "])).to_pylist() == ["fine 1 x y z"]


def test_sentence_split_respects_abbreviations():
    sents = text.split_sentences(text.clean(pa.array(
        ["Dr. Watson met Mr. Holmes. They talked! Did they? Yes. 2 cats slept."]))).to_pylist()[0]
    assert sents == ["Dr. Watson met Mr. Holmes.", "They talked!", "Did they?", "Yes.", "2 cats slept."]


def test_char_tokens_include_spaces():
    assert text.tokenize(pa.array(["ab c"]), "char").to_pylist() == [["a", "b", " ", "c"]]


def test_explode_returns_parent_rows_and_positions():
    values, parents, positions = text.explode(pa.array([["a", "b"], [], ["c"]]))
    assert values.to_pylist() == ["a", "b", "c"]
    assert parents.to_pylist() == [0, 0, 2] and positions.to_pylist() == [0, 1, 0]
