"""Backbone for precomputed (cached) features: LayerNorm -> Linear -> GELU -> Dropout."""

from __future__ import annotations

from torch import Tensor, nn


class FeatureProjection(nn.Module):
    """(B, T, in_dim) features -> (B, T, out_dim); masked steps are 0."""

    def __init__(self, in_dim: int, out_dim: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.net(x) * mask.unsqueeze(-1).to(x.dtype)
