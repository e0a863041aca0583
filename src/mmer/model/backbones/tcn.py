"""Temporal convolutional network (dilated residual blocks), used by several backbones.

Two block styles and two paddings, chosen by name:

- ``style="mmer"`` (default): ``x + Dropout(ReLU(GroupNorm(Conv(x))))`` twice; GroupNorm, so samples never mix
  (causal: a per-step LayerNorm over channels instead, :class:`StepNorm`: GroupNorm would see the future).
- ``style="reference"``: the leader-follower reference's block (sucv/ABAW2 ``model/temporal_convolutional_model.py``,
  ``TemporalBlock``): ``LeakyReLU(x + Dropout1d(LeakyReLU(WeightNorm(Conv(x)))) twice)``, channel dropout, no
  normalisation layer.
- ``causal=False``: 'same' padding, (k - 1) d / 2 frames each side (odd kernels only); ``causal=True``: (k - 1) d
  frames on the left only (the reference's padding + chomp), so output t never sees an input after t.

Receptive field of L levels with dilations 1, 2, ..., 2^(L-1): 1 + 2 (k - 1) (2^L - 1) frames (two convolutions per
level): 25 for 2 levels of kernel 5, 121 for 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

Style = Literal["mmer", "reference"]
STYLES = ("mmer", "reference")


class StepNorm(nn.LayerNorm):
    """LayerNorm over the channels of each time step of (B, C, T): unlike GroupNorm(1, C), whose statistics span
    the whole window (the future too), it keeps a causal block causal."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class TemporalBlock(nn.Module):
    """One level: two dilated convolutions and a residual connection. (B, C_in, T) -> (B, C_out, T)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float, causal: bool = False,
                 style: Style = "mmer") -> None:
        super().__init__()
        total = (kernel - 1) * dilation
        layers: list[nn.Module] = []
        for a, b in ((c_in, c_out), (c_out, c_out)):
            if causal:
                layers.append(nn.ConstantPad1d((total, 0), 0.0))
            conv = nn.Conv1d(a, b, kernel, dilation=dilation, padding=0 if causal else total // 2)
            if style == "mmer":  # GroupNorm's statistics span the whole window: a causal block normalises per step
                layers += [conv, StepNorm(b) if causal else nn.GroupNorm(1, b), nn.ReLU(), nn.Dropout(dropout)]
            else:
                layers += [weight_norm(conv), nn.LeakyReLU(), nn.Dropout1d(dropout)]
        self.net = nn.Sequential(*layers)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.style = style

    def forward(self, x: Tensor) -> Tensor:
        out = self.skip(x) + self.net(x)
        return F.leaky_relu(out) if self.style == "reference" else out


class TCN(nn.Module):
    """Stack of TemporalBlocks with dilations 1, 2, 4, ... (one per channel entry). (B, T, C_in) -> (B, T, C_last).

    Args: channels: output channels per level; kernel: odd unless causal; dropout; causal: see the module doc;
    style: ``mmer`` or ``reference`` (see the module doc).
    """

    def __init__(self, in_dim: int, channels: Sequence[int] = (64, 64), kernel: int = 5, dropout: float = 0.1,
                 causal: bool = False, style: Style = "mmer") -> None:
        super().__init__()
        if kernel % 2 == 0 and not causal:
            raise ValueError(f"TCN kernel={kernel} must be odd so that 'same' padding keeps the length (or causal)")
        if style not in STYLES:
            raise ValueError(f"TCN style={style!r}: choose one of {list(STYLES)}")
        blocks, c_in = [], in_dim
        for i, c in enumerate(channels):
            blocks.append(TemporalBlock(c_in, c, kernel, 2**i, dropout, causal, style))
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c_in
        self.receptive_field = 1 + 2 * (kernel - 1) * (2 ** len(channels) - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)
