"""The captions reader on broken images: each is a reject naming the captions file and line
(or, with no rejects allowed, that clear error), never a crash inside Pillow."""
from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from seqpipe.config import CaptioningConfig
from seqpipe.tasks.captioning.data import load_image, read_captions

from .fuzzing import attempt, read_ok

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]


def png(width: int = 8, height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def bomb() -> bytes:
    """A PNG header claiming 100000 x 100000 pixels (Pillow's decompression-bomb guard)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


BROKEN = {"empty.png": b"", "truncated.png": png()[:40], "text.jpg": b"not an image at all\n",
          "bomb.png": bomb(), "garbage.png": b"\x89PNG\r\n\x1a\n" + b"\xff" * 200, "folder.png": None}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_image_is_a_reject_naming_the_captions_line(tmp_path, name):
    (tmp_path / "good.png").write_bytes(png())
    if BROKEN[name] is None:
        (tmp_path / name).mkdir()
    else:
        (tmp_path / name).write_bytes(BROKEN[name])
    captions = tmp_path / "captions.txt"
    captions.write_text(f"good.png#0\ta red square\n{name}#0\ta broken one\n")
    strict = attempt("captions", [captions], lambda: read_captions(captions, CaptioningConfig()))
    assert not read_ok(strict) and f"{captions}:2:" in str(strict)
    kept = attempt("captions", [captions], lambda: read_captions(captions, CaptioningConfig(max_reject_rate=0.5)))
    assert read_ok(kept) and kept.paths == [str(tmp_path / "good.png")] and [r.line for r in kept.rejects] == [2]
    if BROKEN[name] is not None:
        attempt("captions", [tmp_path / name], lambda: load_image(tmp_path / name, 16))
