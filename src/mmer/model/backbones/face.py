"""EMERSK's face module: a two-stream CNN over face crops with an encoder-decoder spatial attention mask.

For one crop x (C, S, S)::

    F_a = CNN_a(x)                                   (c, h, w)   stream a: the crop at full resolution
    m   = sigmoid(Dec(Enc(x)))  resized to (h, w)    (1, h, w)   where on the face to look
    a   = sum_hw(m * F_a) / sum_hw(m)                (c,)        attention-weighted spatial pooling
    b   = GAP(CNN_b(downsample_2(x)))                (c,)        stream b: the same crop at half resolution
    f   = [a, b]                                     (2c,)

and over the K crops of a sample, a learned weighted average of the present crops (a sample with no visible face
gives 0, and its mask is False), then Linear -> ReLU -> Dropout: (B, 1, out_dim).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmer.model.backbones.base import BackboneInput
from mmer.model.backbones.layers import conv_stack, weighted_average
from mmer.model.backbones.utterance import Pretrainable


class TwoStreamFace(Pretrainable):
    """Args: in_dim: image channels. channels: conv widths of each stream. attention: use the encoder-decoder mask
    (False: plain average pooling of stream a). weights / freeze: a local state dict to start from, and keep fixed."""

    INPUT = BackboneInput("(B, K, C, H, W)", what="K face crops")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.rand(batch, steps, 3, 16, 16), {"in_dim": 3}

    def __init__(self, in_dim: int = 3, channels: Sequence[int] = (16, 32, 64), out_dim: int = 128,
                 attention: bool = True, dropout: float = 0.1, weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        trunk, c = conv_stack(in_dim, channels)
        self.stream_a = nn.Sequential(*list(trunk)[:-2])  # without the global pooling: keep the spatial map
        self.stream_b, _ = conv_stack(in_dim, channels)
        self.attention = attention
        if attention:
            self.mask_net = nn.Sequential(
                nn.Conv2d(in_dim, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                nn.ReLU(), nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(8, 1, 4, stride=2, padding=1))
        self.score = nn.Linear(2 * c, 1)
        self.proj = nn.Sequential(nn.Linear(2 * c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim
        self._init_weights(weights, freeze)

    def spatial_mask(self, images: Tensor) -> Tensor:
        """(N, C, S, S) -> (N, 1, S, S) attention in (0, 1)."""
        m = self.mask_net(images)
        return torch.sigmoid(F.interpolate(m, size=images.shape[-2:], mode="bilinear", align_corners=False))

    def _encode(self, images: Tensor) -> Tensor:  # (N, C, S, S) -> (N, 2c)
        fa = self.stream_a(images)
        if self.attention:
            m = F.adaptive_avg_pool2d(self.spatial_mask(images), fa.shape[-2:])
            a = (fa * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1e-6)
        else:
            a = fa.mean((2, 3))
        half = F.interpolate(images, scale_factor=0.5, mode="bilinear", align_corners=False)
        return torch.cat([a, self.stream_b(half)], 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, K, C, S, S) face crops, mask (B, K) -> (B, 1, out_dim)."""
        return self.proj(weighted_average(self._encode, self.score, x, mask)).unsqueeze(1)
