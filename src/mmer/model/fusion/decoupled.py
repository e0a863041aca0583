"""EMERT's modality-adversarial decoupling + multi-task cross-attention transformer.

Every modality keeps its own tokens (face: K frames, eye movements: S steps, gaze: S steps, ...); the module hands
them over without putting them on one time axis (``own_time_axes``). For the tokens x_m (B, T_m, D) of modality m::

    s_m = Specific_m(x_m)         (B, T_m, d)   what only this modality carries
    v_m = Invariant(x_m)          (B, T_m, d)   one projection shared by every modality
    L_specific    = CE(Disc(s_m), m)            the shared discriminator must tell the specific tokens apart
    L_adversarial = CE(Disc(GRL_lambda(v_m)), m) ... and the invariant tokens too, but the gradient reversal layer
                                                 turns that into pushing the invariant projection the other way
    h = CrossAttn^depth(query = [v_m + e_m]_m, key/value = [s_m + e_m]_m)    over all sum_m T_m tokens
    fused = mean of h over present query tokens   (B, 1, d)

(e_m: a learned modality embedding for attention only; the discriminator sees the raw projections.) The module adds
``adversarial_weight * L_adversarial + specific_weight * L_specific`` (defaults 0.1, 0.1) to the heads' losses
(``aux_losses``), as EMERT's ``a * adversarial + b * modality-specific + c * task``. Tokens of absent modalities
(mask False) take no part in attention or in either loss.

Two granularities of the discriminator losses (``discriminate``):

- ``tokens`` (mmer's first version): one CE per present token, averaged over all tokens of all modalities (face's
  8 tokens then weigh 8 of 72).
- ``modality_mean`` (the reference, kejun1/EMER ``model/EMERT/model.py``): the discriminator sees each modality's
  time-averaged projection, one CE per (sample, modality), averaged over the samples and summed over the modalities:
  L = sum_m mean_b CE(Disc(mean_t x_m[b]), m), about M times the weight of ``tokens``.

The reference's other choices are options too: ``discriminator="linear"`` (Linear(d -> M); ``mlp``: d-ReLU-M),
``feature_dropout`` (0.5 there: dropout on the features before the projections), ``positions`` (learned positional
embeddings over all N tokens, 72 for EMER's 8 + 32 + 32) and ``ff_dim`` (the attention layers' feed-forward width,
64 there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmer.model.fusion.base import Fusion
from mmer.model.fusion.layers import AttentionBlock


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, lam: float) -> Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return -ctx.lam * grad, None


def reverse_gradient(x: Tensor, lam: float = 1.0) -> Tensor:
    """Gradient reversal layer (Ganin & Lempitsky 2015): identity forward, gradient multiplied by -lam backward."""
    return _ReverseGradient.apply(x, lam)


class DecoupledFusion(Fusion):
    """Args:
    in_dims: {modality: token size}; tokens of other sizes than the largest are first mapped to it by a Linear.
    d_model, heads, depth, dropout: the cross-attention transformer (EMERT: 64, 8, 2, dropout 0.5).
    adversarial_weight, specific_weight: a and b of the loss. grl_lambda: the reversal's scale.
    discriminate: ``tokens`` or ``modality_mean`` (module doc). discriminator: ``mlp`` or ``linear``.
    feature_dropout: dropout on the features before the projections. positions: number of learned positional
    embeddings over the concatenated tokens (0: none). ff_dim: feed-forward width of the attention layers.
    """

    own_time_axes = True

    def __init__(self, in_dims: dict[str, int], d_model: int = 64, heads: int = 8, depth: int = 2,
                 dropout: float = 0.1, adversarial_weight: float = 0.1, specific_weight: float = 0.1,
                 grl_lambda: float = 1.0, discriminate: str = "tokens", discriminator: str = "mlp",
                 feature_dropout: float = 0.0, positions: int = 0, ff_dim: int | None = None) -> None:
        super().__init__()
        if len(in_dims) < 2:
            raise ValueError(f"DecoupledFusion needs at least two modalities to tell apart, got {list(in_dims)}")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        if discriminate not in ("tokens", "modality_mean") or discriminator not in ("mlp", "linear"):
            raise ValueError(f"discriminate={discriminate!r} (tokens | modality_mean), discriminator="
                             f"{discriminator!r} (mlp | linear)")
        self.modalities = list(in_dims)
        common = max(in_dims.values())
        self.adapt = nn.ModuleDict({m: nn.Identity() if d == common else nn.Linear(d, common)
                                    for m, d in in_dims.items()})
        self.specific = nn.ModuleDict({m: nn.Linear(common, d_model) for m in in_dims})
        self.invariant = nn.Linear(common, d_model)
        self.discriminator = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), nn.Linear(d_model, len(in_dims))) \
            if discriminator == "mlp" else nn.Linear(d_model, len(in_dims))
        self.embed = nn.Parameter(torch.zeros(len(in_dims), d_model))
        self.layers = nn.ModuleList(AttentionBlock(d_model, heads, dropout=dropout, cross=True, ff_dim=ff_dim)
                                    for _ in range(depth))
        self.adversarial_weight, self.specific_weight, self.grl_lambda = adversarial_weight, specific_weight, grl_lambda
        self.discriminate = discriminate
        self.feature_dropout = nn.Dropout(feature_dropout)
        self.positions = nn.Parameter(torch.zeros(positions, d_model)) if positions else None
        self.out_dim = d_model
        self.aux_losses: dict[str, Tensor] = {}
        self.aux_loss_names = ("specific", "adversarial")

    def project(self, feats: dict[str, Tensor], masks: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """-> specific (B, N, d), invariant (B, N, d), mask (B, N), modality index (N,) of all N tokens."""
        ref = next(iter(feats.values()))
        spec, inv, mask, ids = [], [], [], []
        for i, m in enumerate(self.modalities):
            if m in feats and m in masks:
                x = self.feature_dropout(self.adapt[m](feats[m]))
                spec.append(self.specific[m](x))
                inv.append(self.invariant(x))
                mask.append(masks[m])
            else:  # absent: one masked token
                spec.append(ref.new_zeros(ref.shape[0], 1, self.out_dim))
                inv.append(ref.new_zeros(ref.shape[0], 1, self.out_dim))
                mask.append(torch.zeros(ref.shape[0], 1, dtype=torch.bool, device=ref.device))
            ids.append(torch.full((mask[-1].shape[1],), i, dtype=torch.long, device=ref.device))
        return torch.cat(spec, 1), torch.cat(inv, 1), torch.cat(mask, 1), torch.cat(ids)

    def discriminator_losses(self, spec: Tensor, inv: Tensor, mask: Tensor, ids: Tensor) -> dict[str, Tensor]:
        """The two weighted modality-classification losses (module doc; 0 when no modality is present)."""
        if self.discriminate == "modality_mean":
            return self._modality_mean_losses(spec, inv, mask, ids)
        labels = ids.expand_as(mask)[mask]
        if labels.numel() == 0:
            zero = spec.sum() * 0.0
            return {"specific": zero, "adversarial": zero}
        l_spec = F.cross_entropy(self.discriminator(spec[mask]), labels)
        l_adv = F.cross_entropy(self.discriminator(reverse_gradient(inv[mask], self.grl_lambda)), labels)
        return {"specific": self.specific_weight * l_spec, "adversarial": self.adversarial_weight * l_adv}

    def _modality_mean_losses(self, spec: Tensor, inv: Tensor, mask: Tensor, ids: Tensor) -> dict[str, Tensor]:
        """sum_m mean over samples with modality m present of CE(Disc(mean over m's present tokens), m)."""
        l_spec = l_adv = spec.sum() * 0.0
        reversed_inv = reverse_gradient(inv, self.grl_lambda)
        for i in range(len(self.modalities)):
            m = (mask & (ids == i)).unsqueeze(-1).to(spec.dtype)  # (B, N, 1)
            count = m.sum(1)  # (B, 1)
            present = count.squeeze(-1) > 0
            if not present.any():
                continue
            label = torch.full((int(present.sum()),), i, dtype=torch.long, device=spec.device)
            mean_spec = (spec * m).sum(1)[present] / count[present]
            mean_inv = (reversed_inv * m).sum(1)[present] / count[present]
            l_spec = l_spec + F.cross_entropy(self.discriminator(mean_spec), label)
            l_adv = l_adv + F.cross_entropy(self.discriminator(mean_inv), label)
        return {"specific": self.specific_weight * l_spec, "adversarial": self.adversarial_weight * l_adv}

    def forward(self, feats: dict[str, Tensor], masks: dict[str, Tensor], need_weights: bool = False):
        """feats {m: (B, T_m, D_m)}, masks {m: (B, T_m)} -> (B, 1, d) [, {"modalities": (B, M)}]."""
        spec, inv, mask, ids = self.project(feats, masks)
        self.aux_losses = self.discriminator_losses(spec, inv, mask, ids)
        e = self.embed[ids]
        if self.positions is not None:
            if len(ids) > len(self.positions):
                raise ValueError(f"DecoupledFusion: {len(ids)} tokens but positions={len(self.positions)} learned "
                                 f"positional embeddings; set model.fusion.positions to at least {len(ids)}")
            e = e + self.positions[:len(ids)]
        h, keys = (inv + e) * mask.unsqueeze(-1), (spec + e) * mask.unsqueeze(-1)
        w = None
        for layer in self.layers:
            h, w = layer(h, mask, keys, mask, need_weights=need_weights)
        m = mask.unsqueeze(-1).to(h.dtype)
        fused = ((h * m).sum(1) / m.sum(1).clamp_min(1.0)).unsqueeze(1)
        if not need_weights:
            return fused
        # attention mass on each modality's keys, averaged over heads and present queries: (B, M)
        per_key = (w.mean(1) * m).sum(1) / m.sum(1).clamp_min(1.0)
        onehot = F.one_hot(ids, len(self.modalities)).to(per_key.dtype)
        return fused, {"modalities": per_key @ onehot}

    @property
    def attention_labels(self) -> dict[str, list[str]]:
        return {"modalities": list(self.modalities)}
