"""Backbones for precomputed (cached) features: a projection, and a TCN over time."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmer.model.backbones.base import Backbone
from mmer.model.backbones.tcn import TCN, Style


class Identity(Backbone):
    """Precomputed tokens used as they are: (B, T, in_dim) -> (B, T, in_dim), masked steps 0. The backbone slot of a
    modality whose frozen backbone ran once into the feature cache (``data.embed``)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return x * mask.unsqueeze(-1).to(x.dtype)


class FeatureProjection(Backbone):
    """(B, T, in_dim) features -> (B, T, out_dim); masked steps are 0."""

    def __init__(self, in_dim: int, out_dim: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, out_dim), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.net(x) * mask.unsqueeze(-1).to(x.dtype)


class FoldStandardiser(nn.Module):
    """Per-dimension z-scoring of a modality's input with statistics of the fold's training recordings:
    ``(x - mean) / std`` (B, T, D) -> (B, T, D), buffers saved in every checkpoint. A backbone holds one where its
    input is standardised; the module fills every one in a modality's backbone once per fold before training
    (``MultimodalModule.on_fit_start`` asks the data module's ``input_statistics``: training split only, never the
    recordings being scored). A checkpoint brings its own."""

    def __init__(self, in_dim: int, pooled: bool = False) -> None:
        super().__init__()
        self.pooled = pooled  # one mean and one std over all dimensions (the leader-follower reference's)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.register_buffer("fitted", torch.tensor(False))

    def set_statistics(self, mean: Tensor, std: Tensor) -> None:
        """mean, std: (D,) over the valid frames of the fold's training recordings (std floored at 1e-6). Pooled:
        every dimension gets mean_p = mean_d(mean) and std_p = sqrt(mean_d(std^2 + mean^2) - mean_p^2), the
        statistics of all values of the feature flattened."""
        mean = torch.as_tensor(mean, dtype=self.mean.dtype)
        std = torch.as_tensor(std, dtype=self.std.dtype)
        if self.pooled:
            pooled = mean.mean()
            std = ((std ** 2 + mean ** 2).mean() - pooled ** 2).clamp_min(0).sqrt().expand_as(std)
            mean = pooled.expand_as(mean)
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-6))
        self.fitted.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


NORMS = ("layer", "fold_zscore", "fold_zscore_pooled", "none")


class FeatureTCN(Backbone):
    """Precomputed per-frame features (B, T, in_dim) -> normalisation -> TCN -> (B, T, channels[-1]).

    LFAN's follower branches (one TCN per audio feature, [32, 32, 32, 32] channels in the paper). norm:
    ``layer`` (per-frame LayerNorm, mmer's default: it removes each frame's overall level, e.g. loudness),
    ``fold_zscore`` (per dimension with the fold's training statistics, :class:`FoldStandardiser`: levels
    survive), ``fold_zscore_pooled`` (one mean and std per feature over all its dimensions, the leader-follower
    reference's ``calculate_mean_and_std.py``) or ``none``. causal / style: see :class:`mmer.model.backbones.tcn.TCN`. Masked steps are
    zeroed before the TCN and in the output.
    """

    def __init__(self, in_dim: int, channels: Sequence[int] = (32, 32, 32, 32), kernel: int = 5,
                 dropout: float = 0.1, norm: str = "layer", causal: bool = False, style: Style = "mmer") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"FeatureTCN norm={norm!r}: choose one of {list(NORMS)}")
        self.norm = {"layer": lambda d: nn.LayerNorm(d), "fold_zscore": lambda d: FoldStandardiser(d),
                     "fold_zscore_pooled": lambda d: FoldStandardiser(d, pooled=True),
                     "none": lambda d: nn.Identity()}[norm](in_dim)
        self.tcn = TCN(in_dim, channels, kernel, dropout, causal, style)
        self.out_dim = self.tcn.out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        m = mask.unsqueeze(-1).to(x.dtype)
        return self.tcn(self.norm(x) * m) * m
