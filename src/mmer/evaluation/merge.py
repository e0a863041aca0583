"""Windows, stitching and the CCC-centering merge of fold predictions (``../shared/METRICS.md``).

These functions are public: call them on your own prediction files, or use ``mmer merge`` on per-fold CSVs.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from mmer.evaluation.metrics import ccc

log = logging.getLogger(__name__)


def window_starts(length: int, window: int = 300, hop: int = 200, align: int = 1) -> list[int]:
    """Start frames of the windows covering a video of ``length`` frames.

    L > window: 0, hop, 2*hop, ... while start + window < L, then one last window [L - window, L) aligned to the
    end. L <= window: a single window [0, L) (the caller pads it to ``window`` with a mask).
    Examples: L=777 -> [0, 200, 400, 477]; L=700 -> [0, 200, 400]; L=301 -> [0, 1].

    ``align`` > 1 (a grid of sub-clips, e.g. cached backbone tokens of 32 frames) rounds the last start up to a
    multiple of ``align`` (that window then runs past the end and is padded); window and hop must be multiples of it.
    L=777, window=512, hop=256, align=32 -> [0, 256, 288].
    """
    if length < 1 or window < 1 or hop < 1 or align < 1:
        raise ValueError(f"window_starts needs positive length/window/hop/align, got {length}/{window}/{hop}/{align}")
    if window % align or hop % align:
        raise ValueError(f"window={window} and hop={hop} must be multiples of align={align}")
    if length <= window:
        return [0]
    starts = []
    s = 0
    while s + window < length:
        starts.append(s)
        s += hop
    starts.append(-(-(length - window) // align) * align)
    return sorted(set(starts))


def stitch_windows(outputs: np.ndarray, starts: list[int], length: int) -> np.ndarray:
    """Per-frame predictions from overlapping window outputs.

    outputs: (W, window, D) or (W, window); starts: W start frames; returns (length, D) (or (length,)), each frame
    the uniform mean of every window output covering it. Padding beyond ``length`` is dropped.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    squeeze = outputs.ndim == 2
    if squeeze:
        outputs = outputs[..., None]
    if len(starts) != outputs.shape[0]:
        raise ValueError(f"stitch_windows: {outputs.shape[0]} window outputs but {len(starts)} starts")
    total = np.zeros((length, outputs.shape[2]))
    count = np.zeros((length, 1))
    for out, s in zip(outputs, starts):
        n = min(out.shape[0], length - s)
        total[s:s + n] += out[:n]
        count[s:s + n] += 1
    if (count == 0).any():
        missing = int((count == 0).sum())
        raise ValueError(f"stitch_windows: {missing} of {length} frames are covered by no window")
    result = total / count
    return result[:, 0] if squeeze else result


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
