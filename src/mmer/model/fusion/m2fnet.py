"""M2FNet fusion (Chudasama et al.; docs/reference/models.md): dialogue-level transformers per modality, then
multi-head attention fusion with text as query and value and each other modality as keys, stacked.

For a dialogue of T utterances and modalities {text, audio, visual} (any subset; absent ones are masked):

    h_m = x_m + Enc_m(x_m),   x_m = Linear(D_m -> d)(feats_m) + sinusoidal position of the utterance   (B, T, d)
    t = h_text; repeat ``fusion_layers`` times (each block's output is the next block's query and value):
        a_m = LN(t + softmax(Q(t) K(h_m)^T / sqrt(d_head)) V(t))    for each m != text: attention over utterances
        t = Linear(M_other d -> d)(concat[a_m ...])
    fused = Linear((1 + M_other) d -> d)(concat[t, h_other...])                                          (B, T, d)

Enc_m is ``depth`` pre-norm self-attention blocks over the utterances (masked: padding and absent utterances never
attend or are attended to). With text alone the fusion layers have no keys and ``fused`` is the text stream after
its dialogue transformer: text-only MELD runs through the same module, by masks. A dialogue where modality m is
absent altogether (no clip at all) gets a_m = t.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from mmer.model.fusion.base import Fusion
from mmer.model.fusion.layers import AttentionBlock, attend, sinusoidal_positions, zeros_where


class KeyedAttention(nn.Module):
    """Attention whose keys come from another modality and whose queries and values come from ``query``."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(d_model, d_model) for _ in range(3))
        self.out = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = dropout

    def forward(self, query: Tensor, query_mask: Tensor, key: Tensor, key_mask: Tensor,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """query (B, T, d), key (B, T, d), masks (B, T) -> (B, T, d) and, if ``need_weights``, the weights
        (B, heads, T, T), 0 for masked query utterances and for dialogues without this key modality."""
        split = lambda x: rearrange(x, "b t (h d) -> b h t d", h=self.heads)  # noqa: E731
        has_key = key_mask.any(-1)
        mask = (key_mask | ~has_key[:, None])[:, None, None, :]
        ctx, weights = attend(split(self.q(query)), split(self.k(key)), split(self.v(query)), mask,
                              self.dropout if self.training else 0.0, need_weights)
        updated = self.norm(query + self.out(rearrange(ctx, "b h t d -> b t (h d)")))
        out = torch.where(has_key[:, None, None], updated, query)  # no key in this dialogue: unchanged, as if absent
        if weights is not None:
            weights = weights * (has_key[:, None, None, None] & query_mask[:, None, :, None])
        return zeros_where(out, query_mask), weights


def context_shares(weights: Tensor) -> Tensor:
    """Where in the dialogue each utterance looked: (B, heads, T, T) attention -> (B, T, 3), the weight on the
    same utterance, on earlier utterances and on later ones, averaged over heads (rows sum to 1, or 0 where the
    weights were 0)."""
    w = weights.mean(1)
    idx = torch.arange(w.shape[-1], device=w.device)
    earlier = (idx[None, :] < idx[:, None]).to(w.dtype)
    return torch.stack([w.diagonal(dim1=-2, dim2=-1), (w * earlier).sum(-1), (w * earlier.T).sum(-1)], -1)


class M2FNetFusion(Fusion):
    def __init__(self, in_dims: dict[str, int], d_model: int = 256, heads: int = 4, depth: int = 2,
                 fusion_layers: int = 2, dropout: float = 0.1, query: str = "text") -> None:
        super().__init__()
        if query not in in_dims:
            raise ValueError(f"M2FNetFusion: the query modality '{query}' is not among {list(in_dims)}")
        self.query, self.others = query, [m for m in in_dims if m != query]
        self.out_dim = d_model
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in in_dims.items()})
        self.encoders = nn.ModuleDict({m: nn.ModuleList(AttentionBlock(d_model, heads, 2, dropout)
                                                        for _ in range(depth)) for m in in_dims})
        self.fusion = nn.ModuleList(nn.ModuleDict({m: KeyedAttention(d_model, heads, dropout) for m in self.others})
                                    for _ in range(fusion_layers if self.others else 0))
        self.merge = nn.ModuleList(nn.Linear(len(self.others) * d_model, d_model) for _ in self.fusion)
        self.out = nn.Linear((1 + len(self.others)) * d_model, d_model)

    def _weights_name(self, block: int, m: str) -> str:
        return f"{self.query}<-{m} (block {block + 1})"

    @property
    def attention_labels(self) -> dict[str, list[str]]:
        """Keys of the weights ``forward(need_weights=True)`` returns: for each fusion block and key modality m, where
        the query utterances looked (``mmer explain``)."""
        return {self._weights_name(n, m): ["same utterance", "earlier utterances", "later utterances"]
                for n in range(len(self.fusion)) for m in self.others}

    def _stream(self, m: str, x: Tensor, mask: Tensor) -> Tensor:
        h = self.proj[m](x) + sinusoidal_positions(x.shape[1], self.out_dim, x.device, x.dtype)
        h = zeros_where(h, mask)
        enc = h
        for block in self.encoders[m]:
            enc, _ = block(enc, mask)
        return zeros_where(h + enc, mask)

    def forward(self, feats: dict[str, Tensor], masks: dict[str, Tensor], need_weights: bool = False):
        """feats {m: (B, T, D_m)}, masks {m: (B, T)} -> (B, T, d); with ``need_weights`` also
        {"<query><-<m> (block n)": (B, T, 3)} (:func:`context_shares` of each keyed attention)."""
        ref = feats.get(self.query, next(iter(feats.values())))
        b, t = ref.shape[:2]
        absent = torch.zeros(b, t, dtype=torch.bool, device=ref.device)
        streams = {m: self._stream(m, feats[m], masks[m]) for m in [self.query, *self.others] if m in feats}
        qmask = masks.get(self.query, absent)
        text = streams.get(self.query, ref.new_zeros(b, t, self.out_dim))
        weights = {}
        for n, (layer, merge) in enumerate(zip(self.fusion, self.merge)):
            keyed = []
            for m in self.others:
                if m not in streams:
                    keyed.append(text)
                    continue
                out, w = layer[m](text, qmask, streams[m], masks[m], need_weights=need_weights)
                keyed.append(out)
                if w is not None:
                    weights[self._weights_name(n, m)] = context_shares(w)
            text = zeros_where(merge(torch.cat(keyed, -1)), qmask)
        parts = [text] + [streams.get(m, ref.new_zeros(b, t, self.out_dim)) for m in self.others]
        any_mask = torch.stack([qmask] + [masks.get(m, absent) for m in self.others]).any(0)
        fused = zeros_where(self.out(torch.cat(parts, -1)), any_mask)
        return (fused, weights) if need_weights else fused
