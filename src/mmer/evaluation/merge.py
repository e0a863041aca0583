"""The CCC-centering merge of fold predictions (docs/reference/definitions.md, "Merging folds"); windows and
stitching are :mod:`mmer.data.windows`.

These functions are public: call them on your own prediction files, or use ``mmer merge`` on per-fold CSVs.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from mmer.evaluation.metrics import ccc

log = logging.getLogger(__name__)


def fold_agreements(preds: np.ndarray) -> np.ndarray:
    """a_f = mean over the F-1 pairs containing fold f of ccc(P[i], P[j]); preds (F, T) -> (F,)."""
    n_folds = preds.shape[0]
    pair = np.full((n_folds, n_folds), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant folds give NaN CCC pairs; handled below as non-finite
        for i in range(n_folds):
            for j in range(i + 1, n_folds):
                pair[i, j] = pair[j, i] = ccc(preds[i], preds[j])
    off_diag = ~np.eye(n_folds, dtype=bool)
    return np.array([pair[f][off_diag[f]].mean() for f in range(n_folds)])


def _center_one(preds: np.ndarray) -> np.ndarray:
    """CCC-centering of one target dimension: preds (F, T) -> (T,)."""
    if preds.shape[0] == 1:
        return np.clip(preds[0], -1.0, 1.0)
    means = preds.mean(axis=1)
    agree = fold_agreements(preds)
    weights = np.where(np.isfinite(agree), np.maximum(agree, 0.0), 0.0)
    if not np.array_equal(weights, agree):
        warnings.warn(f"ccc_centering: fold agreements {np.round(agree, 4).tolist()} clamped to "
                      f"{np.round(weights, 4).tolist()} (non-positive or non-finite)", stacklevel=3)
    if weights.sum() > 0:
        level = float((weights * means).sum() / weights.sum())
    else:
        level = float(means.mean())
    centered = preds - means[:, None] + level
    return np.clip(centered.mean(axis=0), -1.0, 1.0)


def ccc_centering(preds: np.ndarray) -> np.ndarray:
    """Merge F folds' per-frame predictions of one video by CCC centering.

    preds: (F, T) or (F, T, D). For each dimension: c_ij = ccc(P_i, P_j); a_f = mean of c_ij over pairs with f;
    m_f = mean_t P[f, t]; w = sum(a_f m_f) / sum(a_f); M[t] = clip(mean_f (P[f, t] - m_f + w), -1, 1).
    Robustness: a_f := max(a_f, 0) (non-finite -> 0), and w = mean(m_f) when no positive agreement is left;
    a warning is emitted when that happens. Returns (T,) or (T, D).
    """
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim == 2:
        return _center_one(preds)
    if preds.ndim != 3:
        raise ValueError(f"ccc_centering expects (F, T) or (F, T, D), got shape {preds.shape}")
    return np.stack([_center_one(preds[:, :, d]) for d in range(preds.shape[2])], axis=1)
