"""The task registry: everything mmer knows about one kind of prediction, in one entry of :data:`TASKS`.

A head names its task (``model/head/*.yaml``: ``task: frame_regression``); the module, the CV runner, the report,
``mmer explain`` and the ablations read the entry and nothing else:

==========================  ======  =======  ============  ==================  ====================================
task                        level   kind     loss          fold merge          table columns (``{dim}``: per column)
==========================  ======  =======  ============  ==================  ====================================
``frame_regression``        frame   values   CCC           CCC centering       ccc_{dim}, ccc_mean
``regression``              sample  values   SmoothL1      mean                ccc_{dim}, ccc_mean, mae_mean, ...
``classification``          sample  classes  cross-entr.   soft vote           f1_weighted, accuracy, uar, ...
``frame_classification``    frame   classes  cross-entr.   soft vote           (as classification)
``multilabel``              sample  labels   BCE           soft vote           f1_{dim}, f1_mean
``frame_multilabel``        frame   labels   BCE           soft vote           (as multilabel)
==========================  ======  =======  ============  ==================  ====================================

- level: ``frame`` = one prediction per step of an item (a video frame, or an utterance of a dialogue: the data
  module's ``step_unit``), stitched from windows into one row per step; ``sample`` = one per item (one row, frame 0).
- kind: what a prediction row holds: ``values`` (regression outputs), ``classes`` (softmax probabilities, scored at
  the argmax), ``labels`` (independent sigmoid probabilities, scored at > 0.5).
- epoch metrics (torchmetrics, logged during training) and table scores (numpy, the CV tables) compute the same
  definitions on the same rows; ``tests/test_parity.py`` trains a run of each kind and checks they agree.

Adding a task is one :class:`Task` entry here plus a head YAML (docs/guides/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from torch import Tensor
from torchmetrics import Metric

from mmer.core.errors import ConfigError
from mmer.evaluation import report
from mmer.evaluation.losses import ccc_loss, masked_bce, masked_cross_entropy, masked_smooth_l1
from mmer.evaluation.metrics import (
    ccc_metrics,
    ccc_scores,
    class_scores,
    classification_metrics,
    label_scores,
    multilabel_metrics,
    value_metrics,
    value_scores,
)
from mmer.evaluation.tables import Table, mean_tables, merge_tables

Level = Literal["frame", "sample"]
Kind = Literal["values", "classes", "labels"]
MergeRule = Literal["ccc_centering", "soft_vote", "mean"]
LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]
ScoreFn = Callable[[np.ndarray, np.ndarray, Sequence[str]], dict[str, float]]

#: rule -> (function merging fold tables of the same recordings, the name the CV table prints)
MERGES: dict[str, tuple[Callable[[Sequence[Table]], Table], str]] = {
    "ccc_centering": (merge_tables, "CCC-centering merge"),
    "soft_vote": (mean_tables, "mean of fold probabilities"),
    "mean": (mean_tables, "mean of fold predictions"),
}


@dataclass(frozen=True)
class ReportData:
    """What a task's plot may draw, gathered once by the CV runner. merged / targets / masks / fold_tables: the
    held-out partition (merged table, its targets and masks, each fold's table; empty without one); oof_pred /
    oof_true: every labelled out-of-fold row pooled over the folds, (N, C) and (N, 1) or (N, K)."""

    title: str
    merged: Table
    targets: Table
    masks: Table
    fold_tables: Sequence[Table]
    oof_pred: np.ndarray
    oof_true: np.ndarray
    plot_videos: int = 3


PlotFn = Callable[[Path, Sequence[str], ReportData], "Path | None"]


def plot_traces(run_dir: Path, columns: Sequence[str], data: ReportData) -> Path | None:
    """Frame values: targets, fold and merged predictions over time for the first held-out videos."""
    if not data.merged:
        return None
    shown = sorted(data.merged)[:data.plot_videos]
    return report.plot_predictions(run_dir / "predictions.png", shown, data.merged, data.targets, data.masks,
                                   data.fold_tables, columns)


def plot_oof_confusion(run_dir: Path, columns: Sequence[str], data: ReportData) -> Path:
    """Classes: the pooled out-of-fold confusion matrix."""
    return report.plot_confusion(run_dir / "confusion_oof.png", data.oof_pred.argmax(1),
                                 data.oof_true[:, 0].astype(int), columns, f"{data.title}: pooled out-of-fold")


def plot_oof_values(run_dir: Path, columns: Sequence[str], data: ReportData) -> Path:
    """Sample values: predicted against true, pooled out of fold."""
    return report.plot_values(run_dir / "values_oof.png", data.oof_pred, data.oof_true, columns,
                              f"{data.title}: pooled out-of-fold")


@dataclass(frozen=True)
class Task:
    """One kind of prediction.

    Args:
        name: the key in :data:`TASKS` and a head's ``task``.
        level: ``frame`` or ``sample`` (the module docstring).
        kind: ``values``, ``classes`` or ``labels`` (the module docstring).
        loss: ``loss(out, target, mask)`` over the valid targets (``mmer.evaluation.losses``).
        metrics: ``metrics(out_dim)`` -> ``{name: torchmetrics.Metric}`` accumulated over a whole epoch.
        per_dim: epoch metrics whose value is a vector with one entry per output: logged as ``<name>_<dim>`` and
            ``<name>_mean``; the others are logged as ``<name>``.
        scores: ``scores(pred_rows, true_rows, columns)`` -> the table's scores of pooled labelled rows.
        headline: the CV table's columns, ``{dim}`` expanded over the target's column names.
        compare: the columns of ablation tables (a few headline scores).
        primary: the one score that stands for the task (``val/<primary>`` is what a sweep or checkpoint would
            follow): ccc_mean, f1_weighted or f1_mean.
        merge: how fold tables of the same recordings merge (:data:`MERGES`).
        plot: ``plot(run_dir, columns, ReportData)`` -> the PNG people look at, or None.
        clip: predicted values are clamped to [-clip, clip] at evaluation (values only).
    """

    name: str
    level: Level
    kind: Kind
    loss: LossFn
    metrics: Callable[[int], dict[str, Metric]]
    per_dim: tuple[str, ...]
    scores: ScoreFn
    headline: tuple[str, ...]
    compare: tuple[str, ...]
    primary: str
    merge: MergeRule
    plot: PlotFn | None = None
    clip: float | None = None

    def __post_init__(self) -> None:
        if self.merge not in MERGES:
            raise ValueError(f"task {self.name}: merge={self.merge!r}; choose one of {sorted(MERGES)}")
        if self.primary not in self.headline:
            raise ValueError(f"task {self.name}: primary={self.primary!r} must be one of its headline columns")
        if self.clip is not None and self.kind != "values":
            raise ValueError(f"task {self.name}: clip applies to values only")

    @property
    def per_frame(self) -> bool:
        """One prediction per step of an item (else one per item)."""
        return self.level == "frame"

    @property
    def predicts_classes(self) -> bool:
        """Rows are mutually exclusive class probabilities (scored at their argmax)."""
        return self.kind == "classes"

    def activate(self, out: Tensor) -> Tensor:
        """Raw head output -> probabilities (classes, labels) or the values themselves, not yet clipped: what a
        fold's prediction table starts from (:mod:`mmer.evaluation.postprocess` clips and smooths it)."""
        if self.kind == "classes":
            return out.softmax(-1)
        if self.kind == "labels":
            return out.sigmoid()
        return out

    def predict(self, out: Tensor) -> Tensor:
        """Raw head output -> the prediction the epoch metrics score (probabilities, or clamped values)."""
        out = self.activate(out)
        return out.clamp(-self.clip, self.clip) if self.clip is not None and self.kind == "values" else out

    def metric_values(self, dim_names: Sequence[str], name: str, value: Tensor) -> dict[str, float]:
        """One computed epoch metric -> loggable scalars (a per-dim metric: one per dimension and their mean)."""
        if name not in self.per_dim:
            return {name: float(value)}
        values = value.reshape(-1)
        return {f"{name}_{d}": float(v) for d, v in zip(dim_names, values)} | {f"{name}_mean": float(values.mean())}

    def score_keys(self, columns: Sequence[str]) -> list[str]:
        return expand(self.headline, columns)

    def compare_keys(self, columns: Sequence[str]) -> list[str]:
        return expand(self.compare, columns)

    def definition(self, columns: Sequence[str]) -> str:
        """The task's scores as a protocol states them: over which rows, which classes or dimensions, how."""
        rows = "every labelled frame (or utterance) of the scored recordings, pooled" if self.per_frame else \
            "every labelled sample of the scored recordings, pooled"
        if self.kind == "classes":
            return (f"{len(columns)} classes ({', '.join(columns)}), the argmax of the probabilities, over {rows}: "
                    f"f1_weighted = per-class F1 weighted by each class's number of true rows; accuracy; uar = "
                    f"mean per-class recall (balanced accuracy); f1_macro; map = mean one-vs-rest average precision")
        if self.kind == "labels":
            return f"{len(columns)} labels, each at probability 0.5, over {rows}: f1 per label, f1_mean their mean"
        clipped = f", predictions clipped to [-{self.clip:g}, {self.clip:g}]" if self.clip else ""
        return (f"Lin's concordance correlation (CCC) of each of {', '.join(columns)} over {rows}{clipped}; "
                f"ccc_mean = their mean" + ("; mae, rmse over dimensions" if "mae_mean" in self.headline else ""))

    def merge_tables(self, tables: Sequence[Table]) -> Table:
        return MERGES[self.merge][0](tables)

    @property
    def merge_name(self) -> str:
        return MERGES[self.merge][1]


def expand(templates: Sequence[str], columns: Sequence[str]) -> list[str]:
    """``("ccc_{dim}", "ccc_mean")`` over ``[valence, arousal]`` -> ccc_valence, ccc_arousal, ccc_mean."""
    return [t.format(dim=c) for t in templates for c in (columns if "{dim}" in t else [None])]


CLASS_HEADLINE = ("f1_weighted", "accuracy", "uar", "f1_macro", "map")
CLASS_COMPARE = ("map", "accuracy", "f1_weighted", "uar")
CLASS_METRICS = dict(kind="classes", loss=masked_cross_entropy, metrics=classification_metrics, per_dim=(),
                     scores=class_scores, headline=CLASS_HEADLINE, compare=CLASS_COMPARE, primary="f1_weighted",
                     merge="soft_vote", plot=plot_oof_confusion)
LABEL_METRICS = dict(kind="labels", loss=masked_bce, metrics=multilabel_metrics, per_dim=("f1",),
                     scores=label_scores, headline=("f1_{dim}", "f1_mean"), compare=("f1_mean",), primary="f1_mean",
                     merge="soft_vote")

TASKS: dict[str, Task] = {t.name: t for t in (
    Task("frame_regression", "frame", "values", ccc_loss, ccc_metrics, ("ccc",), ccc_scores,
         headline=("ccc_{dim}", "ccc_mean"), compare=("ccc_{dim}", "ccc_mean"), primary="ccc_mean",
         merge="ccc_centering", plot=plot_traces, clip=1.0),
    Task("regression", "sample", "values", masked_smooth_l1, value_metrics, ("ccc", "mae", "rmse"), value_scores,
         headline=("ccc_{dim}", "ccc_mean", "mae_mean", "rmse_mean"), compare=("ccc_mean",), primary="ccc_mean",
         merge="mean", plot=plot_oof_values),
    Task("classification", "sample", **CLASS_METRICS),
    Task("frame_classification", "frame", **CLASS_METRICS),  # Aff-Wild2 EXPR per frame; MELD per utterance
    Task("multilabel", "sample", **LABEL_METRICS),
    Task("frame_multilabel", "frame", **LABEL_METRICS),  # Aff-Wild2 AU: 12 binary units per frame
)}


def get_task(name: str, who: str = "head") -> Task:
    """The registry entry of ``name``, or a ConfigError naming the choices."""
    if name not in TASKS:
        raise ConfigError(f"{who}: unknown task '{name}'; choose one of {sorted(TASKS)} (mmer/tasks.py)")
    return TASKS[name]
