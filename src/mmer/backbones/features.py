"""Backbones for precomputed (cached) features: a projection, and a TCN over time."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mmer.backbones.tcn import TCN


class Identity(nn.Module):
    """Precomputed tokens used as they are: (B, T, in_dim) -> (B, T, in_dim), masked steps 0. The backbone slot of a
    modality whose frozen backbone ran once into the feature cache (``data.embed``)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x * mask.unsqueeze(-1).to(x.dtype)


class FeatureProjection(nn.Module):
    """(B, T, in_dim) features -> (B, T, out_dim); masked steps are 0."""

    def __init__(self, in_dim: int, out_dim: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.net(x) * mask.unsqueeze(-1).to(x.dtype)


class FeatureTCN(nn.Module):
    """Precomputed per-frame features (B, T, in_dim) -> LayerNorm -> TCN -> (B, T, channels[-1]).

    LFAN's follower branches (one TCN per audio feature, [32, 32, 32, 32] channels in the paper). Masked steps are
    zeroed before the TCN and in the output.
    """

    def __init__(self, in_dim: int, channels: Sequence[int] = (32, 32, 32, 32), kernel: int = 5,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.tcn = TCN(in_dim, channels, kernel, dropout)
        self.out_dim = self.tcn.out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        return self.tcn(self.norm(x) * m) * m
