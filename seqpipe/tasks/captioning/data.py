"""Captioning data: a captions file per split (image name and caption, several captions per
image) and a folder of images in any size or format Pillow reads, read with the one reject
policy; and what the workers read: words.txt, images.npy (every image resized, uint8),
data.json (each image's row, its captions' word ids and its captions as scored) and model.json."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from seqpipe.config import CaptioningConfig
from seqpipe.core.artifacts import write_json
from seqpipe.core.dataset import Reject, enforce_reject_policy, hold_out, read_bytes
from seqpipe.core.errors import InputError
from seqpipe.core.paths import is_within

SPLITS = ("train", "dev", "test")
IMAGE_ERRORS = (OSError, ValueError, Image.DecompressionBombError)  # UnidentifiedImageError is an OSError
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
PAD, UNK, BOS, EOS = 0, 1, 2, 3
# How captions are scored (part of the gate's evaluation identity and of the stage's hash): against
# the raw captions of the file, normalised by reference_text. Before this marker (v1, none in the
# hashes) the references were rebuilt from training-vocabulary ids: unseen words <unk>, cut at max_words.
REFERENCES = "raw-v2"


@dataclass
class CaptionedImages:
    paths: list[str] = field(default_factory=list)            # one per image, in first-seen order
    captions: list[list[str]] = field(default_factory=list)   # the captions of each image
    rejects: list[Reject] = field(default_factory=list)
    read: int = 0
    files: list[str] = field(default_factory=list)


def with_demo_data(cfg: CaptioningConfig, state_dir: str, demo) -> CaptioningConfig:
    """cfg itself when it names training captions, else pointed at the generated demo set."""
    if cfg.train_captions:
        return cfg
    from seqpipe.tasks.captioning.demo import build_captioning_demo

    folder = build_captioning_demo(Path(state_dir) / "demo", demo.captioning_images)
    return cfg.model_copy(update={f"{split}_captions": str(folder / f"{split}.txt") for split in SPLITS} |
                          {"images": str(folder / "images")})


def split_files(cfg: CaptioningConfig) -> dict[str, str]:
    return {split: path for split in SPLITS if (path := getattr(cfg, f"{split}_captions"))}


def read_splits(cfg: CaptioningConfig, files: dict[str, str],
                roots: list[str] | None = None) -> dict[str, CaptionedImages]:
    """Every configured split; without a dev split, a seeded part of the training images is held out."""
    data = {split: read_captions(Path(path), cfg, roots) for split, path in files.items()}
    if "dev" not in data:
        train = data["train"]
        rest, dev = hold_out(list(zip(train.paths, train.captions)), cfg.dev_fraction, cfg.train.seed)
        data["train"] = CaptionedImages([p for p, _ in rest], [c for _, c in rest], train.rejects, train.read,
                                        train.files)
        data["dev"] = CaptionedImages([p for p, _ in dev], [c for _, c in dev], [], 0, train.files)
    return data


def read_captions(path: Path, cfg: CaptioningConfig, roots: list[str] | None = None) -> CaptionedImages:
    """The images of a captions file with their captions; an empty caption, a missing or
    unreadable image is a reject naming the captions file and line. With `roots`
    (runtime.strict_paths), so is an image outside them (`../`, symlinks): it is not opened."""
    out, images = CaptionedImages(files=[str(path)]), Path(cfg.images) if cfg.images else path.parent
    row_of, problem_of = {}, {}  # by image name: its row in out.paths, why it cannot be used
    for line, name, caption in _rows(path):
        out.read += 1
        if name not in problem_of:  # the image's first caption: is the image usable?
            problem_of[name] = _unusable(images / name, roots) if name else "no image name"
            if problem_of[name] is None:
                row_of[name] = len(out.paths)
                out.paths.append(str(images / name))
                out.captions.append([])
        if reason := problem_of[name] or (None if caption.strip() else "no caption"):
            out.rejects.append(Reject.of(path, line, reason, f"{name}\t{caption}"))
        else:
            out.captions[row_of[name]].append(caption.strip())
    kept = [i for i, captions in enumerate(out.captions) if captions]  # an image whose every caption was empty
    out.paths, out.captions = [out.paths[i] for i in kept], [out.captions[i] for i in kept]
    enforce_reject_policy([(f"{r.origin}:{r.line}", r.reason) for r in out.rejects], out.read, cfg.max_reject_rate,
                          "captions", "captioning.max_reject_rate", [str(path)], "captioned images")
    return out


def _rows(path: Path):
    """(line, image name, caption): Flickr8k's `name#n<TAB>caption`, or a header row naming
    `image` and `caption` columns (comma- or tab-separated)."""
    text = read_bytes(path).decode("utf-8", errors="replace")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else ","
    columns = [c.strip().lower() for c in next(csv.reader([first], delimiter=delimiter), [])]
    if "image" in columns and "caption" in columns:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        next(reader)
        at = columns.index("image"), columns.index("caption")
        for row in reader:
            if row:
                yield (reader.line_num, row[at[0]], row[at[1]]) if len(row) > max(at) else (reader.line_num, "", "")
        return
    for line, row in enumerate(text.split("\n"), 1):
        if row.strip():
            name, _, caption = row.partition("\t")
            yield line, name.split("#")[0].strip(), caption


def _unusable(image: Path, roots: list[str] | None) -> str | None:
    """Why an image cannot be used, or None."""
    from PIL import Image

    if roots is not None and not is_within(image, roots):
        return f"outside the data roots: {image}"
    if not image.is_file():
        return f"no image {image}"
    try:
        with Image.open(image) as found:
            found.verify()
    except (*IMAGE_ERRORS, SyntaxError) as err:
        return f"{image} is not a readable image: {err}"
    return None


def load_image(path: str | Path, size: int) -> np.ndarray:
    """(3, size, size) uint8: the image as RGB, resized (the whole image, its aspect ratio not kept)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            pixels = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except IMAGE_ERRORS as err:
        raise InputError(f"{path}: not a readable image: {err}") from None
    return np.asarray(pixels, dtype=np.uint8).transpose(2, 0, 1).copy()


def tokenize(caption: str, lowercase: bool) -> list[str]:
    """A caption's words: split on spaces, a final full stop dropped."""
    return (caption.lower() if lowercase else caption).replace(" .", "").rstrip(".").split()


def reference_text(caption: str, lowercase: bool) -> str:
    """A caption as it is scored, as a reference and as a hypothesis alike: the raw text of the
    captions file through the same `tokenize` as the captions the model learns from (lowercased
    with `lowercase`, final full stop dropped, words joined by one space), so a generated caption,
    whose words are training words, can equal it. No vocabulary lookup (a word never seen in
    training stays itself, not <unk>) and no cut at max_words. sacrebleu's 13a tokenizer and CIDEr-D's
    whitespace split then treat both sides the same way."""
    return " ".join(tokenize(caption, lowercase))


def prepare(folder: Path, cfg: CaptioningConfig, data: dict[str, CaptionedImages]) -> dict:
    """words.txt, images.npy, data.json and model.json; returns counts."""
    words = {w for captions in data["train"].captions for c in captions for w in tokenize(c, cfg.lowercase)}
    vocabulary = SPECIALS + sorted(words)
    (folder / "words.txt").write_text("".join(w + "\n" for w in vocabulary), encoding="utf-8")
    ids = {w: i for i, w in enumerate(vocabulary)}
    rows, examples = [], {}
    for split, d in data.items():
        examples[split] = []
        for path, captions in zip(d.paths, d.captions):
            ids_of = [[ids.get(w, UNK) for w in tokenize(c, cfg.lowercase)][:cfg.max_words] for c in captions]
            examples[split].append([len(rows), ids_of, [reference_text(c, cfg.lowercase) for c in captions]])
            rows.append(load_image(path, cfg.image_size))
    np.save(folder / "images.npy", np.stack(rows) if rows else np.zeros((0, 3, cfg.image_size, cfg.image_size),
                                                                          np.uint8))
    write_json(folder / "data.json", examples)
    write_json(folder / "model.json", {"words": len(vocabulary), "image_size": cfg.image_size,
                                       "channels": cfg.channels, "lowercase": cfg.lowercase,
                                       "max_words": cfg.max_words, "attention": cfg.attention,
                                       "decoder": cfg.decoder, "encoder": cfg.encoder.model_dump()})
    return {split: {"images": len(d.paths), "captions": sum(map(len, d.captions))} for split, d in data.items()}
