"""Show, attend and tell (Xu et al. 2015): a small convolutional encoder turns an image into a
grid of region features, and the attention decoder of seqpipe.models.seq2seq writes the
caption while attending over the regions, so the searches of seqpipe.decoding (greedy, beam
search with length normalisation) caption images as they translate sentences.

The encoder is trained from scratch (no downloaded weights): `blocks` of 3x3 convolution,
batch norm, ReLU and 2x2 max pooling, so an image of `image_size` pixels gives an
(image_size / 2**blocks)**2 grid. Each region carries its coordinates (x and y in [-1, 1]) as
two more features: the convolutions see what is in a region, not where it is, and without
them the decoder learnt the shapes of the demo scenes but said "left of" for "right of" in
half of them.
"""
from __future__ import annotations

import torch
from torch import nn

from seqpipe.models.seq2seq import AttentionDecoder


class ConvEncoder(nn.Module):
    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), image_size: int = 64):
        super().__init__()
        layers, previous = [], 3
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*layers)
        self.grid = image_size // 2 ** len(channels)
        if self.grid < 1:
            raise ValueError(f"{len(channels)} blocks halve a {image_size}-pixel image to nothing")
        steps = torch.linspace(-1, 1, self.grid)
        y, x = torch.meshgrid(steps, steps, indexing="ij")
        self.register_buffer("coordinates", torch.stack([x.flatten(), y.flatten()], dim=-1), persistent=False)
        self.output_size = previous + 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1] -> regions (B, grid * grid, channels + 2), row by row,
        each ending with its x and y."""
        regions = self.features(images * 2 - 1).flatten(2).transpose(1, 2)
        return torch.cat([regions, self.coordinates.expand(len(regions), -1, -1)], dim=-1)


class Captioner(AttentionDecoder):
    def __init__(self, target_embedding: nn.Embedding, channels: tuple[int, ...] = (32, 64, 128), image_size: int = 64,
                 cell: str = "gru", hidden: int = 256, layers: int = 1, dropout: float = 0.2,
                 attention: str = "additive", decoder: str = "bahdanau", tied: bool = False):
        encoder = ConvEncoder(channels, image_size)
        super().__init__(target_embedding, encoder.output_size, encoder.output_size, cell, hidden, layers, dropout,
                         attention, decoder, tied)
        self.image_encoder = encoder

    def start(self, images: torch.Tensor, lengths: torch.Tensor | None = None) -> dict:
        """Encode the images: every region is real (the mask is all True); the first state comes
        from the mean region. `lengths` is ignored (the searches pass source lengths)."""
        regions = self.image_encoder(images)
        mask = torch.ones(regions.shape[:2], dtype=torch.bool, device=regions.device)
        return self.first_state(self.dropout(regions), mask, regions.mean(dim=1))
