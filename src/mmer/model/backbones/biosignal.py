"""Biosignal backbone: a 1D CNN over a raw physiological waveform (EDA/GSR, ECG, EMG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmer.model.backbones.base import Backbone, BackboneInput


class BiosignalCNN(Backbone):
    """x (B, L) or (B, L, C) at the signal's own rate -> (B, L / prod(pools), out_dim) tokens.

    Each stage: Conv1d(kernel, same padding) -> GroupNorm(1) -> ReLU -> MaxPool1d(pool). Masked (padded) samples
    are zeroed first. With the defaults a 5.5 s BioVid trial at 512 Hz (2,816 samples) gives 2816 / 4^4 = 11 tokens
    of 0.5 s each.

    Args:
        in_dim: channels C of the signal (1 for a single waveform).
        channels: output channels of each stage; out_dim = channels[-1].
        kernel: convolution width (samples). pools: max-pool factor after each stage (one per stage).
    """

    INPUT = BackboneInput("(B, S)", what="one biosignal channel, S samples")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, 2816), {"in_dim": 1}

    def __init__(self, in_dim: int = 1, channels: Sequence[int] = (32, 64, 128, 256), kernel: int = 7,
                 pools: Sequence[int] = (4, 4, 4, 4), dropout: float = 0.1) -> None:
        super().__init__()
        if len(pools) != len(channels):
            raise ValueError(f"BiosignalCNN: {len(channels)} stages but {len(pools)} pools")
        layers, c_in = [], in_dim
        for c, p in zip(channels, pools):
            layers += [nn.Conv1d(c_in, c, kernel, padding=kernel // 2), nn.GroupNorm(1, c), nn.ReLU(),
                       nn.MaxPool1d(p, ceil_mode=True)]
            c_in = c
        self.net = nn.Sequential(*layers, nn.Dropout(dropout))
        self.out_dim = c_in

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(-1)
        x = x * mask.unsqueeze(-1).to(x.dtype)
        return self.net(x.transpose(1, 2)).transpose(1, 2)

