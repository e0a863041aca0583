"""Metrics, computed over whole evaluation sets (never averaged per batch).

CCC (Lin 1989) with population moments (divide by n), accumulated in float64::

    ccc(x, y) = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)

Conventions (see ``../shared/METRICS.md``):

- identical non-constant series give exactly 1;
- NaN exactly when the denominator is 0 (both series constant and equal), with a warning; one constant series
  or two different constants give 0;
- torchmetrics' ``ConcordanceCorrCoef`` uses n-1 for both moments, and the leader-follower reference code mixes a
  biased covariance with unbiased variances (identical series then score (n-1)/n). We use n for all three.

Classification metrics use torchmetrics over the whole epoch: weighted F1 (support-weighted mean of per-class F1),
accuracy, UAR (macro recall) and macro F1. The CV tables add per-class average precision and mAP
(:func:`average_precision`), computed from the class probabilities of a whole fold.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric


class CCCUndefinedWarning(UserWarning):
    """Both series are constant and equal: CCC is 0/0 and reported as NaN."""


def _ccc_float64(x: Tensor, y: Tensor) -> Tensor:
    """CCC of two 1-D float64 tensors (two-pass moments for accuracy)."""
    mx, my = x.mean(), y.mean()
    dx, dy = x - mx, y - my
    cov = (dx * dy).mean()
    denom = (dx * dx).mean() + (dy * dy).mean() + (mx - my) ** 2
    if denom == 0:
        warnings.warn("CCC undefined: both series are constant and equal (0/0); reporting NaN", CCCUndefinedWarning,
                      stacklevel=3)
        return torch.tensor(float("nan"), dtype=torch.float64)
    return 2.0 * cov / denom


def ccc(preds: np.ndarray | Tensor, target: np.ndarray | Tensor) -> float | Tensor:
    """Concordance correlation coefficient of two 1-D series of equal length n >= 1.

    Returns a Python float for numpy / list inputs and a 0-d float64 tensor for tensor inputs.
    """
    as_tensor = isinstance(preds, Tensor) or isinstance(target, Tensor)
    x = torch.as_tensor(preds).detach().to("cpu", torch.float64).reshape(-1)
    y = torch.as_tensor(target).detach().to("cpu", torch.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"ccc: preds and target must have the same length, got {x.numel()} and {y.numel()}")
    if x.numel() == 0:
        raise ValueError("ccc: empty series (no labelled frames to score)")
    value = _ccc_float64(x, y)
    return value if as_tensor else float(value)


def ccc_per_dim(preds: Tensor, target: Tensor) -> Tensor:
    """CCC per column of (N, D) tensors -> (D,) float64."""
    return torch.stack([torch.as_tensor(ccc(preds[:, d], target[:, d])) for d in range(preds.shape[1])])


class ConcordanceCC(Metric):
    """Epoch-level CCC per target dimension. ``update`` takes (N, D) valid frames; ``compute`` -> (D,) float64.

    States are concatenated (not averaged) so the value is the CCC over all frames of the epoch.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_dims: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_dims = num_dims
        self.add_state("preds", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor, target: Tensor) -> None:
        self.preds.append(preds.detach().reshape(-1, self.num_dims).float())
        self.target.append(target.detach().reshape(-1, self.num_dims).float())

    def compute(self) -> Tensor:
        p = torch.cat(self.preds) if isinstance(self.preds, list) else self.preds
        t = torch.cat(self.target) if isinstance(self.target, list) else self.target
        return ccc_per_dim(p, t)


def classification_metrics(num_classes: int) -> dict[str, Metric]:
    """Whole-set classification metrics keyed by their public names."""
    from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassRecall

    return {
        "f1_weighted": MulticlassF1Score(num_classes, average="weighted"),
        "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        "accuracy": MulticlassAccuracy(num_classes, average="micro"),
        "uar": MulticlassRecall(num_classes, average="macro"),
    }


def multilabel_metrics(num_labels: int) -> dict[str, Metric]:
    """F1 of each label at threshold 0.5 over the whole set (their mean is the AU challenge's headline)."""
    from torchmetrics.classification import MultilabelF1Score

    return {"f1": MultilabelF1Score(num_labels, average="none")}


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Average precision of one class (one-vs-rest), the area under its precision-recall steps::

        AP = sum_k (R_k - R_{k-1}) P_k

    over the distinct score thresholds k in decreasing order (tied scores enter together; no interpolation, as
    scikit-learn's ``average_precision_score``). NaN when the class has no positive sample."""
    scores = np.asarray(scores, np.float64).reshape(-1)
    positive = np.asarray(positive, bool).reshape(-1)
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each run of equal scores
    tp = np.cumsum(p)[ends]
    precision, recall = tp / (ends + 1), tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def class_average_precision(probs: np.ndarray, true: np.ndarray, names: list[str]) -> dict[str, float]:
    """``ap_<name>`` per class and ``map``, their mean over the classes that occur (probs (N, C), true (N,))."""
    aps = {f"ap_{n}": average_precision(probs[:, c], np.asarray(true) == c) for c, n in enumerate(names)}
    seen = [v for v in aps.values() if not np.isnan(v)]
    return aps | {"map": float(np.mean(seen)) if seen else float("nan")}
