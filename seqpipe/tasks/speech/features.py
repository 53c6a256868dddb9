"""Log-mel features in torch, with the mel filterbank librosa uses by default.

`LogMel` turns a wave into (frames, n_mels) features: a short-time Fourier transform
(`torch.stft`, periodic Hann window of `n_fft` samples, hop `hop`, centred frames with
reflect padding), the power spectrum |X|^2, a mel filterbank on the Slaney mel scale with
Slaney area normalisation (the filters equal `librosa.filters.mel` with its defaults), and
the natural log with a floor: log(max(mel, 1e-10)). The floor (rather than log(mel + eps))
keeps the log exact wherever the signal has power and only bounds it in digital silence,
at log(1e-10) = -23.

With centred frames a wave of n samples gives 1 + n // hop frames (`LogMel.frames`).
`normalise` standardises each mel bin of one utterance to zero mean and unit variance.
"""
from __future__ import annotations

import numpy as np
import torch

LOG_FLOOR = 1e-10
NORMALISE_EPS = 1e-5
# Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
_LINEAR_HZ_PER_MEL = 200.0 / 3
_LOG_START_HZ = 1000.0
_LOG_START_MEL = _LOG_START_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz on the Slaney mel scale."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_MEL + np.log(np.maximum(hz, _LOG_START_HZ) / _LOG_START_HZ) / _LOG_STEP
    return np.where(hz >= _LOG_START_HZ, logarithmic, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """The inverse of `hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _LINEAR_HZ_PER_MEL
    logarithmic = _LOG_START_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _LOG_START_MEL) - _LOG_START_MEL))
    return np.where(mel >= _LOG_START_MEL, logarithmic, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) triangular filters, as `librosa.filters.mel(...)` with its defaults.

    The filters' edges are n_mels + 2 points equally spaced in mels between f_min and f_max
    (default: the Nyquist frequency); each filter is scaled by 2 / its width in Hz, so every
    filter has the same area (Slaney normalisation)."""
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    if not 0 <= f_min < f_max <= sample_rate / 2.0:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got f_min={f_min}, f_max={f_max}")
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(edges)
    offsets = edges[:, None] - fft_freqs[None, :]       # (n_mels + 2, bins)
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def normalise(features: torch.Tensor, eps: float = NORMALISE_EPS) -> torch.Tensor:
    """Each mel bin (last dimension) standardised over the frames (dimension -2) of one utterance."""
    mean = features.mean(dim=-2, keepdim=True)
    std = features.std(dim=-2, keepdim=True, unbiased=False)
    return (features - mean) / (std + eps)


class LogMel:
    """Log-mel features of a wave: (frames, n_mels) for a 1-D wave, (batch, frames, n_mels) for 2-D."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop: int = 160, n_mels: int = 80,
                 f_min: float = 0.0, f_max: float | None = None):
        if n_fft < 2 or hop < 1 or n_mels < 1:
            raise ValueError(f"need n_fft >= 2, hop >= 1 and n_mels >= 1, got {n_fft}, {hop}, {n_mels}")
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop, n_mels
        self.f_min, self.f_max = f_min, f_max
        self.filterbank = torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max))
        self.window = torch.hann_window(n_fft, periodic=True)

    def frames(self, num_samples: int) -> int:
        """The number of feature frames for a wave of `num_samples` samples (centred frames)."""
        return 1 + num_samples // self.hop

    def __call__(self, wave: np.ndarray | torch.Tensor) -> torch.Tensor:
        wave = torch.as_tensor(wave, dtype=torch.float32)
        if wave.dim() not in (1, 2) or wave.shape[-1] == 0:
            raise ValueError(f"expected a non-empty wave of shape (samples,) or (batch, samples), "
                             f"got {tuple(wave.shape)}")
        # reflect padding needs more samples than half a window; shorter waves are zero-padded
        pad_mode = "reflect" if wave.shape[-1] > self.n_fft // 2 else "constant"
        spectrum = torch.stft(wave, self.n_fft, hop_length=self.hop, win_length=self.n_fft,
                              window=self.window.to(wave.device), center=True, pad_mode=pad_mode,
                              return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()       # (..., bins, frames)
        mel = torch.matmul(self.filterbank.to(wave.device), power)     # (..., n_mels, frames)
        return torch.log(mel.clamp(min=LOG_FLOOR)).transpose(-1, -2)

    def normalise(self, features: torch.Tensor) -> torch.Tensor:
        """Per-utterance mean/variance normalisation of each mel bin (see `normalise`)."""
        return normalise(features)

    def config(self) -> dict:
        """The settings, for manifests and model files."""
        return {"sample_rate": self.sample_rate, "n_fft": self.n_fft, "hop": self.hop, "n_mels": self.n_mels,
                "f_min": self.f_min, "f_max": self.f_max, "log_floor": LOG_FLOOR}
