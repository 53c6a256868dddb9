"""Speech synthesis with eSpeak NG, called through ctypes.

The library and its voice data come from the `espeakng_loader` package (no system
package). eSpeak NG is process-global, so one engine per process is initialised on first
use (synchronous output at 22050 Hz, samples collected by a callback) and every call holds
a lock. A voice is an accent ("en", "en-us", "en-gb-scotland", ...; `Synthesizer.voices()` lists
the English ones bundled) plus an optional variant from espeak-ng-data/voices/!v ("m1".."m8",
"f1".."f5", "klatt", ...), which changes the speaker's formants, pitch and breathiness.

Determinism: eSpeak NG keeps a little state between utterances in static variables (the
phase of its pitch "flutter", a glottal cycle counter and its automatic gain), so the same
call sounds slightly different depending on what was said before. When the library has its
symbol table (the bundled one does) the engine restores those variables to their values
after initialisation before every utterance, and seeds eSpeak's random numbers, so
`synthesize` is a pure function of its arguments; otherwise the audio varies by a few
milliseconds from call to call. The "klatt*" variants use eSpeak's Klatt synthesiser, which
keeps more state, and are not repeatable bit for bit.
"""
from __future__ import annotations

import ctypes
import struct
import threading
from pathlib import Path

import numpy as np

from seqpipe.core.errors import SeqpipeError

AUDIO_OUTPUT_SYNCHRONOUS = 2      # espeak_AUDIO_OUTPUT: PLAYBACK=0, RETRIEVAL=1, SYNCHRONOUS=2, SYNCH_PLAYBACK=3
POS_CHARACTER = 1                 # espeak_POSITION_TYPE
ESPEAK_CHARS_UTF8 = 1             # espeak_Synth flags
ESPEAK_RATE, ESPEAK_PITCH, ESPEAK_RANGE = 1, 3, 4   # espeak_PARAMETER
EE_OK = 0
RATE_LIMITS = (80, 450)           # words per minute eSpeak accepts
EXCLUDED_VOICES = ("en-shaw",)    # reads the Shavian alphabet, not Latin text
# static ints eSpeak carries from one utterance to the next, with their values after initialisation
STATIC_STATE = {"Flutter_ix": 0, "cycle_count": 0, "agc": 256}
RANDOM_SEED = 1

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SynthesisError(SeqpipeError):
    """eSpeak NG could not be loaded, or could not say the text with the voice asked for."""


class _Voice(ctypes.Structure):
    """espeak_VOICE from speak_lib.h."""
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


class _Engine:
    """The process's eSpeak NG instance: create with `_engine()`, use under `_LOCK`."""

    def __init__(self):
        import espeakng_loader

        self.data_path = Path(espeakng_loader.get_data_path())
        library_path = espeakng_loader.get_library_path()
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as err:
            raise SynthesisError(f"cannot load eSpeak NG from {library_path}: {err}") from None
        _declare(lib)
        self.lib = lib
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if self.sample_rate <= 0:
            raise SynthesisError(f"eSpeak NG did not initialise with the data in {self.data_path}")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)   # keep a reference: eSpeak calls it later
        lib.espeak_SetSynthCallback(self._callback)
        self._state = _static_state(lib, library_path)

    def _collect(self, samples, count: int, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # 0: go on synthesising

    def synthesize(self, name: str, text: str, rate: int, pitch: int, pitch_range: int) -> np.ndarray:
        """int16 samples of `text` said by the voice `name` (e.g. "en-us+f3")."""
        lib = self.lib
        if lib.espeak_SetVoiceByName(name.encode()) != EE_OK:
            raise SynthesisError(f"eSpeak NG has no voice {name!r}")
        for parameter, value in ((ESPEAK_RATE, rate), (ESPEAK_PITCH, pitch), (ESPEAK_RANGE, pitch_range)):
            lib.espeak_SetParameter(parameter, value, 0)
        for address, value in self._state:
            ctypes.c_int.from_address(address).value = value
        if hasattr(lib, "espeak_ng_SetRandSeed"):
            lib.espeak_ng_SetRandSeed(RANDOM_SEED)
        data = text.encode("utf-8")
        self._chunks = []
        status = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
        if status != EE_OK or lib.espeak_Synchronize() != EE_OK:
            raise SynthesisError(f"eSpeak NG failed (status {status}) to say {text[:80]!r} with {name!r}")
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def language_voices(self, prefix: str) -> list[str]:
        """The names (file names, lowercased) of the bundled voices whose language is `prefix` or `prefix`-*."""
        voices = self.lib.espeak_ListVoices(None)
        names = set()
        for index in range(10_000):
            if not voices[index]:
                break
            voice = voices[index].contents
            language = ctypes.string_at(voice.languages + 1).decode("ascii", "replace")  # after a priority byte
            if language == prefix or language.startswith(prefix + "-"):
                names.add(voice.identifier.decode("ascii", "replace").rsplit("/", 1)[-1].lower())
        return sorted(names)


def _declare(lib: ctypes.CDLL) -> None:
    """The C signatures of the functions used (speak_lib.h)."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    if hasattr(lib, "espeak_ng_SetRandSeed"):
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]


def _static_state(lib: ctypes.CDLL, library_path: str) -> list[tuple[int, int]]:
    """(address, value after initialisation) of the STATIC_STATE ints; [] unless all are found as expected."""
    symbols = _elf_symbols(Path(library_path))
    if "espeak_Initialize" not in symbols:
        return []
    base = ctypes.cast(lib.espeak_Initialize, ctypes.c_void_p).value - symbols["espeak_Initialize"][0]
    state = []
    for prefix, initial in STATIC_STATE.items():   # static locals are named "<name>.<number>" by GCC
        found = [value for name, (value, size) in symbols.items()
                 if size == 4 and (name == prefix or name.startswith(prefix + "."))]
        if len(found) != 1 or ctypes.c_int.from_address(base + found[0]).value != initial:
            return []
        state.append((base + found[0], initial))
    return state


def _elf_symbols(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (value, size) from the .symtab of a 64-bit little-endian ELF file ({} for anything else)."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    section_offset, = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    symbols: dict[str, tuple[int, int]] = {}
    for _, kind, _, _, offset, size, link, _, _, sym_size in sections:
        if kind != 2 or not sym_size:   # SHT_SYMTAB
            continue
        strings = sections[link][4]
        for start in range(offset, offset + size, sym_size):
            name_at, _, _, _, value, length = struct.unpack_from("<IBBHQQ", data, start)
            end = data.index(b"\0", strings + name_at)
            symbols[data[strings + name_at:end].decode("ascii", errors="replace")] = (value, length)
    return symbols


_LOCK = threading.Lock()
_ENGINE: _Engine | None = None


def _engine() -> _Engine:
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _Engine()
        return _ENGINE


class Synthesizer:
    """English speech from eSpeak NG: `synthesize(text, voice, variant, rate_wpm, pitch)`."""

    def __init__(self):
        self._engine = _engine()
        self.sample_rate = self._engine.sample_rate
        self.deterministic = bool(self._engine._state)
        self._variants = sorted(p.name for p in (self._engine.data_path / "voices" / "!v").iterdir() if p.is_file())

    def voices(self) -> list[str]:
        """The English accents bundled: "en" (British), "en-029", "en-gb-scotland", ..., "en-us", "en-us-nyc"."""
        with _LOCK:
            names = self._engine.language_voices("en")
        return [name for name in names if name not in EXCLUDED_VOICES]

    def variants(self) -> list[str]:
        """The voice variants bundled (file names in espeak-ng-data/voices/!v), sorted."""
        return list(self._variants)

    def synthesize(self, text: str, voice: str = "en-us", variant: str = "", rate_wpm: int = 175,
                   pitch: int = 50, pitch_range: int = 50) -> tuple[np.ndarray, int]:
        """(float32 wave in [-1, 1], sample rate) of `text`; pitch and pitch_range are 0-100 (50: the voice's own)."""
        if not text.strip() or "\0" in text:
            raise ValueError(f"nothing to say: {text!r}")
        if not RATE_LIMITS[0] <= rate_wpm <= RATE_LIMITS[1]:
            raise ValueError(f"rate_wpm must be in {RATE_LIMITS[0]}-{RATE_LIMITS[1]}, got {rate_wpm}")
        if not (0 <= pitch <= 100 and 0 <= pitch_range <= 100):
            raise ValueError(f"pitch and pitch_range must be in 0-100, got {pitch} and {pitch_range}")
        if variant and variant not in self._variants:
            raise SynthesisError(f"unknown eSpeak NG variant {variant!r}: expected one of {', '.join(self._variants)}")
        name = f"{voice}+{variant}" if variant else voice
        with _LOCK:
            samples = self._engine.synthesize(name, text, int(rate_wpm), int(pitch), int(pitch_range))
        return samples.astype(np.float32) / 32768.0, self.sample_rate
