"""How the CV runner turns one head's predictions into tables, scores and a merge across folds.

Picked by the head's task (:func:`evaluator_for`):

- :class:`FrameEvaluator` (``frame_regression``): windows stitched back to one row per frame, CCC per dimension
  over all labelled frames, folds merged by CCC centering (``../shared/METRICS.md``);
- :class:`ClassEvaluator` (``classification``: one row of class probabilities per sample, frame 0;
  ``frame_classification``: one per frame): accuracy, weighted F1, macro F1 and UAR over all labelled rows, folds
  merged by averaging their probabilities (soft voting);
- :class:`MultiLabelEvaluator` (``frame_multilabel``, action units): F1 per label at 0.5 and their mean;
- :class:`ValueEvaluator` (``regression``: values per sample, EMER's valence/arousal and intensity): MAE, RMSE and
  CCC per dimension and their means over all labelled samples, folds merged by averaging their predictions.

A table maps recording id -> (rows, columns) array; :mod:`mmer.predictions` writes and reads it as CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmer.errors import ConfigError
from mmer.metrics import class_average_precision
from mmer.predictions import Table, merge_tables, score_table, stitch_predict_outputs

MERGEABLE_TASKS = ("frame_regression", "classification", "frame_classification", "frame_multilabel", "regression")


@dataclass
class FrameEvaluator:
    """Per-frame regression (valence/arousal): one row per frame, CCC per dimension, CCC-centering merge."""

    head: str
    target: str
    columns: list[str]  # target dimension names
    merge_name = "CCC-centering merge"

    @property
    def score_keys(self) -> list[str]:
        return [f"ccc_{d}" for d in self.columns] + ["ccc_mean"]

    def table(self, outputs: Sequence[dict], dm: Any, recordings: Sequence[Any]) -> Table:
        return stitch_predict_outputs(outputs, self.head, {r.id: r.num_frames for r in recordings})

    def targets(self, dm: Any, recordings: Sequence[Any]) -> tuple[Table, Table]:
        targets, masks = {}, {}
        for rec in recordings:
            t, m = dm.targets_of(rec)
            targets[rec.id], masks[rec.id] = t[self.target].astype(np.float64), m[self.target].astype(bool)
        return targets, masks

    def score(self, preds: Table, targets: Table, masks: Table) -> dict[str, float]:
        return score_table(preds, targets, masks, self.columns)

    def merge(self, tables: Sequence[Table]) -> Table:
        return merge_tables(tables)


@dataclass
class ClassEvaluator:
    """Class probabilities: one row per sample (``frame=False``, frame 0) or per frame (stitched windows)."""

    head: str
    target: str
    columns: list[str]  # class (or label) names; a table row holds their probabilities
    frame: bool = False
    merge_name = "mean of fold probabilities"
    score_keys = ["f1_weighted", "accuracy", "uar", "f1_macro", "map"]

    def table(self, outputs: Sequence[dict], dm: Any, recordings: Sequence[Any]) -> Table:
        if self.frame:
            return stitch_predict_outputs(outputs, self.head, {r.id: r.num_frames for r in recordings})
        table = {}
        for out in outputs:
            for rec_id, probs in zip(out["meta"]["video"], out["outputs"][self.head].numpy()):
                table[rec_id] = probs.astype(np.float64)[None]
        return table

    def targets(self, dm: Any, recordings: Sequence[Any]) -> tuple[Table, Table]:
        """Per recording: targets (rows, 1) class index or (rows, K) labels, and masks (rows,)."""
        targets, masks = {}, {}
        for rec in recordings:
            t, m = dm.targets_of(rec)
            rows = rec.num_frames if self.frame else 1
            targets[rec.id] = np.asarray(t[self.target], np.float64).reshape(rows, -1)
            masks[rec.id] = np.asarray(m[self.target], bool).reshape(rows)
        return targets, masks

    def labelled_rows(self, preds: Table, targets: Table, masks: Table) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (N, C), targets (N, 1) or (N, K)) of every labelled row of every recording."""
        ids = sorted(preds)
        p = np.concatenate([preds[r][masks[r]] for r in ids])
        t = np.concatenate([targets[r][masks[r]] for r in ids])
        return p, t

    def score(self, preds: Table, targets: Table, masks: Table) -> dict[str, float]:
        p, t = self.labelled_rows(preds, targets, masks)
        true = t[:, 0].astype(int)
        return (classification_scores(p.argmax(1), true, len(self.columns), names=self.columns)
                | class_average_precision(p, true, self.columns))

    def merge(self, tables: Sequence[Table]) -> Table:
        return {r: np.mean([t[r] for t in tables], axis=0) for r in sorted(tables[0])}


@dataclass
class MultiLabelEvaluator(ClassEvaluator):
    """Independent binary labels (AUs): F1 per label at probability 0.5 and their mean (the ABAW AU headline)."""

    frame: bool = True

    @property
    def score_keys(self) -> list[str]:
        return [f"f1_{c}" for c in self.columns] + ["f1_mean"]

    def score(self, preds: Table, targets: Table, masks: Table) -> dict[str, float]:
        p, t = self.labelled_rows(preds, targets, masks)
        pred, true = p >= 0.5, t >= 0.5
        tp, fp, fn = (pred & true).sum(0), (pred & ~true).sum(0), (~pred & true).sum(0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        scores = {f"f1_{c}": float(v) for c, v in zip(self.columns, f1)}
        scores["f1_mean"] = float(f1.mean())
        return scores


@dataclass
class ValueEvaluator(ClassEvaluator):
    """Values per sample: one row per sample (frame 0); MAE, RMSE, CCC per dimension and their means."""

    merge_name = "mean of fold predictions"

    @property
    def score_keys(self) -> list[str]:
        return [f"ccc_{c}" for c in self.columns] + ["ccc_mean", "mae_mean", "rmse_mean"]

    def score(self, preds: Table, targets: Table, masks: Table) -> dict[str, float]:
        from mmer.metrics import ccc

        p, t = self.labelled_rows(preds, targets, masks)
        err = p - t
        scores = {}
        for i, c in enumerate(self.columns):
            scores[f"mae_{c}"] = float(np.abs(err[:, i]).mean())
            scores[f"rmse_{c}"] = float(np.sqrt((err[:, i] ** 2).mean()))
            scores[f"ccc_{c}"] = ccc(p[:, i], t[:, i])
        for k in ("mae", "rmse", "ccc"):
            scores[f"{k}_mean"] = float(np.mean([scores[f"{k}_{c}"] for c in self.columns]))
        return scores


Evaluator = FrameEvaluator | ClassEvaluator


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


def evaluator_for(cfg: Any, target_spec: dict[str, list[str]]) -> Evaluator:
    """The evaluator of the head the CV runner tables and merges: ``cv.head`` if set, else the only head whose task
    is one of :data:`MERGEABLE_TASKS`."""
    heads = cfg.model.heads
    name = cfg.cv.get("head")
    if name is None:
        candidates = [n for n, h in heads.items() if h.task in MERGEABLE_TASKS]
        if len(candidates) != 1:
            raise ConfigError(f"the CV runner tables one head of task {MERGEABLE_TASKS}; this config has "
                              f"{candidates or 'none'}: set cv.head=<name>")
        name = candidates[0]
    if name not in heads or heads[name].task not in MERGEABLE_TASKS:
        raise ConfigError(f"cv.head={name} must name a head of task {MERGEABLE_TASKS} (heads: {list(heads)})")
    target = heads[name].get("target") or name
    if target not in target_spec:
        raise ConfigError(f"head '{name}' reads target '{target}', which the data module does not provide "
                          f"(it provides {sorted(target_spec)})")
    task, columns = heads[name].task, list(target_spec[target])
    if task == "frame_regression":
        return FrameEvaluator(name, target, columns)
    if task == "frame_multilabel":
        return MultiLabelEvaluator(name, target, columns)
    if task == "regression":
        return ValueEvaluator(name, target, columns)
    return ClassEvaluator(name, target, columns, frame=task == "frame_classification")
