"""The compiled word tokenizer gives the tokens of the RE2 passes it replays, on any cleaned text."""
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from seqpipe.data import text
from seqpipe.data.word_tokens import tokenize_words

# the characters the passes treat differently: letters (ASCII and not), digits, combining
# marks, joiners, symbols, other punctuation and emoji, and the one space cleaned text has
ALPHABET = list("aZ09_ '’-.,:!?\"()[]/$%&*+é\u0301ßĲ中文ـ٣—–“”«»…€😀\u200b")


def regex_tokens(texts: list[str]) -> list:
    return text.tokenize_by_regex(pa.array(texts, pa.string()), "word").to_pylist()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=ALPHABET, max_size=40), max_size=8))
def test_compiled_tokens_equal_the_regex_passes_on_random_text(texts):
    cleaned = text.clean(pa.array(texts, pa.string()), "NFKC")  # what ingestion tokenizes
    assert tokenize_words(cleaned).to_pylist() == regex_tokens(cleaned.to_pylist())


def test_compiled_tokens_on_the_hard_cases_and_a_sliced_array():
    cases = ["", "a", ".", ".,x", "x.,y", "a..b", "U.S.", "don't", "'quoted'", "e-mail: x@y.z", "3.14, 1,000",
             "-5", "a -", "...", "-" * 50, ".-" * 30, "=-=-=" * 9, "$" * 40, "—dash—", "l’été", "naïve café", "😀x😀", "a  b"]
    assert tokenize_words(pa.array(cases)).to_pylist() == regex_tokens(cases)
    sliced = pa.array(["skip me", *cases])[1:]  # an array that starts inside its buffers
    assert tokenize_words(sliced).to_pylist() == regex_tokens(cases)
