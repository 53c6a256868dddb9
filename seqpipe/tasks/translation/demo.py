"""A demo translation task: dates written by people, in many formats and languages, to ISO dates.

    "lundi 3 septembre 1984"  ->  1984-09-03
    "3. September 1984"       ->  1984-09-03
    "September 3rd, 1984"     ->  1984-09-03
    "03.09.1984"              ->  1984-09-03

Dates are drawn uniformly from 1900-01-01 to 2099-12-31. Sources are rendered with Babel
(CLDR data) in the locales of LOCALES, with each locale's "short", "medium", "long" and
"full" formats and custom patterns, plus English ordinals ("3rd of September 1984") and
locale-free numeric formats; a few are lowercased, uppercased or get a leading word
("le ", "am ", "on ").

Every source is unambiguous, although the model never sees its locale:
* the year always has four digits (two-digit years are widened to `yyyy`; a format that
  still shows no four-digit year is dropped). `yyyy` is the calendar year, never Babel's
  week-based `YYYY`.
* all-numeric renderings follow one convention: year first means year-month-day, year
  last means day-month-year; month-first renderings (en_US "9/3/1984") are dropped.

The split is by date, not by rendering: a stable hash puts every date in train (90%), dev
(5%) or test (5%), so no dev or test date occurs in train in any format and the scores
measure generalisation to unseen dates. Output: train.tsv, dev.tsv and test.tsv
("source<TAB>target", no header; readable with `read_parallel(table=...)`) split 90/5/5,
and manifest.json, in folder/dates-v1-<pairs>-<seed>/.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, is_complete, write_json
from seqpipe.tasks.translation.parallel_text import clean_text, write_parallel_tsv

DEMO_VERSION = 1
SPLIT_FILES = ("train.tsv", "dev.tsv", "test.tsv")
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2099, 12, 31)
HELD_OUT_PERCENT = 5          # of the dates for dev, and as many for test
LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL", "sv_SE", "pl_PL",
           "da_DK", "fi_FI", "cs_CZ", "ro_RO", "tr_TR", "id_ID", "ru_RU", "el_GR")
STANDARD_FORMATS = ("short", "medium", "long", "full")
LOCALE_PATTERNS = ("d MMMM yyyy", "d MMM yyyy", "EEEE d MMMM yyyy", "EEE d MMM yyyy")
ENGLISH_PATTERNS = ("MMMM d, yyyy", "MMM d, yyyy", "EEEE, MMMM d, yyyy", "EEE, MMM d, yyyy", "d MMMM, yyyy",
                    "MMMM '#', yyyy", "'the' '#' 'of' MMMM yyyy", "EEEE, MMMM '#', yyyy", "'#' MMMM yyyy")
ORDINAL_MARK = "#"            # a quoted '#' in a pattern becomes the English ordinal of the day
# Locale-free numeric formats (one convention: year last = day first, year first = y-m-d).
NUMERIC_PATTERNS = ("dd.MM.yyyy", "d.M.yyyy", "dd/MM/yyyy", "d/M/yyyy", "dd-MM-yyyy", "yyyy-MM-dd", "yyyy/MM/dd")
NUMERIC_WEIGHT = 1.0          # the locale-free numeric formats together weigh as much as one locale
LEADING_WORDS = {"en": "on", "fr": "le", "de": "am", "es": "el", "it": "il", "pt": "em", "nl": "op",
                 "sv": "den", "da": "den", "pl": "dnia"}
LEADING_WORD_RATE = 0.04
LOWERCASE_RATE = 0.06
UPPERCASE_RATE = 0.03
CAPITALIZE_RATE = 0.04
PROBE_DAYS = (dt.date(1984, 9, 23), dt.date(2005, 1, 7), dt.date(1900, 12, 31), dt.date(2099, 2, 28),
              dt.date(1911, 11, 11))
GREEK_TONOS = "\u0301"
_DIGITS = re.compile(r"\d+")
_YEAR_FIRST = re.compile(r"\d{4}")
_YEAR_FIELD = re.compile(r"[yY]+")


@dataclass(frozen=True)
class Style:
    name: str                 # e.g. "fr_FR long", "numeric dd.MM.yyyy"
    locale: str               # the Babel locale used to render
    pattern: str              # a Babel (CLDR) date pattern
    language: str             # "" for locale-free numeric styles
    weight: float             # sampling weight


@dataclass(frozen=True)
class DatePair:
    day: dt.date
    source: str
    style: str

    @property
    def target(self) -> str:
        return self.day.isoformat()


def build_date_demo(folder: str | Path, pairs: int = 20000, seed: int = 7) -> Path:
    """Write (once) and return folder/dates-v1-<pairs>-<seed>/ with train.tsv, dev.tsv and test.tsv."""
    if pairs < 20:
        raise ValueError(f"the date demo needs at least 20 pairs, got {pairs}")
    final = Path(folder).resolve() / f"dates-v{DEMO_VERSION}-{pairs}-{seed}"
    if is_complete(final) and all((final / name).is_file() for name in SPLIT_FILES):
        return final
    if final.exists():  # incomplete (files deleted by hand): build it again
        shutil.rmtree(final)
    splits = generate_date_pairs(pairs, seed)
    with atomic_folder(final) as tmp:
        for name, items in zip(SPLIT_FILES, splits.values()):
            write_parallel_tsv(tmp / name, ((item.source, item.target) for item in items))
        import babel

        styles = date_styles()
        write_json(tmp / "manifest.json", {
            "kind": "date-demo", "version": DEMO_VERSION, "seed": seed,
            "pairs": {name: len(items) for name, items in zip(SPLIT_FILES, splits.values())},
            "dates": [FIRST_DAY.isoformat(), LAST_DAY.isoformat()], "target": "YYYY-MM-DD",
            "split": "by date: no dev or test date occurs in train",
            "locales": list(LOCALES), "styles": len(styles), "babel": babel.__version__})
    return final


def split_sizes(pairs: int) -> tuple[int, int, int]:
    """90 / 5 / 5 (train gets the rounding)."""
    dev = test = round(pairs * HELD_OUT_PERCENT / 100)
    return pairs - dev - test, dev, test


def date_split(day: dt.date) -> str:
    """The stable split of a date: "train", "dev" or "test" (5% each for dev and test)."""
    bucket = int(hashlib.md5(day.isoformat().encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < HELD_OUT_PERCENT else "dev" if bucket < 2 * HELD_OUT_PERCENT else "train"


@functools.lru_cache(maxsize=1)
def split_days() -> dict[str, list[dt.date]]:
    """Every date of the range, by split."""
    days: dict[str, list[dt.date]] = {"train": [], "dev": [], "test": []}
    for ordinal in range(FIRST_DAY.toordinal(), LAST_DAY.toordinal() + 1):
        day = dt.date.fromordinal(ordinal)
        days[date_split(day)].append(day)
    return days


def generate_date_pairs(pairs: int = 20000, seed: int = 7) -> dict[str, list[DatePair]]:
    """{"train": [...], "dev": [...], "test": [...]}: the pairs build_date_demo writes, with their dates."""
    rng = random.Random(seed)
    styles = date_styles()
    cum_weights, total = [], 0.0
    for style in styles:
        total += style.weight
        cum_weights.append(total)
    days = split_days()
    result = {}
    for split, size in zip(("train", "dev", "test"), split_sizes(pairs)):
        pool = days[split]
        items = []
        for _ in range(size):
            day = pool[rng.randrange(len(pool))]
            style = rng.choices(styles, cum_weights=cum_weights)[0]
            items.append(DatePair(day, vary(render(day, style), style, rng), style.name))
        result[split] = items
    return result


def render(day: dt.date, style: Style) -> str:
    """The date in the style, cleaned as read_parallel cleans text (NFC, single spaces)."""
    from babel.dates import format_date

    text = format_date(day, style.pattern, locale=_locale(style.locale))
    if ORDINAL_MARK in text:
        text = text.replace(ORDINAL_MARK, english_ordinal(day.day))
    return clean_text(text)


def vary(text: str, style: Style, rng: random.Random) -> str:
    """Sometimes a leading word ("le 3 septembre 1984"), lowercase, uppercase or a capital first letter
    (normalised to NFC again). Uppercase Greek drops its accents, as Greek typesetting does ("ΜΑΪΟΥ")."""
    word = LEADING_WORDS.get(style.language)
    if rng.random() < LEADING_WORD_RATE and word and word not in text.lower().split() \
            and not _YEAR_FIRST.match(text):
        text = f"{word} {text}"
    draw = rng.random()
    if draw < LOWERCASE_RATE:
        text = text.lower()
    elif draw < LOWERCASE_RATE + UPPERCASE_RATE:
        text = text.upper()
        if style.language == "el":
            text = unicodedata.normalize("NFD", text).replace(GREEK_TONOS, "")
    elif draw < LOWERCASE_RATE + UPPERCASE_RATE + CAPITALIZE_RATE:
        text = text[:1].upper() + text[1:]
    return clean_text(text)


def english_ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


@functools.lru_cache(maxsize=None)
def _locale(name: str):
    from babel import Locale

    return Locale.parse(name)


@functools.lru_cache(maxsize=1)
def date_styles() -> tuple[Style, ...]:
    """Every usable (locale, pattern): each locale weighs the same, its styles share its weight."""
    from babel.dates import get_date_format

    styles: list[Style] = []
    for locale in LOCALES:
        language = locale.split("_")[0]
        patterns = [get_date_format(name, locale=locale).pattern for name in STANDARD_FORMATS]
        patterns += LOCALE_PATTERNS + (ENGLISH_PATTERNS if language == "en" else ())
        usable = _distinct([usable_pattern(p, locale) for p in patterns], locale)
        styles += [Style(f"{locale} {p}", locale, p, language, 1.0 / len(usable)) for p in usable]
    numeric = [p for p in NUMERIC_PATTERNS if usable_pattern(p, "en_GB") == p]
    styles += [Style(f"numeric {p}", "en_GB", p, "", NUMERIC_WEIGHT / len(numeric)) for p in numeric]
    return tuple(styles)


def _distinct(patterns: list[str | None], locale: str) -> list[str]:
    """The usable patterns, one of those that render the same (e.g. "d MMMM y" and "d MMMM yyyy")."""
    kept: dict[tuple[str, ...], str] = {}
    for pattern in patterns:
        if pattern:
            key = tuple(render(day, Style("probe", locale, pattern, "", 1.0)) for day in PROBE_DAYS)
            kept.setdefault(key, pattern)
    return list(kept.values())


def usable_pattern(pattern: str, locale: str) -> str | None:
    """The pattern, with a two-digit year widened to four digits, if every probe date renders
    unambiguously in it; None if not (a month-first numeric date, no four-digit year)."""
    if not _ok(pattern, locale):
        pattern = _widen_year(pattern)
        if not _ok(pattern, locale):
            return None
    return pattern


def _widen_year(pattern: str) -> str:
    """Every year field outside quoted literals (yy, y, Babel's week-based Y...) -> yyyy."""
    pieces = pattern.split("'")
    for index in range(0, len(pieces), 2):  # even pieces are outside quotes
        pieces[index] = _YEAR_FIELD.sub("yyyy", pieces[index])
    return "'".join(pieces)


def _ok(pattern: str, locale: str) -> bool:
    for day in PROBE_DAYS:
        text = render(day, Style("probe", locale, pattern, "", 1.0))
        groups = _DIGITS.findall(text)
        numbers = [int(g) for g in groups]
        if str(day.year) not in groups:
            return False
        shapes = ([day.day, day.year], [day.year, day.day],
                  [day.day, day.month, day.year], [day.year, day.month, day.day])
        if numbers not in shapes:
            return False
    return True
