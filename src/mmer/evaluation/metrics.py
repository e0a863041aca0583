"""Metrics, computed over whole evaluation sets (never averaged per batch).

CCC (Lin 1989) with population moments (divide by n), accumulated in float64::

    ccc(x, y) = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)

Conventions (docs/reference/definitions.md):

- identical non-constant series give exactly 1;
- NaN exactly when the denominator is 0 (both series constant and equal), with a warning; one constant series
  or two different constants give 0;
- torchmetrics' ``ConcordanceCorrCoef`` uses n-1 for both moments, and the leader-follower reference code mixes a
  biased covariance with unbiased variances (identical series then score (n-1)/n). We use n for all three.

Each metric exists twice, as an epoch metric (torchmetrics, logged during training) and as a table score (numpy
over a whole fold's pooled rows, the CV tables), with one definition: the torchmetrics CCC class calls :func:`ccc`;
the table's classification scores follow torchmetrics' definitions (tested against them, and both against the
logged epoch metrics in ``tests/test_parity.py``):

- classes: weighted F1 (support-weighted mean of per-class F1), accuracy, UAR (macro recall) and macro F1; the
  tables add per-class average precision and mAP (torchmetrics' ``binary_average_precision``, as scikit-learn's);
- labels: F1 of each label at probability > 0.5, and their mean;
- values: CCC, MAE and RMSE per dimension, and their means over dimensions.

CCC is our own because torchmetrics' ``ConcordanceCorrCoef`` uses n-1 moments (METRICS.md uses n).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassRecall,
    MultilabelF1Score,
)
from torchmetrics.functional.classification import binary_average_precision


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


# ------------------------------------------------------------------------------------------------ epoch metrics
def ccc_metrics(num_dims: int) -> dict[str, Metric]:
    """Per-frame values: CCC per dimension."""
    return {"ccc": ConcordanceCC(num_dims)}


def value_metrics(num_dims: int) -> dict[str, Metric]:
    """Values per sample: CCC, MAE and RMSE, each per dimension (their means are the table's ``*_mean``)."""
    return {"ccc": ConcordanceCC(num_dims), "mae": MeanAbsoluteError(num_outputs=num_dims),
            "rmse": MeanSquaredError(squared=False, num_outputs=num_dims)}


def classification_metrics(num_classes: int) -> dict[str, Metric]:
    """Whole-set classification metrics keyed by their public names."""
    return {
        "f1_weighted": MulticlassF1Score(num_classes, average="weighted"),
        "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        "accuracy": MulticlassAccuracy(num_classes, average="micro"),
        "uar": MulticlassRecall(num_classes, average="macro"),
    }


def multilabel_metrics(num_labels: int) -> dict[str, Metric]:
    """F1 of each label at threshold 0.5 over the whole set (their mean is the AU challenge's headline)."""
    return {"f1": MultilabelF1Score(num_labels, average="none")}


# ------------------------------------------------------------------------------------------------ table scores
def ccc_scores(pred: np.ndarray, true: np.ndarray, columns: Sequence[str]) -> dict[str, float]:
    """Rows (N, D) pooled over every labelled frame of every recording: ``ccc_<dim>`` and ``ccc_mean``."""
    scores = {f"ccc_{c}": ccc(pred[:, i], true[:, i]) for i, c in enumerate(columns)}
    return scores | {"ccc_mean": float(np.mean(list(scores.values())))}


def value_scores(pred: np.ndarray, true: np.ndarray, columns: Sequence[str]) -> dict[str, float]:
    """Values per sample: ``mae_<dim>``, ``rmse_<dim>``, ``ccc_<dim>`` and each one's mean over the dimensions."""
    err = pred - true
    scores = {}
    for i, c in enumerate(columns):
        scores[f"mae_{c}"] = float(np.abs(err[:, i]).mean())
        scores[f"rmse_{c}"] = float(np.sqrt((err[:, i] ** 2).mean()))
        scores[f"ccc_{c}"] = ccc(pred[:, i], true[:, i])
    for k in ("mae", "rmse", "ccc"):
        scores[f"{k}_mean"] = float(np.mean([scores[f"{k}_{c}"] for c in columns]))
    return scores


def class_scores(probs: np.ndarray, true: np.ndarray, columns: Sequence[str]) -> dict[str, float]:
    """Class probabilities (N, C) and true class indices (N, 1): :func:`classification_scores` of the argmax, and
    per-class AP and mAP of the probabilities."""
    labels = true[:, 0].astype(int)
    return (classification_scores(probs.argmax(1), labels, len(columns), names=columns)
            | class_average_precision(probs, labels, list(columns)))


def label_scores(probs: np.ndarray, true: np.ndarray, columns: Sequence[str]) -> dict[str, float]:
    """Independent labels (N, K): F1 of each at probability > 0.5 (torchmetrics' threshold rule) and their mean; a
    label that is neither present nor predicted scores 0, as in torchmetrics."""
    pred, pos = probs > 0.5, true >= 0.5
    tp, fp, fn = (pred & pos).sum(0), (pred & ~pos).sum(0), (~pred & pos).sum(0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return {f"f1_{c}": float(v) for c, v in zip(columns, f1)} | {"f1_mean": float(f1.mean())}


def classification_scores(pred: np.ndarray, true: np.ndarray, num_classes: int,
                          names: Sequence[str] | None = None) -> dict[str, float]:
    """Whole-set scores of integer predictions: accuracy, weighted F1 (per-class F1 weighted by true support),
    macro F1 and UAR (macro recall). Macro means skip a class that is neither present nor predicted, as
    torchmetrics' ``MulticlassF1Score`` / ``MulticlassRecall`` do, so epoch logs and CV tables agree. With class
    ``names``, also each class's F1 as ``f1_<name>``."""
    if len(true) == 0:
        raise ValueError("classification_scores: no labelled samples to score")
    cm = confusion_matrix(pred, true, num_classes)
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(1).astype(np.float64), cm.sum(0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
    seen = (support + predicted) > 0
    scores = {"f1_weighted": float((f1 * support).sum() / support.sum()), "accuracy": float(tp.sum() / support.sum()),
              "uar": float(recall[seen].mean()), "f1_macro": float(f1[seen].mean())}
    return scores | ({f"f1_{n}": float(v) for n, v in zip(names, f1)} if names is not None else {})


def confusion_matrix(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts; rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(true, int), np.asarray(pred, int)), 1)
    return cm


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Average precision of one class (one-vs-rest), the area under its precision-recall steps::

        AP = sum_k (R_k - R_{k-1}) P_k

    over the distinct score thresholds k in decreasing order (tied scores enter together; no interpolation):
    torchmetrics' ``binary_average_precision``, which computes it as scikit-learn's ``average_precision_score``
    does. NaN when the class has no positive sample (torchmetrics would warn and return a meaningless 0)."""
    scores = torch.as_tensor(np.asarray(scores, np.float64).reshape(-1))
    positive = torch.as_tensor(np.asarray(positive, bool).reshape(-1))
    if not bool(positive.any()):
        return float("nan")
    return float(binary_average_precision(scores, positive.long(), validate_args=False))


def class_average_precision(probs: np.ndarray, true: np.ndarray, names: list[str]) -> dict[str, float]:
    """``ap_<name>`` per class and ``map``, their mean over the classes that occur (probs (N, C), true (N,))."""
    aps = {f"ap_{n}": average_precision(probs[:, c], np.asarray(true) == c) for c, n in enumerate(names)}
    seen = [v for v in aps.values() if not np.isnan(v)]
    return aps | {"map": float(np.mean(seen)) if seen else float("nan")}
