"""The compiled whitespace and sentence passes give what the RE2 replacements they replay give."""
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from seqpipe.data import text

# sentence ends, closers and openers, every kind of space and control character the classes
# tell apart, capitals and digits (ASCII and not), abbreviation letters, NUL (the split mark)
ALPHABET = list(".!?…\"'”’)]“‘([ \t\n\x0b\x0c\r\x01\x7f\x85\xa0\u2003\u2028\u3000\x00MrDeg.iAZ9a٣Éé中")
PIECES = ["Mr.", " Dr. ", "e.g. ", "i.e.", "Mrs. ", "xMr. ", "St. ", ". A", "?” B", "… (C", "  "]
TEXTS = st.lists(st.text(alphabet=ALPHABET, max_size=30) | st.lists(st.sampled_from(PIECES + ALPHABET), max_size=12)
                 .map("".join), max_size=8)


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_compiled_clean_equals_the_regex_on_random_text(texts):
    array = pa.array(texts, pa.string())
    assert text.clean(array, "none").to_pylist() == text.clean_by_regex(array, "none").to_pylist()


@settings(max_examples=500, deadline=None)
@given(TEXTS)
def test_compiled_split_equals_the_regex_on_random_text(texts):
    array = pa.array(texts, pa.string())
    assert text.split_sentences(array).to_pylist() == text.split_sentences_by_regex(array).to_pylist()


def test_compiled_passes_on_the_hard_cases_and_a_sliced_array():
    cases = ["", " ", "Dr. Watson met Mr. Holmes. They talked!  Did they?\tYes. 2 cats.", "He said “Go.” Then",
             "a. (B", "a. (. Foo", "x.\x00Y", "Mr.\x00Smith", "ends.", "U.S. Army", "e.g. This", "sMr. Jones", "é.Mr. X"]
    sliced = pa.array(["skip me", *cases])[1:]  # an array that starts inside its buffers
    assert text.split_sentences(sliced).to_pylist() == text.split_sentences_by_regex(pa.array(cases)).to_pylist()
    assert text.clean(sliced, "none").to_pylist() == text.clean_by_regex(pa.array(cases), "none").to_pylist()
    assert text.split_sentences(pa.array([], pa.string())).to_pylist() == []


def test_ascii_rows_skip_normalisation_and_the_others_are_normalised():
    rows = ["plain ascii", "ﬁne café", "e\u0301", "x"]
    assert text.unicode_normalize(pa.array(rows), "NFKC").to_pylist() == ["plain ascii", "fine café", "é", "x"]
