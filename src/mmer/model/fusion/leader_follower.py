"""Leader-follower attentive fusion, LFAN (docs/reference/models.md).

Per frame t, for each modality m (the leader, e.g. visual, and its followers, e.g. audio features):
K_m, Q_m, V_m = Linear(D_m -> a)(x_m[t]) with a = 32. Over the M modality tokens of that frame::

    S = softmax(K Q^T / sqrt(a))           (M x M; row i attends over modalities j, absent j masked out)
    F = LayerNorm_[M, a](S V + V)
    out[t] = concat(x_leader[t], flatten(F))        (B, T, D_leader + M a)

Attention runs across modalities within a frame, never across time or across batch samples. The linear
output layer of the paper is the head (use a head with ``hidden: 0``). Absent modalities contribute zeros and
are never attended to; a frame with no modality present outputs 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmer.model.fusion.base import Fusion
from mmer.model.fusion.layers import zeros_where


class LeaderFollowerFusion(Fusion):
    """Args: in_dims: feature size per modality; leader: the modality kept verbatim in the output;
    attention_dim: a (32 in the paper)."""

    def __init__(self, in_dims: dict[str, int], leader: str = "visual", attention_dim: int = 32) -> None:
        super().__init__()
        if leader not in in_dims:
            raise ValueError(f"leader='{leader}' is not among the modalities {list(in_dims)}: set "
                             f"model.fusion.leader to one of them")
        self.modalities = list(in_dims)
        self.leader = leader
        self.attention_dim = attention_dim
        self.kqv = nn.ModuleDict({m: nn.Linear(d, 3 * attention_dim) for m, d in in_dims.items()})
        self.norm = nn.LayerNorm([len(in_dims), attention_dim])
        self.out_dim = in_dims[leader] + len(in_dims) * attention_dim
        self.leader_dim = in_dims[leader]

    @property
    def attention_labels(self) -> dict[str, list[str]]:
        """The keys of ``weights["modalities"]`` (``mmer explain``)."""
        return {"modalities": list(self.modalities)}

    def forward(self, feats: dict[str, Tensor], masks: dict[str, Tensor], need_weights: bool = False):
        """feats {m: (B, T, D_m)}, masks {m: (B, T)} -> (B, T, D_leader + M a) [, {"modalities": (B, T, M, M)}]."""
        ref = next(iter(feats.values()))
        b, t = ref.shape[:2]
        present = [masks[m] if m in feats and m in masks else torch.zeros(b, t, dtype=torch.bool, device=ref.device)
                   for m in self.modalities]
        kqv = [zeros_where(self.kqv[m](feats[m]), present[i]) if m in feats
               else ref.new_zeros(b, t, 3 * self.attention_dim) for i, m in enumerate(self.modalities)]
        k, q, v = torch.stack(kqv, dim=2).chunk(3, dim=-1)  # each (B, T, M, a)
        mask = torch.stack(present, dim=2)  # (B, T, M)
        scores = k @ q.transpose(-1, -2) / self.attention_dim**0.5  # (B, T, M, M)
        any_present = mask.any(-1, keepdim=True)  # frames with nothing present: attend uniformly, zeroed below
        scores = scores.masked_fill(~(mask | ~any_present).unsqueeze(-2), float("-inf"))
        weights = scores.softmax(-1)
        fused = self.norm(weights @ v + v) * mask.unsqueeze(-1).to(v.dtype)
        leader = feats[self.leader] if self.leader in feats else ref.new_zeros(b, t, self.leader_dim)
        leader = zeros_where(leader, present[self.modalities.index(self.leader)])
        out = zeros_where(torch.cat([leader, fused.flatten(2)], dim=-1), any_present.squeeze(-1))
        return (out, {"modalities": weights * any_present.unsqueeze(-1)}) if need_weights else out
