"""Read audio files as float32 mono waves at the sample rate a model expects.

soundfile (libsndfile) decodes WAV, FLAC and OGG/Vorbis at any sample rate and channel
count; channels are averaged to mono and the wave is resampled with a polyphase filter
(`scipy.signal.resample_poly`, up/down factors reduced by their gcd), which keeps the
duration and the frequencies of the recording.

`check_audio` says why an utterance's audio cannot train a CTC model (unreadable, empty,
silent, or too short for its transcript); `seqpipe.tasks.speech.manifest` re-exports it.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from seqpipe.core.errors import InputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
SAMPLE_RATES = (1_000, 384_000)  # Hz: outside, a header is broken (and resampling would need gigabytes)


class AudioError(InputError):
    """An audio file that cannot be used: missing, not decodable, or empty.

    `reason` is the message without the path (for rejects that name the file and line themselves)."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """The file's samples as a float32 mono wave in [-1, 1] at `sample_rate` Hz."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise AudioError(path, "missing audio file" if not path.exists() else "not a file")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, OSError) as err:
        raise AudioError(path, f"unreadable audio ({_short(err)})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "empty audio (0 samples)")
    if not SAMPLE_RATES[0] <= rate <= SAMPLE_RATES[1]:
        raise AudioError(path, f"sample rate {rate} Hz outside {SAMPLE_RATES[0]}-{SAMPLE_RATES[1]} Hz")
    if not np.isfinite(data).all():  # float WAV can hold NaN or infinity; training on them gives NaN
        raise AudioError(path, "non-finite samples (NaN or infinity)")
    wave = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return resample(wave, rate, sample_rate)


def resample(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """`wave` resampled from `from_rate` to `to_rate` Hz (float32; unchanged when the rates match)."""
    wave = np.asarray(wave, dtype=np.float32)
    if from_rate == to_rate:
        return wave
    common = math.gcd(int(from_rate), int(to_rate))
    out = resample_poly(wave, int(to_rate) // common, int(from_rate) // common)
    return out.astype(np.float32, copy=False)


def audio_duration(path: str | Path) -> float:
    """Seconds of audio in the file, from its header (nothing is decoded)."""
    try:
        info = soundfile.info(str(Path(path).expanduser()))
    except (soundfile.SoundFileError, RuntimeError, OSError) as err:
        raise AudioError(path, f"unreadable audio ({_short(err)})") from None
    return info.frames / info.samplerate


def ctc_min_frames(transcript: str) -> int:
    """The fewest output frames CTC needs: one per character plus a blank between each repeated pair."""
    repeats = sum(1 for a, b in zip(transcript, transcript[1:]) if a == b)
    return len(transcript) + repeats


def check_audio(utt, sample_rate: int, hop: int, subsampling: int,
                wave: np.ndarray | None = None) -> str | None:
    """Why the audio of `utt` (a manifest Utterance: .path, .transcript) cannot train a CTC model.

    None when it can. Unreadable or empty audio, all-zero audio, or fewer output frames (LogMel frames,
    1 + samples // hop, divided by `subsampling`) than `ctc_min_frames(transcript)`.
    Pass `wave` (already read at `sample_rate`) to avoid decoding the file again."""
    if wave is None:
        try:
            wave = read_audio(utt.path, sample_rate)
        except AudioError as err:
            return err.reason
    if wave.size == 0:
        return "empty audio (0 samples)"
    if not np.any(wave):
        return "silent audio (all samples are zero)"
    frames = (1 + wave.size // hop) // subsampling
    needed = ctc_min_frames(utt.transcript)
    if frames < needed:
        return (f"too short for its transcript: {wave.size / sample_rate:.2f} s gives {frames} output frames, "
                f"CTC needs at least {needed} for {len(utt.transcript)} characters")
    return None


def _short(err: Exception) -> str:
    """libsndfile's message without the repeated file name."""
    text = str(err).strip()
    if ": " in text and text.startswith("Error opening"):
        text = text.rsplit(": ", 1)[-1]
    return text or type(err).__name__
