"""Log-mel features against librosa, frame counts, normalisation, and reading + resampling audio."""
import numpy as np
import pytest
import soundfile as sf
import torch

from seqpipe.tasks.speech.audio import read_audio, resample
from seqpipe.tasks.speech.features import LogMel, mel_filterbank, normalise

librosa = pytest.importorskip("librosa")


@pytest.mark.parametrize("sample_rate, n_fft, n_mels, f_min, f_max", [
    (16000, 400, 80, 0.0, None),
    (16000, 512, 40, 20.0, 7600.0),
    (22050, 2048, 128, 0.0, None),
    (8000, 256, 23, 100.0, 3000.0),
    (16000, 400, 128, 0.0, 8000.0),
])
def test_filterbank_matches_librosa(sample_rate, n_fft, n_mels, f_min, f_max):
    ours = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max)
    reference = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
    assert ours.shape == reference.shape == (n_mels, 1 + n_fft // 2)
    np.testing.assert_allclose(ours, reference, atol=1e-6, rtol=0)


def _signals(sample_rate=16000, seconds=1.0):
    rng = np.random.default_rng(0)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    noise = 0.1 * rng.standard_normal(t.size)
    chirp = 0.5 * np.sin(2 * np.pi * (100 + 3000 * t) * t)
    return {"noise": noise.astype(np.float32), "chirp": chirp.astype(np.float32)}


@pytest.mark.parametrize("name", ["noise", "chirp"])
@pytest.mark.parametrize("n_fft, hop, n_mels", [(400, 160, 80), (512, 128, 40)])
def test_log_mel_matches_librosa(name, n_fft, hop, n_mels):
    wave = _signals()[name]
    ours = LogMel(16000, n_fft, hop, n_mels)(wave).numpy()
    power = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                           power=2.0, center=True, pad_mode="reflect")
    assert ours.shape == power.T.shape
    audible = power.T > 1e-6       # where the power is not negligible the two logs agree closely
    assert audible.mean() > 0.1
    np.testing.assert_allclose(ours[audible], np.log(power.T + 1e-10)[audible], atol=1e-3, rtol=0)
    assert ours.min() >= np.log(1e-10) - 1e-4


@pytest.mark.parametrize("samples", [1, 150, 199, 200, 201, 400, 16000, 16159, 16160, 48000])
def test_frames_matches_the_feature_count(samples):
    features = LogMel()
    wave = np.random.default_rng(samples).standard_normal(samples).astype(np.float32)
    assert features(wave).shape == (features.frames(samples), 80)


def test_batches_match_single_waves_and_tensors_are_accepted():
    features = LogMel(n_mels=40)
    waves = np.stack(list(_signals().values()))
    batch = features(torch.from_numpy(waves))
    assert batch.shape == (2, features.frames(waves.shape[1]), 40)
    for i in range(2):
        torch.testing.assert_close(batch[i], features(waves[i]))


def test_normalised_features_have_zero_mean_and_unit_variance_per_bin():
    features = LogMel()
    normalised = features.normalise(features(_signals()["chirp"]))
    assert normalised.mean(dim=0).abs().max() < 1e-4
    assert (normalised.std(dim=0, unbiased=False) - 1).abs().max() < 1e-3
    constant = normalise(torch.ones(10, 3))
    assert torch.equal(constant, torch.zeros(10, 3))


def test_empty_wave_is_an_error():
    with pytest.raises(ValueError, match="non-empty"):
        LogMel()(np.zeros(0, dtype=np.float32))


def _peak_hz(wave, sample_rate):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return np.fft.rfftfreq(wave.size, 1 / sample_rate)[spectrum.argmax()]


def test_resampling_keeps_duration_and_frequency(tmp_path):
    t = np.arange(int(22050 * 1.5)) / 22050
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", tone, 22050, subtype="PCM_16")
    wave = read_audio(tmp_path / "tone.wav", 16000)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 24000) <= 1
    assert abs(_peak_hz(wave, 16000) - 440) < 2
    assert abs(np.abs(wave).max() - 0.5) < 0.02
    assert np.array_equal(resample(tone, 22050, 22050), tone)


def test_channels_are_averaged_and_any_format_is_read(tmp_path):
    t = np.arange(8000) / 8000
    left, right = np.sin(2 * np.pi * 300 * t), np.zeros_like(t)
    sf.write(tmp_path / "stereo.flac", np.stack([left, right], axis=1) * 0.8, 8000)
    wave = read_audio(tmp_path / "stereo.flac", 16000)
    assert abs(wave.size - 16000) <= 1
    assert abs(np.abs(wave).max() - 0.4) < 0.02
    sf.write(tmp_path / "mono.ogg", left * 0.5, 8000)
    assert abs(_peak_hz(read_audio(tmp_path / "mono.ogg", 16000), 16000) - 300) < 3
