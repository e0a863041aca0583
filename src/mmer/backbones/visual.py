"""Visual backbones for face frames."""

from __future__ import annotations

from collections.abc import Sequence

from einops import rearrange
from torch import Tensor, nn

from mmer.backbones.tcn import TCN


class FrameCNNTCN(nn.Module):
    """A small per-frame 2D CNN followed by a temporal conv net.

    x (B, T, C, H, W) -> per-frame CNN (conv3x3-GroupNorm-ReLU-maxpool per stage, global average pool) -> (B, T, c)
    -> TCN over time -> (B, T, out_dim). Masked frames are zeroed before the TCN and in the output.
    """

    def __init__(self, in_dim: int = 1, cnn_channels: Sequence[int] = (16, 32), tcn_channels: Sequence[int] = (64, 64),
                 kernel: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        layers, c_in = [], in_dim
        for c in cnn_channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GroupNorm(1, c), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.cnn = nn.Sequential(*layers)
        self.tcn = TCN(c_in, tcn_channels, kernel, dropout)
        self.out_dim = self.tcn.out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b = x.shape[0]
        per_frame = rearrange(self.cnn(rearrange(x, "b t c h w -> (b t) c h w")), "(b t) c -> b t c", b=b)
        m = mask.unsqueeze(-1).to(per_frame.dtype)
        return self.tcn(per_frame * m) * m
