"""Temporal convolutional network (non-causal, dilated residual blocks), used by several backbones."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class TemporalBlock(nn.Module):
    """x + Dropout(ReLU(GroupNorm(Conv1d_dilated(x)))) twice; 'same' padding keeps T. (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        pad = (kernel - 1) * dilation // 2
        self.net = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=pad, dilation=dilation), nn.GroupNorm(1, c_out), nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, dilation=dilation), nn.GroupNorm(1, c_out), nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.net(x)


class TCN(nn.Module):
    """Stack of TemporalBlocks with dilations 1, 2, 4, ... (one per channel entry). (B, T, C_in) -> (B, T, C_last).

    Odd kernels only, so 'same' padding is exact. GroupNorm (not BatchNorm) so samples never mix.
    """

    def __init__(self, in_dim: int, channels: Sequence[int] = (64, 64), kernel: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"TCN kernel={kernel} must be odd so that 'same' padding keeps the length")
        blocks, c_in = [], in_dim
        for i, c in enumerate(channels):
            blocks.append(TemporalBlock(c_in, c, kernel, 2**i, dropout))
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c_in

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)
