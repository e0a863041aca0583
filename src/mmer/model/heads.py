"""Prediction heads: one per target, each naming its task in the registry (:mod:`mmer.evaluation.tasks`), which fixes the loss,
the metrics and how raw outputs become predictions. Multi-task = several heads. A head sees the fused features
(B, T, d) and returns (B, T, out_dim) for frame-level tasks or (B, out_dim) for sample-level ones (masked mean over
time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmer.core.settings import Count
from mmer.evaluation.tasks import get_task


class Head(nn.Module):
    """Linear(in_dim -> hidden) -> ReLU -> Dropout -> Linear(hidden -> out_dim) on fused features
    (``hidden=0``: Dropout -> Linear(in_dim -> out_dim), LFAN's single output layer; ``dropout=0``: no dropout).

    Args:
        in_dim: fused feature size d (given by the module).
        name: head name; also the key of its target in ``Batch.targets`` unless ``target`` is set.
        task: a name in :data:`mmer.evaluation.tasks.TASKS`.
        out_dim: number of outputs (regression dims, classes or labels).
        dim_names: names of regression dims (``["valence", "arousal"]``), used in metric keys.
        weight: multiplier of this head's loss in the total loss.
        metric_prefix: prefix for this head's metric keys (needed only when two heads share metric names).
        per_dim: one MLP per output dimension, each ending in a single output (JMT's reference: a 512-128-1
            regressor for valence and another for arousal) instead of one MLP with ``out_dim`` outputs.
        loss_options: keyword arguments of the task's loss (``{per: window}`` for CCC per window).
    """

    def __init__(self, in_dim: int, name: str, task: str, out_dim: int, target: str | None = None,
                 dim_names: Sequence[str] | None = None, hidden: Count = 128, dropout: float = 0.1,
                 weight: float = 1.0, metric_prefix: str = "", per_dim: bool = False,
                 loss_options: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.task = get_task(task, f"Head '{name}'")
        if dim_names is not None and len(dim_names) != out_dim:
            raise ValueError(f"Head '{name}': {len(dim_names)} dim_names for out_dim={out_dim}")
        self.name = name
        self.target = target or name
        self.out_dim = out_dim
        self.dim_names = list(dim_names) if dim_names is not None else [str(i) for i in range(out_dim)]
        self.weight = weight
        self.metric_prefix = metric_prefix
        self.loss_options = dict(loss_options or {})
        self.per_dim = per_dim
        if per_dim:
            self.mlps = nn.ModuleList(_mlp(in_dim, hidden, dropout, 1) for _ in range(out_dim))
        else:
            self.mlp = _mlp(in_dim, hidden, dropout, out_dim)

    def loss(self, output: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """The task's loss of this head's output, with the head's ``loss_options``."""
        return self.task.loss(output, target, mask, **self.loss_options)

    def forward(self, fused: Tensor | Sequence[Tensor], mask: Tensor) -> Tensor:
        """fused (B, T, d) or (B, d); mask (B, T) -> (B, T, out_dim) for frame tasks, else (B, out_dim). A
        ``per_dim`` head may get one fused tensor per dimension (one model per dimension)."""
        many = isinstance(fused, (list, tuple))
        if many and not self.per_dim:
            raise ValueError(f"Head '{self.name}': one fused input per dimension needs per_dim=true")
        inputs = [self._pool(f, mask) for f in fused] if many else [self._pool(fused, mask)] * len(self.mlps) \
            if self.per_dim else [self._pool(fused, mask)]
        if self.per_dim:
            return torch.cat([mlp(x) for mlp, x in zip(self.mlps, inputs, strict=True)], dim=-1)
        return self.mlp(inputs[0])

    def _pool(self, fused: Tensor, mask: Tensor) -> Tensor:
        """Sample-level tasks: the masked mean over time; frame-level: unchanged."""
        if not self.task.per_frame and fused.dim() == 3:
            w = mask.unsqueeze(-1).to(fused.dtype)
            return (fused * w).sum(1) / w.sum(1).clamp_min(1.0)
        return fused


def _mlp(in_dim: int, hidden: int, dropout: float, out_dim: int) -> nn.Sequential:
    """in_dim -> [hidden -> ReLU ->] Dropout -> out_dim (``hidden=0``: a single linear layer, e.g. LFAN's;
    ``dropout=0``: the Dropout is the identity)."""
    if hidden > 0:
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))


UPSAMPLING = ("repeat", "interpolate")


def frames_from_tokens(tokens: Tensor, num_frames: int, mode: str = "repeat") -> Tensor:
    """Map token-level outputs (B, T_tok, D) back to label frames (B, num_frames, D).

    Token i covers frames [i*s, (i+1)*s) with s = ceil(num_frames / T_tok). ``repeat``: each frame takes its
    token's value (a step function). ``interpolate``: linear between token centres (frame j reads the token
    position (j + 0.5) / s - 0.5, held flat before the first and after the last centre), so every frame gets its
    own value, as the JMT reference's stride-1 sub-clips give, at no extra backbone cost.
    """
    t_tok = tokens.shape[1]
    if t_tok == num_frames:
        return tokens
    stride = -(-num_frames // t_tok)
    if mode == "interpolate":
        up = F.interpolate(tokens.transpose(1, 2), scale_factor=stride, mode="linear", align_corners=False)
        return up.transpose(1, 2)[:, :num_frames]
    if mode != "repeat":
        raise ValueError(f"token upsampling {mode!r}: choose one of {list(UPSAMPLING)}")
    return torch.repeat_interleave(tokens, stride, dim=1)[:, :num_frames]
