"""Prediction heads: one per target, each naming its task in the registry (:mod:`mmer.tasks`), which fixes the loss,
the metrics and how raw outputs become predictions. Multi-task = several heads. A head sees the fused features
(B, T, d) and returns (B, T, out_dim) for frame-level tasks or (B, out_dim) for sample-level ones (masked mean over
time).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmer.tasks import get_task


class Head(nn.Module):
    """Linear(in_dim -> hidden) -> ReLU -> Dropout -> Linear(hidden -> out_dim) on fused features
    (``hidden=0``: Dropout -> Linear(in_dim -> out_dim)).

    Args:
        in_dim: fused feature size d (given by the module).
        name: head name; also the key of its target in ``Batch.targets`` unless ``target`` is set.
        task: a name in :data:`mmer.tasks.TASKS`.
        out_dim: number of outputs (regression dims, classes or labels).
        dim_names: names of regression dims (``["valence", "arousal"]``), used in metric keys.
        weight: multiplier of this head's loss in the total loss.
        metric_prefix: prefix for this head's metric keys (needed only when two heads share metric names).
    """

    def __init__(self, in_dim: int, name: str, task: str, out_dim: int, target: str | None = None,
                 dim_names: Sequence[str] | None = None, hidden: int = 128, dropout: float = 0.1,
                 weight: float = 1.0, metric_prefix: str = "") -> None:
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
        if hidden > 0:
            self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, out_dim))
        else:  # a single linear layer, e.g. LFAN's output layer
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))

    def forward(self, fused: Tensor, mask: Tensor) -> Tensor:
        """fused (B, T, d) or (B, d); mask (B, T) -> (B, T, out_dim) for frame tasks, else (B, out_dim)."""
        if not self.task.per_frame and fused.dim() == 3:
            w = mask.unsqueeze(-1).to(fused.dtype)
            fused = (fused * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.mlp(fused)


def frames_from_tokens(tokens: Tensor, num_frames: int) -> Tensor:
    """Map token-level outputs (B, T_tok, D) back to label frames (B, num_frames, D).

    Token i covers frames [i*s, (i+1)*s) with s = ceil(num_frames / T_tok): each frame takes its token's value.
    """
    t_tok = tokens.shape[1]
    if t_tok == num_frames:
        return tokens
    stride = -(-num_frames // t_tok)
    return torch.repeat_interleave(tokens, stride, dim=1)[:, :num_frames]
