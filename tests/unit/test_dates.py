import datetime as dt
import json
import re
import unicodedata

import pytest
from babel.dates import get_day_names, get_month_names

from seqpipe.tasks.translation import demo as dates
from seqpipe.tasks.translation.parallel_text import read_parallel

PAIRS = 20000


def fold(text: str) -> str:
    """Casefolded, without the dots of abbreviations and acute accents (uppercase Greek has none);
    Turkish dotless ı as i ("Aralık".upper() is "ARALIK")."""
    text = unicodedata.normalize("NFD", text.casefold().strip(".")).replace("\u0301", "")
    return unicodedata.normalize("NFC", text).replace("ı", "i")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return dates.build_date_demo(tmp_path_factory.mktemp("dates"), pairs=PAIRS, seed=7)


@pytest.fixture(scope="module")
def generated():
    return dates.generate_date_pairs(PAIRS, seed=7)


@pytest.fixture(scope="module")
def month_names():
    """Month number -> every casefolded, dot-less name Babel knows for it in the demo's locales."""
    names = {month: set() for month in range(1, 13)}
    for locale in dates.LOCALES:
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for month, name in get_month_names(width, context, locale).items():
                    names[month].add(fold(name))
    return names


@pytest.fixture(scope="module")
def weekday_names():
    """Casefolded, dot-less weekday names (Spanish "mar" is Tuesday, and March in Italian)."""
    return {fold(name) for locale in dates.LOCALES for width in ("wide", "abbreviated")
            for context in ("format", "stand-alone")
            for name in get_day_names(width, context, locale=locale).values()}


def recovers(source: str, day: dt.date, month_names, weekday_names) -> bool:
    """The source shows the 4-digit year, the day, and the month (a number, or a name of that month)."""
    numbers = [int(g) for g in re.findall(r"\d+", source)]
    if str(day.year) not in re.findall(r"\d{4}", source) or day.day not in numbers:
        return False
    words = {fold(w) for w in re.findall(r"[^\W\d_]+", source)}
    named = (words & set().union(*month_names.values())) - (weekday_names - month_names[day.month])
    rest = [n for n in numbers if n != day.year]
    if named:  # a month name, and no name of another month
        return rest == [day.day] and all(word in month_names[day.month] for word in named)
    year_first = numbers[0] == day.year and len(re.match(r"\D*(\d+)", source).group(1)) == 4
    return rest == ([day.month, day.day] if year_first else [day.day, day.month])


def test_files_sizes_manifest_and_clean_read(demo, generated):
    assert demo.name == f"dates-v1-{PAIRS}-7"
    manifest = json.loads((demo / "manifest.json").read_text())
    assert manifest["pairs"] == {"train.tsv": 18000, "dev.tsv": 1000, "test.tsv": 1000}
    for name, split in zip(dates.SPLIT_FILES, ("train", "dev", "test")):
        data = read_parallel(table=demo / name)
        assert not data.rejects and data.read == manifest["pairs"][name]
        assert [(p.source, p.target) for p in data.pairs] == [(g.source, g.target) for g in generated[split]]
    assert not list(demo.parent.glob(".tmp-*"))


def test_targets_are_the_iso_dates_of_the_sources(generated, month_names, weekday_names):
    for items in generated.values():
        for item in items:
            assert dates.FIRST_DAY <= item.day <= dates.LAST_DAY
            assert dt.date.fromisoformat(item.target) == item.day and re.fullmatch(r"\d{4}-\d\d-\d\d", item.target)
            assert re.search(rf"(?<!\d){item.day.year}(?!\d)", item.source), item
            assert recovers(item.source, item.day, month_names, weekday_names), item


def test_long_renderings_parse_back_with_babel_month_names(generated):
    parsed = 0
    for item in generated["train"]:
        locale, _, pattern = item.style.partition(" ")
        if locale not in ("en_US", "fr_FR", "de_DE") or pattern not in ("MMMM d, y", "d MMMM y", "d. MMMM y"):
            continue
        names = {name.casefold(): month for month, name in get_month_names("wide", locale=locale).items()}
        match = re.fullmatch(r"(?:on |le |am )?(?:(\w+) (\d+), (\d{4})|(\d+)\.? (\w+) (\d{4}))", item.source.casefold())
        assert match, item
        month, day, year = match.group(1, 2, 3) if match.group(1) else match.group(5, 4, 6)
        assert dt.date(int(year), names[month], int(day)) == item.day
        parsed += 1
    assert parsed > 100


def test_several_languages_and_variants(generated):
    text = "\n".join(item.source for items in generated.values() for item in items)
    for word in ("septembre", "September", "März", "septiembre", "settembre", "września", "Eylül", "января"):
        assert word.casefold() in text.casefold(), word
    sources = [item.source for item in generated["train"]]
    assert any(s.startswith("le ") for s in sources) and any(s.startswith("on ") for s in sources)
    assert any(s.isupper() for s in sources) and any(re.fullmatch(r"\d\d\.\d\d\.\d{4}", s) for s in sources)
    assert len({item.style.split()[0] for item in generated["train"]}) == len(dates.LOCALES) + 1


def test_no_dev_or_test_date_occurs_in_train(generated):
    train = {item.day for item in generated["train"]}
    dev, test = {item.day for item in generated["dev"]}, {item.day for item in generated["test"]}
    assert not train & test and not train & dev and not dev & test
    assert all(dates.date_split(day) == "test" for day in test)


def test_every_style_is_unambiguous_across_locales():
    """No rendering (ignoring case) of one day is the rendering of another, in any style."""
    styles = dates.date_styles()
    assert not any(s.name.startswith("en_US M/d") for s in styles)  # month-first numeric dates are dropped
    seen = {}
    for ordinal in range(dt.date(2024, 1, 1).toordinal(), dt.date(2024, 12, 31).toordinal() + 1):
        day = dt.date.fromordinal(ordinal)
        for style in styles:
            text = dates.render(day, style).casefold()
            assert seen.setdefault(text, day) == day, (text, style.name, seen[text], day)


def test_deterministic_and_reused(tmp_path, demo):
    first = dates.generate_date_pairs(400, seed=3)
    assert first == dates.generate_date_pairs(400, seed=3) != dates.generate_date_pairs(400, seed=4)
    before = (demo / "train.tsv").stat().st_mtime_ns
    assert dates.build_date_demo(demo.parent, pairs=PAIRS, seed=7) == demo
    assert (demo / "train.tsv").stat().st_mtime_ns == before
    small = dates.build_date_demo(tmp_path, pairs=400, seed=3)
    (small / "dev.tsv").unlink()
    rebuilt = dates.build_date_demo(tmp_path, pairs=400, seed=3)
    assert [line.split("\t")[0] for line in (rebuilt / "dev.tsv").read_text().splitlines()] == \
        [item.source for item in first["dev"]]
