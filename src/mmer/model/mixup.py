"""Mixup of a training batch (Zhang et al., 2018, "mixup: Beyond Empirical Risk Minimization").

Each sample i is blended with sample pi(i) of a random permutation of the batch, one weight for the whole batch::

    lam ~ Beta(alpha, alpha), folded to lam = max(lam, 1 - lam) >= 0.5   (sample i stays the dominant one)
    x'_m = lam * x_m + (1 - lam) * x_m[pi]          for every modality m (uint8 frames are blended as floats in [0, 1])
    mask'_m = mask_m | mask_m[pi]                  (a mixed step is present where either sample's is)
    loss = lam * L(out, y, valid) + (1 - lam) * L(out, y[pi], valid[pi])

The loss is blended rather than the targets, so it serves every head's loss as it is (cross-entropy, CCC, BCE);
training metrics read the dominant target y. Training only: the module calls it in its training step and never
at validation, test or prediction. The draws come from torch's generator, which the CV runner seeds per fold.
``alpha = 0`` switches it off (``model.mixup``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mmer.core.batch import Batch, model_input


@dataclass
class Mixed:
    """A blended batch, the permutation (B,) that gave each sample its partner, and the weight of the dominant one."""

    batch: Batch
    partner: Tensor
    lam: float


def mix(batch: Batch, alpha: float) -> Mixed:
    """Blend ``batch`` with a permutation of itself (module docstring); targets and their masks are left as they are
    (use :attr:`Mixed.partner` to read the partners')."""
    if alpha <= 0:
        raise ValueError(f"mixup alpha={alpha} must be > 0 (0 means no mixup: do not call mix)")
    first = next(iter(batch.masks.values()))
    partner = torch.randperm(first.shape[0], device=first.device)
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    lam = max(lam, 1.0 - lam)
    inputs, masks = {}, {}
    for m, x in batch.inputs.items():
        x = model_input(x)  # uint8 pixel values as floats in [0, 1]; other inputs unchanged
        if x.is_floating_point():
            x = lam * x + (1.0 - lam) * x[partner]
        inputs[m] = x
        masks[m] = batch.masks[m] | batch.masks[m][partner]
    return Mixed(Batch(inputs, masks, batch.targets, batch.target_masks, batch.meta), partner, lam)
