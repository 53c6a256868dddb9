"""A synthetic speech recognition demo set, spoken by eSpeak NG's English voices.

Sentences of 3 to 10 words come from 35 templates whose slots are filled from word
lists (names, places, cities, objects, food, animals, jobs, adjectives, verbs, days, spelled
numbers...: over 550 distinct words, all inside the speech alphabet, no digits), every
sentence distinct. Speakers are (accent, variant) pairs: the bundled English accents ("en",
"en-us", "en-gb-scotland", ...) times the variants m1-m7 and f1-f5, each speaker with its own
speaking rate (130-200 words per minute, jittered per utterance) and pitch (30-70).

The splits are speaker-disjoint: the (accent, variant) grid is cut into diagonals after a
seeded shuffle of both axes, one diagonal for test and one for dev, the rest for train, so
every accent and every variant is heard in training but test and dev speakers never are
(dev measures the same generalisation as test). Utterances split 80/10/10.

Output folder/speech-demo-v1-<utterances>-<seed>/ (with a "-<rate>hz" suffix for a sample
rate other than 16000): audio/<id>.wav (16-bit PCM, resampled from eSpeak's 22050 Hz),
train.csv, dev.csv, test.csv (path,transcript,speaker,duration; paths relative to the folder)
and manifest.json. It is written atomically and reused when complete; the same seed gives
the same manifests (and, with the bundled library, the same audio).
"""
from __future__ import annotations

import csv
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from seqpipe.core.artifacts import atomic_folder, is_complete, write_json
from seqpipe.tasks.speech.audio import resample
from seqpipe.tasks.speech.manifest import outside_alphabet
from seqpipe.tasks.speech.synth import Synthesizer

DEMO_VERSION = 1
SPLITS = ("train", "dev", "test")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
RATE_RANGE, RATE_JITTER, PITCH_RANGE = (130, 200), 8, (30, 70)
MANIFEST_FIELDS = ("path", "transcript", "speaker", "duration")
PEAK = 0.99

WORDS = {
    "NAME": "james mary robert linda michael sarah david emma daniel laura peter anna thomas julia george alice "
            "henry grace oliver lucy jack sophie samuel helen william rachel edward clara charles nora arthur ruth "
            "frank ella simon kate martin amy paul jane victor rose walter irene hugo maria oscar diana ivan olga "
            "leo nina felix vera adam eva",
    "PLACE": "station library market hospital school office garden kitchen harbour museum bakery church bridge "
             "river beach park theatre airport hotel farm village castle stadium factory cinema university "
             "restaurant shop forest mountain valley island lake square corner bank pharmacy gallery studio",
    "CITY": "london paris berlin madrid rome vienna dublin boston chicago denver seattle toronto sydney tokyo "
            "cairo lisbon oslo prague warsaw athens glasgow bristol leeds york",
    "NOUN": "book letter phone key bag coat hat umbrella ticket map camera lamp chair table window door bottle cup "
            "plate knife spoon bicycle car train bus boat box picture clock watch ring basket bucket blanket pillow "
            "candle mirror guitar piano violin drum ball kite radio computer notebook pencil envelope parcel "
            "newspaper magazine jacket scarf glove shoe wallet ladder hammer rope bench carpet curtain shelf oven "
            "kettle teapot fence gate roof painting present suitcase helmet",
    "FOOD": "bread cheese apples oranges soup rice pasta coffee tea milk butter honey eggs fish chicken carrots "
            "potatoes tomatoes onions beans cake cookies pie salad lemons grapes pears plums noodles pancakes",
    "ANIMAL": "dog cat horse cow sheep goat rabbit fox bird duck goose owl mouse deer bear wolf frog turtle lion "
              "tiger monkey whale dolphin squirrel hen",
    "ADJ": "old new small large quiet busy bright dark warm cold heavy light empty full clean dirty simple strange "
           "lovely famous friendly careful tired happy angry calm gentle yellow blue green red purple brown white "
           "black silver golden wooden broken shiny narrow wide tall short long early late cheap expensive modern "
           "ancient soft hard sweet bitter fresh rough smooth noisy lonely proud clever honest",
    "VERB": "found opened closed painted cleaned moved carried bought sold borrowed lost fixed dropped washed "
            "cooked built visited watched noticed ordered packed wrapped checked counted covered delivered "
            "described designed discovered explained filled followed gathered hid lifted mended measured needed "
            "pulled pushed repaired returned shared showed signed tested touched used wanted kept brought "
            "took gave chose forgot",
    "JOB": "teacher doctor farmer driver pilot nurse baker painter writer singer lawyer engineer student captain "
           "soldier sailor gardener waiter chef mechanic artist dancer judge porter banker miner builder tailor "
           "clerk manager",
    "DAY": "monday tuesday wednesday thursday friday saturday sunday",
    "MONTH": "january february march april may june july august september october november december",
    "TIME": "today|tonight|yesterday|tomorrow|this morning|this evening|last week|next week|next month|"
            "after lunch|before dinner|at noon|every day|last night",
    "WEATHER": "sunny cloudy windy rainy foggy stormy snowy freezing",
    "NUMBER": "two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty",
    "HOUR": "one two three four five six seven eight nine ten eleven twelve",
    "FAMILY": "mother father sister brother aunt uncle cousin grandmother grandfather daughter son neighbour "
              "friend",
    "ADVERB": "quickly slowly quietly carefully suddenly finally always never often rarely gladly nearly",
    "PLURAL": "books letters keys bottles cups chairs boxes pictures tickets birds candles maps stamps shirts "
              "flowers tables lamps coins bags cards",
}
TEMPLATES = (
    "{NAME} {VERB} the {ADJ} {NOUN}", "the {JOB} {VERB} a {NOUN} {TIME}", "we will meet at the {PLACE} on {DAY}",
    "{NAME} lives near the {ADJ} {PLACE} in {CITY}", "please put the {NOUN} on the {NOUN}",
    "my {FAMILY} likes {FOOD} and {FOOD}", "the {ANIMAL} ran across the {PLACE}",
    "it will be {WEATHER} in {CITY} {TIME}", "there are {NUMBER} {PLURAL} in the {PLACE}",
    "{NAME} and {NAME} {VERB} the {NOUN} together", "the {ADJ} {ANIMAL} is sleeping under the {NOUN}",
    "don't forget the {NOUN} when you go to the {PLACE}", "i can't find my {ADJ} {NOUN}",
    "the {PLACE} opens at {HOUR} o'clock", "{NAME} is a {ADJ} {JOB}", "they {VERB} the {NOUN} {ADVERB}",
    "the {NOUN} was too {ADJ} to carry", "have you seen the {ADJ} {NOUN}",
    "our {FAMILY} works at the {PLACE} in {CITY}", "the train to {CITY} leaves at {HOUR}",
    "we're going to {CITY} in {MONTH}", "he said the {FOOD} was {ADJ}", "{NAME}'s {FAMILY} {VERB} a {ADJ} {NOUN}",
    "the {JOB} asked for {NUMBER} {PLURAL}", "she {ADVERB} {VERB} the {NOUN} in the {PLACE}",
    "a {ADJ} {NOUN} fell from the {NOUN}", "i'm sure the {ANIMAL} ate the {FOOD}",
    "{NAME} {ADVERB} visits the {PLACE} on {DAY}", "the {ADJ} {JOB} lost a {NOUN} in {MONTH}",
    "you'll need {NUMBER} {PLURAL} and a {NOUN}", "why is the {NOUN} so {ADJ}", "{NAME} {VERB} it",
    "the {NOUN} is {ADJ}", "call {NAME} {TIME}", "{ADVERB} close the {NOUN}",
)
_SLOT = re.compile(r"\{([A-Z]+)\}")
_LISTS = {kind: words.split("|") if "|" in words else words.split() for kind, words in WORDS.items()}


@dataclass(frozen=True)
class Speaker:
    accent: str
    variant: str
    rate_wpm: int
    pitch: int

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}"


@dataclass(frozen=True)
class PlannedUtterance:
    split: str
    id: str
    text: str
    speaker: Speaker
    rate_wpm: int


def build_speech_demo(folder: str | Path, utterances: int = 600, seed: int = 5, sample_rate: int = 16000) -> Path:
    """Write (once) and return the demo folder with audio/ and the three manifests (see the module doc)."""
    suffix = "" if sample_rate == 16000 else f"-{sample_rate}hz"
    final = Path(folder).resolve() / f"speech-demo-v{DEMO_VERSION}-{utterances}-{seed}{suffix}"
    if is_complete(final) and all((final / f"{split}.csv").is_file() for split in SPLITS):
        return final
    if final.exists():  # incomplete (files deleted by hand): build it again
        shutil.rmtree(final)
    synthesizer = Synthesizer()
    plan = plan_demo(utterances, seed, synthesizer.voices())
    with atomic_folder(final) as tmp:
        (tmp / "audio").mkdir()
        rows: dict[str, list] = {split: [] for split in SPLITS}
        for item in plan:
            wave, rate = synthesizer.synthesize(item.text + ".", item.speaker.accent, item.speaker.variant,
                                                item.rate_wpm, item.speaker.pitch)
            wave = resample(wave, rate, sample_rate)
            wave *= min(1.0, PEAK / max(float(np.abs(wave).max()), 1e-9))   # resampling may overshoot 1.0
            soundfile.write(tmp / "audio" / f"{item.id}.wav", wave, sample_rate, subtype="PCM_16")
            rows[item.split].append((f"audio/{item.id}.wav", item.text, item.speaker.name,
                                     f"{len(wave) / sample_rate:.3f}"))
        for split in SPLITS:
            with open(tmp / f"{split}.csv", "w", encoding="utf-8", newline="") as f:
                csv.writer(f, lineterminator="\n").writerows([MANIFEST_FIELDS, *rows[split]])
        write_json(tmp / "manifest.json", _summary(plan, rows, seed, sample_rate, synthesizer))
    return final


def _summary(plan: list[PlannedUtterance], rows: dict, seed: int, sample_rate: int, synthesizer) -> dict:
    speakers = {split: sorted({p.speaker.name for p in plan if p.split == split}) for split in SPLITS}
    return {"kind": "speech-demo", "version": DEMO_VERSION, "seed": seed, "sample_rate": sample_rate,
            "utterances": {split: len(rows[split]) for split in SPLITS},
            "seconds": {split: round(sum(float(r[3]) for r in rows[split]), 3) for split in SPLITS},
            "speakers": speakers, "accents": synthesizer.voices(), "variants": list(VARIANTS),
            "vocabulary": len(vocabulary()), "synthesizer": "eSpeak NG (espeakng_loader)",
            "repeatable_audio": synthesizer.deterministic}


def plan_demo(utterances: int, seed: int, accents: list[str]) -> list[PlannedUtterance]:
    """Every utterance's split, id, text, speaker and rate, from the seed alone."""
    if utterances < 3:
        raise ValueError(f"the speech demo needs at least 3 utterances (one per split), got {utterances}")
    rng = random.Random(seed)
    speakers = split_speakers(accents, rng)
    sizes = split_sizes(utterances)
    seen: set[str] = set()
    plan = []
    for split, size in zip(SPLITS, sizes):
        for index in range(size):
            speaker = speakers[split][index % len(speakers[split])] if index < len(speakers[split]) \
                else rng.choice(speakers[split])
            rate = min(max(speaker.rate_wpm + rng.randint(-RATE_JITTER, RATE_JITTER), RATE_RANGE[0]), RATE_RANGE[1])
            plan.append(PlannedUtterance(split, f"{split}-{index:05d}", _new_sentence(rng, seen), speaker, rate))
    return plan


def split_speakers(accents: list[str], rng: random.Random) -> dict[str, list[Speaker]]:
    """Speakers per split: diagonals of the shuffled (accent, variant) grid for test and dev, the rest train."""
    accents, variants = sorted(accents), list(VARIANTS)
    rng.shuffle(accents)
    rng.shuffle(variants)
    groups: dict[str, list[Speaker]] = {split: [] for split in SPLITS}
    for a, accent in enumerate(accents):
        for v, variant in enumerate(variants):
            diagonal = (a + v) % len(accents)
            split = "test" if diagonal == 0 else "dev" if diagonal == 1 and len(accents) > 2 else "train"
            speaker = Speaker(accent, variant, rng.randint(*RATE_RANGE), rng.randint(*PITCH_RANGE))
            groups[split].append(speaker)
    for split in SPLITS:
        rng.shuffle(groups[split])
    return groups


def split_sizes(utterances: int) -> tuple[int, int, int]:
    """(train, dev, test): 80/10/10, at least one each."""
    held_out = max(1, round(utterances * 0.1))
    return utterances - 2 * held_out, held_out, held_out


def make_sentence(rng: random.Random) -> str:
    """One sentence: a random template with its slots filled from the word lists."""
    template = rng.choice(TEMPLATES)
    return _SLOT.sub(lambda slot: rng.choice(_LISTS[slot.group(1)]), template)


def vocabulary() -> set[str]:
    """Every word the templates and word lists can produce."""
    words = {w for template in TEMPLATES for w in _SLOT.sub(" ", template).replace("'s", " ").split()}
    return words | {w for items in _LISTS.values() for item in items for w in item.split()}


def _new_sentence(rng: random.Random, seen: set[str]) -> str:
    for _ in range(1000):
        sentence = make_sentence(rng)
        if sentence not in seen:
            seen.add(sentence)
            if outside_alphabet(sentence):
                raise AssertionError(f"demo sentence {sentence!r} is outside the speech alphabet")
            return sentence
    raise RuntimeError("could not find a new sentence in 1000 tries")
