"""Text processing on Arrow arrays: normalisation, sentence splitting, tokenisation.

Every step is a vectorised pyarrow compute kernel (RE2 regular expressions, utf8proc
normalisation) applied to a whole batch, so no Python code runs per line or per token.
"""
from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

WORD_CHARS = r"\pL\pN\pM_"
# Joiners stay inside a token when word characters surround them (don't, e-mail, 3.14,
# 1,000, U.S); everywhere else they, and every other symbol, become tokens of their own.
JOINERS = r"'’\-.,:"
_SYMBOL = rf"[^{WORD_CHARS}\s{JOINERS}]"
_JOINER_AFTER_NON_WORD = rf"(^|[^{WORD_CHARS}])([{JOINERS}])"
_JOINER_BEFORE_NON_WORD = rf"([{JOINERS}])([^{WORD_CHARS}]|$)"
# Runs of whitespace, and any whitespace or control character other than a plain space.
# (Matching single plain spaces too would rewrite every word boundary: 3x slower.)
_WHITESPACE_TO_FIX = (r"[\s\pZ\p{Cc}]{2,}|[\p{Cc}\p{Zl}\p{Zp}\x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}]")
SENTENCE_END = r"([.!?…]+[\"'”’)\]]*)[\s\pZ]+([\"'“‘(\[]*[\p{Lu}\pN])"
SPLIT_MARK = "\x00"
# Abbreviations that end with a period but rarely end a sentence.
ABBREVIATIONS = ["Mr", "Mrs", "Ms", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "vs", "etc", "e.g", "i.e",
                 "cf", "Fig", "fig", "No", "no", "Vol", "vol", "pp", "Inc", "Ltd", "Co", "Corp", "Jan",
                 "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"]
_ABBREV_SPLIT = r"(\b(?:" + "|".join(a.replace(".", r"\.") for a in ABBREVIATIONS) + r")\.)" + SPLIT_MARK


def clean(texts: pa.Array, normalize: str = "NFKC") -> pa.Array:
    """Unicode-normalise and collapse whitespace runs to one space (`clean_by_regex`, compiled)."""
    if normalize != "none":
        texts = unicode_normalize(texts, normalize)
    if texts.null_count == 0:
        from seqpipe.data.text_kernels import collapse_whitespace

        return pc.utf8_trim_whitespace(collapse_whitespace(texts))
    return clean_by_regex(texts, "none")


def clean_by_regex(texts: pa.Array, normalize: str = "NFKC") -> pa.Array:
    """`clean` as one RE2 replacement: the reference the compiled pass follows."""
    if normalize != "none":
        texts = unicode_normalize(texts, normalize)
    texts = pc.replace_substring_regex(texts, _WHITESPACE_TO_FIX, " ")
    return pc.utf8_trim_whitespace(texts)


def unicode_normalize(texts: pa.Array, form: str) -> pa.Array:
    """NFC or NFKC: Arrow's kernel for the mapping, Python's unicodedata to recompose.

    pyarrow 25's utf8_normalize decomposes but never recomposes ('é' comes out as 'e' +
    U+0301, one word becoming two vocabulary entries), so the rows left holding a
    combining mark are recomposed with unicodedata; other rows are already right. ASCII
    rows, most rows of English text, are their own normal form and are left alone.
    """
    ascii_rows = pc.string_is_ascii(texts)
    if pc.all(ascii_rows).as_py() is not False:
        return texts
    if pc.any(ascii_rows).as_py():
        others = pc.invert(ascii_rows)
        return pc.replace_with_mask(texts, others, unicode_normalize(texts.filter(others), form))
    texts = pc.utf8_normalize(texts, form)
    marked = pc.match_substring_regex(texts, r"\pM")
    rows = np.flatnonzero(marked.to_numpy(zero_copy_only=False))
    if len(rows) == 0:
        return texts
    fixed = [unicodedata.normalize(form, t) for t in texts.take(pa.array(rows)).to_pylist()]
    return pc.replace_with_mask(texts, marked, pa.array(fixed, pa.string()))


def split_sentences(texts: pa.Array) -> pa.ListArray:
    """Split each text into sentences at . ! ? … followed by a capital or a digit
    (`split_sentences_by_regex`, compiled)."""
    if texts.null_count == 0:
        from seqpipe.data.text_kernels import split_sentences as split_compiled

        return split_compiled(texts, ABBREVIATIONS)
    return split_sentences_by_regex(texts)


def split_sentences_by_regex(texts: pa.Array) -> pa.ListArray:
    """`split_sentences` as two RE2 replacements and a split: the reference of the compiled pass."""
    marked = pc.replace_substring_regex(texts, SENTENCE_END, "\\1" + SPLIT_MARK + "\\2")
    marked = pc.replace_substring_regex(marked, _ABBREV_SPLIT, "\\1 ")
    return pc.split_pattern(marked, SPLIT_MARK)


def tokenize(texts: pa.Array, level: str = "word") -> pa.ListArray:
    """Tokens of each cleaned text (see `clean`): 'word', 'whitespace' or 'char'.

    'word' separates words (with inner apostrophes and hyphens), numbers and punctuation:
    the rule of `tokenize_by_regex`, run by the compiled `word_tokens.tokenize_words`.
    """
    if level == "word" and texts.null_count == 0:
        from seqpipe.data.word_tokens import tokenize_words

        return tokenize_words(texts)
    return tokenize_by_regex(texts, level)


def tokenize_by_regex(texts: pa.Array, level: str = "word") -> pa.ListArray:
    """`tokenize` as three RE2 passes and a split: the reference the compiled tokenizer follows."""
    if level == "word":
        # Three passes that touch only punctuation are ~3x faster than one RE2 alternation
        # that rewrites every word.
        texts = pc.replace_substring_regex(texts, _SYMBOL, " \\0 ")
        texts = pc.replace_substring_regex(texts, _JOINER_AFTER_NON_WORD, "\\1 \\2 ")
        texts = pc.replace_substring_regex(texts, _JOINER_BEFORE_NON_WORD, " \\1 \\2")
    elif level == "char":
        marked = pc.replace_substring_regex(texts, r"(.)", "\\1" + SPLIT_MARK)
        return pc.split_pattern(pc.utf8_rtrim(marked, SPLIT_MARK), SPLIT_MARK)
    elif level != "whitespace":
        raise ValueError(f"unknown tokenisation level {level!r}")
    return pc.ascii_split_whitespace(pc.utf8_trim_whitespace(texts))  # cleaned: plain spaces only


def explode(lists: pa.ListArray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Flatten a list array into (values, parent row index, position within the parent)."""
    values = pc.list_flatten(lists)
    offsets = lists.offsets.to_numpy().astype(np.int64)
    lengths = np.diff(offsets)
    parents = np.repeat(np.arange(len(lengths)), lengths)
    positions = np.arange(len(values), dtype=np.int64) - (offsets[parents] - offsets[0])
    return values, pa.array(parents), pa.array(positions)


def tokens_of(text: str, normalize: str = "NFKC", lowercase: bool = True, level: str = "word") -> list[str]:
    """One string through the corpus's processing (without sentence splitting): its tokens."""
    texts = clean(pa.array([text], pa.string()), normalize)
    if lowercase:
        texts = pc.utf8_lower(texts)
    return tokenize(texts, level)[0].as_py()
