"""Word tokens for raw text given to a tagger, in the style of CoNLL / Penn Treebank.

Punctuation is split off ("London." -> "London", "."), clitics too ("Potter's" ->
"Potter", "'s"; "don't" -> "do", "n't"), while words with an inner hyphen or apostrophe
("Jean-Pierre", "O'Neil"), numbers with separators ("3.5", "1,000", "12:30"),
abbreviations ("Dr.", "U.S.", "e.g.") and initials before a capitalised word ("J. Smith")
stay whole. Letters are Unicode letters with their combining marks, so "é" written as
"e" + U+0301 is one letter. Runs of CJK characters are not segmented further.

The NER demo data is tokenized with this same function, so training and inference agree.
"""
from __future__ import annotations

import functools
import re
import unicodedata

ABBREVIATIONS = (
    "Mr Mrs Ms Mx Dr Prof Sr Jr St Mt Ft Rev Gen Col Capt Lt Sgt Maj Cmdr Adm Gov Sen Rep Pres Hon "
    "Inc Ltd Co Corp Bros Dept Univ Assn Ave Blvd Rd Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec "
    "Mon Tue Wed Thu Fri Sat Sun No Nos Vol Fig approx vs etc al cf ca"
).split()
CLITICS = ("s", "re", "ve", "ll", "d", "m")
APOSTROPHES = "'\u2019"


@functools.lru_cache(maxsize=1)
def _token_pattern() -> re.Pattern:
    """The token regex; built on first use (collecting the combining marks takes ~50 ms)."""
    letter = rf"(?:[^\W_]|[{_combining_marks()}])"
    alnum = rf"{letter}+"
    clitic_body = rf"(?i:{'|'.join(CLITICS)})(?!{letter})"
    negation = rf"(?i:n[{APOSTROPHES}]t)(?!{letter})"
    inner_joiner = rf"(?:-|[{APOSTROPHES}](?!{clitic_body}))"
    abbreviations = "|".join(sorted(map(re.escape, ABBREVIATIONS), key=len, reverse=True))
    alternatives = [
        rf"(?<!{letter})(?:{abbreviations})\.",                         # Dr. Mr. Inc.
        rf"(?<!{letter})(?:[^\W\d_]\.){{2,}}",                          # U.S. e.g.
        rf"(?<!{letter})[A-ZÀ-ÖØ-Þ]\.(?=\s+[^\W\d_])",                  # J. Smith (an initial)
        r"\d+(?:[.,:/]\d+)+",                                           # 3.5 1,000 12:30 1/2
        rf"{alnum}(?={negation})",                                      # do|n't
        negation,                                                       # n't
        rf"[{APOSTROPHES}]{clitic_body}",                               # 's 're 'll ...
        rf"{alnum}(?:{inner_joiner}{alnum})*",                          # Jean-Pierre O'Neil
        r"\.\.\.+|--+|``|''",                                           # ... -- `` ''
        r"\S",                                                          # any other symbol
    ]
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


def _combining_marks() -> str:
    """A character-class body with every Unicode combining mark (categories Mn, Mc, Me)."""
    ranges: list[list[int]] = []
    for code in list(range(0x30000)) + list(range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)


def tokenize_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) for each token; text[start:end] == token."""
    return [(m.group(), m.start(), m.end()) for m in _token_pattern().finditer(text)]


def tokenize(text: str) -> list[str]:
    return [m.group() for m in _token_pattern().finditer(text)]
