"""The captioning demo set: scenes of one or two shapes drawn with Pillow, captioned by a small
grammar ("a small red circle left of a large blue square").

Every shape has a size, a colour and a kind; two shapes stand in a relation (left of, right
of, above, below), and such a scene has two captions, one from each shape ("a large blue
square right of a small red circle"). The (first shape, relation, second shape) combinations
are split: those of dev and test scenes never occur in training, so a caption scored there
is composed, not recalled. The images are PNG files beside captions files in Flickr8k's
style (`name.png#n<TAB>caption`).
"""
from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

from seqpipe.core.artifacts import atomic_folder, write_json

DEMO_VERSION = 1
SPLITS = ("train", "dev", "test")
SIZE = 64
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 7, "large": 12}  # radius in pixels
RELATIONS = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def describe(thing: tuple[str, str, str]) -> str:
    size, colour, shape = thing
    return f"a {size} {colour} {shape}"


def held_out(first: tuple, relation: str, second: tuple) -> bool:
    """Whether this combination belongs to dev and test (about a fifth of them), never to train;
    "A left of B" and "B right of A" are one combination (a scene has both captions)."""
    key = min(f"{describe(first)}|{relation}|{describe(second)}",
              f"{describe(second)}|{RELATIONS[relation]}|{describe(first)}")
    return hashlib.sha256(key.encode()).digest()[0] < 52


def _thing(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(list(SIZES)), rng.choice(list(COLOURS)), rng.choice(SHAPES)


def _centres(relation: str, rng: random.Random) -> tuple[tuple[int, int], tuple[int, int]]:
    """Centres of the first and the second shape, the first `relation` the second."""
    near, far, across = rng.randint(14, 22), rng.randint(42, 50), rng.randint(14, 50)
    wobble = rng.randint(-4, 4)
    first, second = ((near, across), (far, min(50, max(14, across + wobble))))  # first left of second
    if relation in ("right of", "below"):
        first, second = second, first
    if relation in ("above", "below"):
        first, second = (first[1], first[0]), (second[1], second[0])
    return first, second


def draw(scene: list[tuple[tuple[str, str, str], tuple[int, int]]]):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), (245, 245, 240))
    pen = ImageDraw.Draw(image)
    for (size, colour, shape), (x, y) in scene:
        r, fill = SIZES[size], COLOURS[colour]
        if shape == "circle":
            pen.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        elif shape == "square":
            pen.rectangle([x - r, y - r, x + r, y + r], fill=fill)
        else:
            pen.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
    return image


def make_scene(rng: random.Random, evaluation: bool):
    """(image, captions) of a scene whose combination is an evaluation one when `evaluation`
    (training also gets one-shape scenes: a fifth of them)."""
    if not evaluation and rng.random() < 0.2:
        thing = _thing(rng)
        centre = (rng.randint(16, 48), rng.randint(16, 48))
        return draw([(thing, centre)]), [describe(thing)]
    while True:
        first, second, relation = _thing(rng), _thing(rng), rng.choice(list(RELATIONS))
        if first != second and held_out(first, relation, second) == evaluation:
            break
    a, b = _centres(relation, rng)
    captions = [f"{describe(first)} {relation} {describe(second)}",
                f"{describe(second)} {RELATIONS[relation]} {describe(first)}"]
    return draw([(first, a), (second, b)]), captions


def build_captioning_demo(folder: str | Path, images: int = 3000, seed: int = 23) -> Path:
    """Write (once) and return folder/captioning-demo-v<version>-<images>-<seed>/: images/*.png
    and train.txt, dev.txt, test.txt (Flickr8k style), 80/10/10."""
    final = Path(folder).resolve() / f"captioning-demo-v{DEMO_VERSION}-{images}-{seed}"
    if all((final / f"{split}.txt").is_file() for split in SPLITS):
        return final
    if final.exists():  # incomplete (files deleted by hand): build it again
        shutil.rmtree(final)
    rng = random.Random(seed)
    sizes = (images - 2 * (images // 10), images // 10, images // 10)
    with atomic_folder(final) as tmp:
        (tmp / "images").mkdir()
        for split, size in zip(SPLITS, sizes):
            lines = []
            for i in range(size):
                image, captions = make_scene(rng, evaluation=split != "train")
                name = f"{split}-{i:05d}.png"
                image.save(tmp / "images" / name)
                lines += [f"{name}#{n}\t{caption}\n" for n, caption in enumerate(captions)]
            (tmp / f"{split}.txt").write_text("".join(lines), encoding="utf-8")
        write_json(tmp / "manifest.json", {"kind": "captioning-demo", "version": DEMO_VERSION, "seed": seed,
                                           "images": dict(zip(SPLITS, sizes)), "size": SIZE})
    return final
