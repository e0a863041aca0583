"""Building blocks shared by the image backbones: a small CNN and a learned weighted average over a set of images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def conv_stack(c_in: int, channels: Sequence[int]) -> tuple[nn.Sequential, int]:
    """Image CNN: per channel count c, Conv3x3 -> GroupNorm -> ReLU -> MaxPool2; then global average pool.
    (N, c_in, H, W) -> (N, channels[-1]); returns the module and its output size."""
    layers = []
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GroupNorm(1, c), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c_in


def weighted_average(cnn: nn.Module, score: nn.Linear, images: Tensor, present: Tensor | None = None) -> Tensor:
    """(N, K, C, H, W) -> (N, c): ``sum_k softmax_k(score(g_k)) g_k`` with g_k = cnn(image_k), over the present
    images only when ``present`` (N, K) is given (a row with none gives 0; absent images are never computed)."""
    n, k = images.shape[:2]
    if present is None:
        f = cnn(images.flatten(0, 1)).view(n, k, -1)
        return (score(f).softmax(1) * f).sum(1)
    f = images.new_zeros(n, k, score.in_features)
    if present.any():
        f[present] = cnn(images[present]).to(f.dtype)
    logits = score(f).squeeze(-1).masked_fill(~present, float("-inf"))
    w = torch.nan_to_num(logits.softmax(1)) * present  # a row with no image: all weights 0
    return (w.unsqueeze(-1) * f).sum(1)
