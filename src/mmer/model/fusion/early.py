"""Early (concatenation) fusion: the baseline for ablations, and EMERSK's fusion.

fused_t = MLP(concat_m zero_if_masked(Linear(D_m -> d)(x_m[t])) [, presence_t]), (B, T, d); masked steps are 0.
With ``presence`` the M bits "modality m is present at t" are appended to the concatenation (EMERSK: absent
modules are zeros plus a mask, so the MLP can tell an absent module from a zero feature).
With a single modality this is that modality's projection + MLP, which is how single-modality runs work.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmer.model.fusion.base import Fusion
from mmer.model.fusion.layers import zeros_where


class ConcatFusion(Fusion):
    def __init__(self, in_dims: dict[str, int], d_model: int = 64, hidden: int = 128, dropout: float = 0.1,
                 presence: bool = False) -> None:
        super().__init__()
        if not in_dims:
            raise ValueError("ConcatFusion needs at least one modality in in_dims")
        self.modalities = list(in_dims)
        self.out_dim = d_model
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in in_dims.items()})
        self.presence = presence
        self.mlp = nn.Sequential(nn.Linear(len(in_dims) * (d_model + int(presence)), hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, d_model))

    def forward(self, feats: dict[str, Tensor], masks: dict[str, Tensor], need_weights: bool = False):
        """feats {m: (B, T, D_m)}, masks {m: (B, T)} -> (B, T, d)."""
        ref = next(iter(feats.values()))
        b, t = ref.shape[:2]
        parts, present = [], []
        for m in self.modalities:
            if m in feats and m in masks:
                mask = masks[m]
                parts.append(zeros_where(self.proj[m](feats[m]), mask))
            else:
                mask = torch.zeros(b, t, dtype=torch.bool, device=ref.device)
                parts.append(ref.new_zeros(b, t, self.out_dim))
            present.append(mask)
        any_mask = torch.stack(present).any(0)
        if self.presence:
            parts += [m.unsqueeze(-1).to(ref.dtype) for m in present]
        fused = zeros_where(self.mlp(torch.cat(parts, -1)), any_mask)
        return (fused, {}) if need_weights else fused
