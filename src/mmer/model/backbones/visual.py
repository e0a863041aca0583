"""Visual backbones for face frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from einops import rearrange
from torch import Tensor

from mmer.model.backbones.base import Backbone, BackboneInput
from mmer.model.backbones.layers import conv_stack
from mmer.model.backbones.tcn import TCN, Style


class FrameCNNTCN(Backbone):
    """A small per-frame 2D CNN followed by a temporal conv net.

    x (B, T, C, H, W) -> per-frame CNN (conv3x3-GroupNorm-ReLU-maxpool per stage, global average pool) -> (B, T, c)
    -> TCN over time -> (B, T, out_dim). Masked frames are zeroed before the TCN and in the output.
    """

    INPUT = BackboneInput("(B, T, C, H, W)", what="face crops per frame")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps, 1, 16, 16), {"in_dim": 1}

    def __init__(self, in_dim: int = 1, cnn_channels: Sequence[int] = (16, 32), tcn_channels: Sequence[int] = (64, 64),
                 kernel: int = 5, dropout: float = 0.1, causal: bool = False, style: Style = "mmer") -> None:
        super().__init__()
        self.cnn, c_in = conv_stack(in_dim, cnn_channels)
        self.tcn = TCN(c_in, tcn_channels, kernel, dropout, causal, style)
        self.out_dim = self.tcn.out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b = x.shape[0]
        per_frame = rearrange(self.cnn(rearrange(x, "b t c h w -> (b t) c h w")), "(b t) c -> b t c", b=b)
        m = mask.unsqueeze(-1).to(per_frame.dtype)
        return self.tcn(per_frame * m) * m
