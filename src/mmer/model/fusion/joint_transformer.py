"""JMT: joint multimodal transformer with key-based cross-attention (docs/reference/models.md).

For M modalities with aligned token sequences x_m (B, T, D_m) and masks (B, T):

1. s_m = Linear(D_m -> d)(l2norm(x_m)), zero where masked.            M modality streams
2. s_J = Linear(M d -> d)(concat_m s_m), mask_J = OR_m mask_m.       the joint stream
   (``joint_from="features"``, the reference: s_J = Linear(sum D_m -> d)(concat_m l2norm(x_m)))
3. s_i = SelfAttnBlock_i(s_i [+ PE]) over time, for every stream i.     (M + 1) self-attention layers
4. c_{i<-j} = s_i + CrossAttn_i(query=s_i, key=value=s_j) (+ FF)     (M + 1) M outputs (6 for two modalities)
   for all i != j: one cross-attention module per query stream, residual so c stays aligned with step t.
5. Per step t, tokens [q; c_{i<-j}[t] ...] go through one encoder layer; the learned fusion token q is the
   step's fused feature (B, T, d). A token is masked when its query or key stream is absent at t.
PE (optional, ``positional=True``): 0.1 x fixed sinusoidal positions added to every stream before step 3.
Outputs at fully masked steps are 0. Batch-first throughout; nothing mixes batch samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from mmer.model.fusion.base import Fusion
from mmer.model.fusion.layers import AttentionBlock, sinusoidal_positions, zeros_where

JOINT = "joint"


class JointTransformerFusion(Fusion):
    """Args:
    in_dims: feature size per modality, e.g. ``{"visual": 512, "audio": 512}``.
    d_model: stream width d. depth: self-attention layers per stream. heads: attention heads.
    fusion_depth: encoder layers over the per-step token sequence. dropout: attention / FF dropout.
    l2_normalize: L2-normalise each input stream before projection. The reference does (on 512-d pretrained
        features), so paper-reproduction experiments set it; on the synthetic task's small learned features it
        cost 0.06 held-out CCC on fold 0 (0.848 with, 0.909 without; ``mmer cv cv.only_folds=[0]``).
    positional: add sinusoidal time positions to the streams before self-attention.
    block: ``pre_norm`` (mmer's default; it is what made the synthetic default train: see docs/papers/jmt.md)
        or ``post_norm`` (the reference's encoder layer), for every attention layer (:class:`AttentionBlock`).
    ff_dim: feed-forward width of every attention layer (default 2 d; the reference: 512).
    joint_from: ``streams`` (the joint stream over the projected modality streams) or ``features`` (over the
        L2-normalised input features, as the reference).
    """

    def __init__(self, in_dims: dict[str, int], d_model: int = 64, depth: int = 1, heads: int = 4,
                 fusion_depth: int = 1, dropout: float = 0.1, l2_normalize: bool = False,
                 positional: bool = False, block: str = "pre_norm", ff_dim: int | None = None,
                 joint_from: str = "streams") -> None:
        super().__init__()
        if not in_dims:
            raise ValueError("JointTransformerFusion needs at least one modality in in_dims")
        if JOINT in in_dims:
            raise ValueError(f"'{JOINT}' is reserved for the joint stream; rename that modality")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.modalities = list(in_dims)
        self.streams = self.modalities + [JOINT]
        self.out_dim = d_model
        self.l2_normalize = l2_normalize
        self.positional = positional
        if joint_from not in ("streams", "features"):
            raise ValueError(f"joint_from={joint_from!r}: choose 'streams' or 'features'")
        self.joint_from = joint_from
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in in_dims.items()})
        joint_in = len(in_dims) * d_model if joint_from == "streams" else sum(in_dims.values())
        self.joint = nn.Linear(joint_in, d_model)
        layer = dict(dropout=dropout, block=block, ff_dim=ff_dim)
        self.self_attn = nn.ModuleDict({
            s: nn.ModuleList([AttentionBlock(d_model, heads, **layer) for _ in range(depth)]) for s in self.streams
        })
        self.cross = nn.ModuleDict({s: AttentionBlock(d_model, heads, cross=True, **layer) for s in self.streams})
        self.pairs = [(q, k) for q in self.streams for k in self.streams if q != k]
        self.pair_embed = nn.Parameter(torch.zeros(len(self.pairs) + 1, d_model))
        self.fusion_token = nn.Parameter(torch.randn(d_model) * 0.02)
        self.token_layers = nn.ModuleList([AttentionBlock(d_model, heads, **layer) for _ in range(fusion_depth)])
        self.norm = nn.LayerNorm(d_model)

    @property
    def attention_labels(self) -> dict[str, list[str]]:
        """Names of the keys of ``weights["tokens"]``: what the fusion token attends to (``mmer explain``)."""
        return {"tokens": ["fusion token", *(f"{q}<-{k}" for q, k in self.pairs)]}

    def forward(self, feats: dict[str, Tensor], masks: dict[str, Tensor], need_weights: bool = False):
        """feats {m: (B, T, D_m)}, masks {m: (B, T)} -> fused (B, T, d) [, weights dict].

        Modalities absent from ``feats`` are treated as zeros with an all-False mask.
        """
        ref = next(iter(feats.values()))
        b, t = ref.shape[:2]
        streams, smasks, inputs = {}, {}, {}
        for m in self.modalities:
            mask = masks.get(m)
            if m not in feats or mask is None:
                mask = torch.zeros(b, t, dtype=torch.bool, device=ref.device)
                x = ref.new_zeros(b, t, self.proj[m].in_features)
            else:
                x = feats[m]
            if self.l2_normalize:
                x = F.normalize(x, dim=-1)
            inputs[m] = zeros_where(x, mask)
            streams[m], smasks[m] = zeros_where(self.proj[m](x), mask), mask
        smasks[JOINT] = torch.stack([smasks[m] for m in self.modalities]).any(0)
        joint_in = streams if self.joint_from == "streams" else inputs
        streams[JOINT] = zeros_where(self.joint(torch.cat([joint_in[m] for m in self.modalities], -1)), smasks[JOINT])

        weights: dict[str, Tensor] = {}
        if self.positional:  # scaled so positions do not swamp the (often small) stream content
            pe = 0.1 * sinusoidal_positions(t, self.out_dim, ref.device, streams[JOINT].dtype)
            streams = {s: zeros_where(x + pe, smasks[s]) for s, x in streams.items()}
        for s in self.streams:
            for layer in self.self_attn[s]:
                streams[s], w = layer(streams[s], smasks[s], need_weights=need_weights)
            if need_weights:
                weights[f"self/{s}"] = w

        tokens, tmasks = [], []
        for q, k in self.pairs:
            c, w = self.cross[q](streams[q], smasks[q], streams[k], smasks[k], need_weights=need_weights)
            tokens.append(c)
            tmasks.append(smasks[q] & smasks[k].any(-1, keepdim=True))
            if need_weights:
                weights[f"cross/{q}<-{k}"] = w
        seq = torch.stack([self.fusion_token.expand(b, t, -1)] + tokens, dim=2)  # (B, T, P+1, d)
        seq = seq + self.pair_embed
        tmask = torch.stack([smasks[JOINT]] + tmasks, dim=2)  # (B, T, P+1)
        seq = rearrange(seq, "b t p d -> (b t) p d")
        tmask_flat = rearrange(tmask, "b t p -> (b t) p")
        for layer in self.token_layers:
            seq, w = layer(seq, tmask_flat, need_weights=need_weights)
            if need_weights:
                weights["tokens"] = rearrange(w, "(b t) h p q -> b t h p q", b=b)[:, :, :, 0]
        fused = self.norm(rearrange(seq[:, 0], "(b t) d -> b t d", b=b))
        fused = zeros_where(fused, smasks[JOINT])
        return (fused, weights) if need_weights else fused
