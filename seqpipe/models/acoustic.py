"""Acoustic model for CTC speech recognition: log-mel frames -> per-frame character log-probs.

An optional convolutional front end subsamples time (stride 2 per layer), stacked
bidirectional GRU/LSTM layers read the frames, and a linear layer scores the alphabet
plus the CTC blank (id 0). Training can perturb the voice in the feature domain — each
batch played faster or slower (the frames resampled in time) and each utterance's mel axis
stretched, as a longer or shorter vocal tract would (VTLP, Jaitly & Hinton 2013) — masks
random frequency bands and time spans (SpecAugment, Park et al. 2019) and minimises torch's
CTC loss.
"""
from __future__ import annotations

import torch
from torch import nn

from seqpipe.models.encoders import RecurrentEncoder


class AcousticModel(nn.Module):
    def __init__(self, n_mels: int, num_labels: int, conv_layers: int = 2, conv_channels: int = 32,
                 cell: str = "gru", hidden: int = 256, layers: int = 3, dropout: float = 0.2,
                 freq_masks: int = 2, freq_width: int = 15, time_masks: int = 2, time_width: int = 40,
                 speed_perturb: float = 0.0, freq_warp: float = 0.0):
        """num_labels: the alphabet plus the blank; conv_layers 0 = no front end (no subsampling);
        speed_perturb, freq_warp: the largest relative tempo change and mel-axis stretch in training."""
        super().__init__()
        convs, channels, width = [], 1, n_mels
        for _ in range(conv_layers):
            convs += [nn.Conv2d(channels, conv_channels, 3, stride=2, padding=1), nn.GELU()]
            channels, width = conv_channels, (width + 1) // 2
        self.front = nn.Sequential(*convs)
        self.subsampling = 2 ** conv_layers
        self.encoder = RecurrentEncoder(channels * width, cell, hidden, layers, True, dropout)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.encoder.output_size, num_labels)
        self.masks = (freq_masks, freq_width, time_masks, time_width)
        self.perturbation = (speed_perturb, freq_warp)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for _ in range(len(self.front) // 2):
            lengths = (lengths - 1) // 2 + 1
        return lengths

    def log_probs(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (B, T, n_mels) -> log-probabilities (B, T', labels) and output lengths (B,)."""
        x = self.front(features.unsqueeze(1))  # (B, C, T', F')
        x = x.permute(0, 2, 1, 3).flatten(2)  # (B, T', C * F')
        out_lengths = self.output_lengths(lengths)
        outputs, _ = self.encoder(self.dropout(x), out_lengths.clamp(min=1))
        return torch.log_softmax(self.output(self.dropout(outputs)), dim=-1), out_lengths

    def forward(self, features, lengths, targets, target_lengths) -> tuple[torch.Tensor, int]:
        """CTC loss per output frame (summed over the batch, divided by its frames) and the frame count."""
        if self.training:
            features, lengths = perturb_voice(features, lengths, *self.perturbation)
            features = spec_augment(features, lengths, *self.masks)
        log_probs, out_lengths = self.log_probs(features, lengths)
        loss = nn.functional.ctc_loss(log_probs.transpose(0, 1), targets, out_lengths, target_lengths,
                                      blank=0, reduction="sum", zero_infinity=True)
        frames = int(out_lengths.sum())
        return loss / frames, frames


def perturb_voice(features: torch.Tensor, lengths: torch.Tensor, speed: float,
                  warp: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch resampled in time by one factor in [1 - speed, 1 + speed] (lengths follow), and
    each utterance's mel bins read at f * a for its own a in [1 - warp, 1 + warp] (linear
    interpolation; bins past the top repeat the last one)."""
    batch, frames, n_mels = features.shape
    if speed > 0 and frames > 1:
        factor = 1.0 + speed * (2 * float(torch.rand(())) - 1)
        new_frames = max(1, round(frames / factor))
        features = nn.functional.interpolate(features.transpose(1, 2), size=new_frames, mode="linear",
                                             align_corners=False).transpose(1, 2)
        lengths = (lengths.float() * new_frames / frames).round().long().clamp(1, new_frames)
    if warp > 0:
        scale = 1.0 + warp * (2 * torch.rand(batch, 1, device=features.device) - 1)
        source = (torch.arange(n_mels, device=features.device) * scale).clamp(max=n_mels - 1)  # (B, F)
        low = source.floor().long()
        high = (low + 1).clamp(max=n_mels - 1)
        weight, shape = (source - low).unsqueeze(1), features.shape
        features = (features.gather(2, low.unsqueeze(1).expand(shape)) * (1 - weight)
                    + features.gather(2, high.unsqueeze(1).expand(shape)) * weight)
    return features, lengths


def spec_augment(features: torch.Tensor, lengths: torch.Tensor, freq_masks: int, freq_width: int,
                 time_masks: int, time_width: int) -> torch.Tensor:
    """Zero `freq_masks` random bands of up to freq_width mel bins and `time_masks` spans of up to
    time_width frames (at most a fifth of each utterance) in every utterance."""
    features = features.clone()
    batch, _, n_mels = features.shape
    for row in range(batch):
        for _ in range(freq_masks):
            width = int(torch.randint(0, freq_width + 1, ()))
            start = int(torch.randint(0, max(1, n_mels - width), ()))
            features[row, :, start:start + width] = 0.0
        frames = int(lengths[row])
        for _ in range(time_masks):
            width = int(torch.randint(0, min(time_width, frames // 5) + 1, ()))
            start = int(torch.randint(0, max(1, frames - width), ()))
            features[row, start:start + width, :] = 0.0
    return features
