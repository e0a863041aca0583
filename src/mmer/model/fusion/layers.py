"""Masked multi-head attention that stays finite when every key is masked.

Shared by the fusions. Batch-first; no operation mixes batch samples.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


class MaskedMultiheadAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head)) V per head, with key padding masks.

    query (B, Tq, d), key/value (B, Tk, d), key_mask (B, Tk) True = attend. Rows whose keys are all masked
    output 0 (instead of NaN). Returns (B, Tq, d) and, if ``need_weights``, weights (B, heads, Tq, Tk).
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.heads = heads
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, query: Tensor, key: Tensor, key_mask: Tensor, need_weights: bool = False):
        q = rearrange(self.q(query), "b t (h d) -> b h t d", h=self.heads)
        k, v = rearrange(self.kv(key), "b t (two h d) -> two b h t d", two=2, h=self.heads)
        has_key = key_mask.any(-1)  # (B,)
        safe_mask = key_mask | ~has_key[:, None]  # all-masked rows attend everywhere, then get zeroed
        ctx, weights = attend(q, k, v, safe_mask[:, None, None, :], self.dropout if self.training else 0.0,
                              need_weights)
        if weights is not None:
            weights = weights * has_key[:, None, None, None]
        out = self.out(rearrange(ctx, "b h t d -> b t (h d)"))
        return out * has_key[:, None, None].to(out.dtype), weights


def attend(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor, dropout: float = 0.0,
           need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
    """softmax(q k^T / sqrt(d_head) where attn_mask, else -inf) v over (B, h, T, d_head) tensors.

    Without ``need_weights`` this is PyTorch's fused kernel and the weights are None; with it the same product is
    computed explicitly so that the weights (B, h, Tq, Tk) can be returned (``mmer explain``). ``dropout`` is
    applied to the weights (pass 0.0 in eval mode).
    """
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout), None
    scores = (q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5
    weights = scores.masked_fill(~attn_mask, float("-inf")).softmax(-1)
    return F.dropout(weights, dropout, dropout > 0) @ v, weights


BLOCKS = ("pre_norm", "post_norm")


class AttentionBlock(nn.Module):
    """A transformer block, batch-first, in one of two orders:

    - ``pre_norm`` (mmer's default): x = q + Attn(LN(q), LN(kv)); x = x + FF(LN(x)), FF = Linear-GELU-Dropout-Linear.
    - ``post_norm`` (the JMT reference, PoloWlg ``models/mm_transformers.py`` ``TransformerEncoderLayer``):
      x = LN(q + Attn(q, kv)); x = LN(x + FF(x)), FF = Linear-ReLU-Linear.

    Self-attention when ``kv`` is None (keys are the (normalised) query itself); cross-attention to ``kv`` when
    built with ``cross=True``. ff_dim: the feed-forward width (default ``ff_mult * d_model``).
    query (B, Tq, d), query_mask (B, Tq); kv (B, Tk, d), key_mask (B, Tk). The residual keeps each query step's
    own content, so outputs stay aligned with the query's time axis; masked query steps output 0.
    """

    def __init__(self, d_model: int, heads: int, ff_mult: int = 2, dropout: float = 0.1, cross: bool = False,
                 block: str = "pre_norm", ff_dim: int | None = None) -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"attention block={block!r}: choose one of {list(BLOCKS)}")
        self.block = block
        width = ff_dim or ff_mult * d_model
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model) if cross and block == "pre_norm" else None
        self.cross = cross
        self.attn = MaskedMultiheadAttention(d_model, heads, dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        act = nn.GELU() if block == "pre_norm" else nn.ReLU()
        self.ff = nn.Sequential(nn.Linear(d_model, width), act, nn.Dropout(dropout), nn.Linear(width, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, query: Tensor, query_mask: Tensor, kv: Tensor | None = None, key_mask: Tensor | None = None,
                need_weights: bool = False):
        if kv is not None and not self.cross:
            raise ValueError("this AttentionBlock was built for self-attention: pass cross=True to attend to kv")
        if self.block == "post_norm":
            keys, key_mask = (query, query_mask) if kv is None else (kv, key_mask)
            a, w = self.attn(query, keys, key_mask, need_weights)
            x = self.norm_q(query + self.drop(a))
            x = self.norm_ff(x + self.drop(self.ff(x)))
            return x * query_mask.unsqueeze(-1).to(x.dtype), w
        q = self.norm_q(query)
        keys, key_mask = (q, query_mask) if kv is None else (self.norm_kv(kv), key_mask)
        a, w = self.attn(q, keys, key_mask, need_weights)
        x = query + self.drop(a)
        x = x + self.drop(self.ff(self.norm_ff(x)))
        return x * query_mask.unsqueeze(-1).to(x.dtype), w


def zeros_where(x: Tensor, mask: Tensor) -> Tensor:
    return x * mask.unsqueeze(-1).to(x.dtype)



def sinusoidal_positions(length: int, dim: int, device=None, dtype=None) -> Tensor:
    """Fixed sinusoidal position encodings (length, dim): sin/cos of t / 10000^(2i/dim)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe.to(dtype) if dtype is not None else pe
