"""``mmer baseline [key=value ...]``: the simple reference of a sample-level classification experiment, on exactly
its windows and folds: five statistics of every input signal per window, standardised, and a logistic regression
trained on each fold's training split and scored on its own validation split; the out-of-fold predictions are
pooled and scored with mmer's own definitions (``mmer.evaluation.metrics.classification_scores``), so the table
stands beside the CV job's ``pooled out-of-fold`` row.

The statistics of a signal (a channel; a multi-channel signal such as ACC by its magnitude, the Euclidean norm
over channels) over its present steps: mean, standard deviation, minimum, maximum and the slope of a least-squares
line per step. Absent steps are left out; a signal absent from a window gives zeros.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from mmer.config.build import prepare_datamodule
from mmer.config.composer import compose
from mmer.core.errors import ConfigError
from mmer.data.base import FoldedDataModule
from mmer.data.records import Item
from mmer.evaluation.metrics import classification_scores
from mmer.evaluation.report import print_table


def statistics(x: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """(steps, C) or (steps,) signal -> [mean, std, min, max, slope] of its present steps (magnitude if C > 1)."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    x = np.linalg.norm(x, axis=1) if x.shape[1] > 1 else x[:, 0]
    if mask is not None:
        x = x[np.asarray(mask, bool)]
    if len(x) < 2:
        return np.zeros(5)
    t = np.arange(len(x)) - (len(x) - 1) / 2
    return np.array([x.mean(), x.std(), x.min(), x.max(), float((t * (x - x.mean())).sum() / (t * t).sum())])


def features(item: Item, modalities: Sequence[str]) -> np.ndarray:
    return np.concatenate([statistics(item.inputs[m], item.input_masks.get(m)) for m in modalities])


def run_baseline(overrides: Sequence[str] = ()) -> dict[str, float]:
    """Pooled out-of-fold scores of the statistics + logistic regression reference over the experiment's folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cfg = compose(overrides)
    dm: FoldedDataModule = prepare_datamodule(cfg)
    spec = dm.target_spec()
    if len(spec) != 1:
        raise ConfigError(f"mmer baseline needs a data module with one classification target, not {sorted(spec)}")
    [(target, names)] = spec.items()
    modalities = list(cfg.model.modalities)
    pred, true = [], []
    for k in range(dm.num_folds):
        dm.set_fold(k)
        rows = {split: [dm.load(r) for r in dm.split(split)] for split in ("train", "val")}
        x = {s: np.stack([features(i, modalities) for i in items]) for s, items in rows.items()}
        y = {s: np.array([int(i.targets[target]) for i in items]) for s, items in rows.items()}
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x["train"], y["train"])
        pred.append(model.predict(x["val"]))
        true.append(y["val"])
    return classification_scores(np.concatenate(pred), np.concatenate(true), len(names))


def run(args: argparse.Namespace) -> int:
    scores = run_baseline(args.overrides)
    keys = ["f1_weighted", "accuracy", "uar", "f1_macro"]
    print_table("statistics + logistic regression, pooled out-of-fold", [("reference", [scores[k] for k in keys])],
                keys)
    print(json.dumps({k: round(scores[k], 4) for k in keys}))
    return 0
