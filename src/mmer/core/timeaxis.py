"""Aligning modalities that keep their own time axes onto one token axis."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def align_time(x: Tensor, mask: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """Masked average pooling of (B, T_m, D) onto ``steps`` tokens.

    Token t averages the valid source steps of its adaptive bin [floor(t T_m / steps), ceil((t+1) T_m / steps));
    its mask is True if any source step in the bin is valid. Invalid tokens are 0. Works for steps > T_m too.
    Returns ((B, steps, D), (B, steps) bool).
    """
    if x.shape[1] == steps:
        return x * mask.unsqueeze(-1).to(x.dtype), mask
    m = mask.to(x.dtype).unsqueeze(1)  # (B, 1, T_m)
    num = F.adaptive_avg_pool1d((x * m.transpose(1, 2)).transpose(1, 2), steps)  # (B, D, steps)
    den = F.adaptive_avg_pool1d(m, steps)  # (B, 1, steps)
    out = (num / den.clamp_min(1e-12)).transpose(1, 2)
    new_mask = den.squeeze(1) > 0
    return out * new_mask.unsqueeze(-1).to(x.dtype), new_mask


def resample_mask(mask: Tensor, steps: int) -> Tensor:
    """(B, T) bool -> (B, steps) bool; a step is valid if any source step in its adaptive bin is valid."""
    if mask.shape[1] == steps:
        return mask
    return F.adaptive_max_pool1d(mask.float().unsqueeze(1), steps).squeeze(1) > 0
