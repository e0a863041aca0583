"""Prediction heads: one per target, each naming its loss and metrics through a task.

A task (``frame_regression``, ``classification``, ``multilabel``, ``regression``, and the per-frame
``frame_classification`` / ``frame_multilabel``) fixes the loss, the metrics and how raw outputs become predictions. Multi-task = several heads. A head sees the fused features (B, T, d) and
returns (B, T, out_dim) for frame-level tasks or (B, out_dim) for sample-level ones (masked mean over time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from mmer.losses import ccc_loss, masked_bce, masked_cross_entropy, masked_smooth_l1
from mmer.metrics import ConcordanceCC, classification_metrics, multilabel_metrics

TaskName = Literal["frame_regression", "classification", "multilabel", "regression", "frame_classification",
                   "frame_multilabel"]


@dataclass(frozen=True)
class Task:
    """What a head predicts: loss, metric names and output post-processing."""

    name: str
    level: Literal["frame", "sample"]

    def loss(self, out: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError

    def predict(self, out: Tensor) -> Tensor:
        """Raw head output -> prediction used for scoring and files."""
        return out

    def metrics(self, head: Head) -> dict[str, Metric]:
        raise NotImplementedError

    def metric_values(self, head: Head, name: str, value: Tensor) -> dict[str, float]:
        """Turn one computed metric into loggable scalars (e.g. one CCC per dimension plus their mean)."""
        return {name: float(value)}


class FrameRegression(Task):
    """Per-frame continuous targets (valence/arousal): CCC loss, CCC per dimension, clip to [-1, 1] at eval."""

    def loss(self, out, target, mask):
        return ccc_loss(out, target, mask)

    def predict(self, out):
        return out.clamp(-1.0, 1.0)

    def metrics(self, head):
        return {"ccc": ConcordanceCC(head.out_dim)}

    def metric_values(self, head, name, value):
        vals = {f"ccc_{d}": float(v) for d, v in zip(head.dim_names, value.reshape(-1))}
        vals["ccc_mean"] = float(value.mean())
        return vals


class Classification(Task):
    def loss(self, out, target, mask):
        return masked_cross_entropy(out, target, mask)

    def predict(self, out):
        return out.softmax(-1)

    def metrics(self, head):
        return classification_metrics(head.out_dim)


class MultiLabel(Task):
    """Independent binary labels (action units): BCE, F1 per label (``f1_<name>``) and their mean ``f1_mean``."""

    def loss(self, out, target, mask):
        return masked_bce(out, target, mask)

    def predict(self, out):
        return out.sigmoid()

    def metrics(self, head):
        return multilabel_metrics(head.out_dim)

    def metric_values(self, head, name, value):
        vals = {f"f1_{d}": float(v) for d, v in zip(head.dim_names, value.reshape(-1))}
        vals["f1_mean"] = float(value.mean())
        return vals


class SampleRegression(Task):
    """Values per sample (EMER valence/arousal, intensity): SmoothL1; CCC per dimension and their mean, MAE and
    RMSE over all dimensions, over the whole epoch."""

    def loss(self, out, target, mask):
        return masked_smooth_l1(out, target, mask)

    def metrics(self, head):
        from torchmetrics import MeanAbsoluteError, MeanSquaredError

        return {"ccc": ConcordanceCC(head.out_dim), "mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False)}

    def metric_values(self, head, name, value):
        if name != "ccc":
            return {name: float(value)}
        vals = {f"ccc_{d}": float(v) for d, v in zip(head.dim_names, value.reshape(-1))}
        return vals | {"ccc_mean": float(value.mean())}


TASKS: dict[str, Task] = {
    "frame_regression": FrameRegression("frame_regression", "frame"),
    "classification": Classification("classification", "sample"),
    "multilabel": MultiLabel("multilabel", "sample"),
    "regression": SampleRegression("regression", "sample"),
    "frame_classification": Classification("frame_classification", "frame"),  # Aff-Wild2 EXPR: a class per frame
    "frame_multilabel": MultiLabel("frame_multilabel", "frame"),  # Aff-Wild2 AU: 12 binary units per frame
}


class Head(nn.Module):
    """Linear(in_dim -> hidden) -> ReLU -> Dropout -> Linear(hidden -> out_dim) on fused features
    (``hidden=0``: Dropout -> Linear(in_dim -> out_dim)).

    Args:
        in_dim: fused feature size d (given by the module).
        name: head name; also the key of its target in ``Batch.targets`` unless ``target`` is set.
        task: one of :data:`TASKS`.
        out_dim: number of outputs (regression dims, classes or labels).
        dim_names: names of regression dims (``["valence", "arousal"]``), used in metric keys.
        weight: multiplier of this head's loss in the total loss.
        metric_prefix: prefix for this head's metric keys (needed only when two heads share metric names).
    """

    def __init__(self, in_dim: int, name: str, task: TaskName, out_dim: int, target: str | None = None,
                 dim_names: Sequence[str] | None = None, hidden: int = 128, dropout: float = 0.1,
                 weight: float = 1.0, metric_prefix: str = "") -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"Head '{name}': unknown task '{task}'; choose one of {sorted(TASKS)}")
        if dim_names is not None and len(dim_names) != out_dim:
            raise ValueError(f"Head '{name}': {len(dim_names)} dim_names for out_dim={out_dim}")
        self.name = name
        self.target = target or name
        self.task = TASKS[task]
        self.out_dim = out_dim
        self.dim_names = list(dim_names) if dim_names is not None else [str(i) for i in range(out_dim)]
        self.weight = weight
        self.metric_prefix = metric_prefix
        if hidden > 0:
            self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(hidden, out_dim))
        else:  # a single linear layer, e.g. LFAN's output layer
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))

    @property
    def level(self) -> str:
        return self.task.level

    def forward(self, fused: Tensor, mask: Tensor) -> Tensor:
        """fused (B, T, d) or (B, d); mask (B, T) -> (B, T, out_dim) for frame tasks, else (B, out_dim)."""
        if self.level == "sample" and fused.dim() == 3:
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
