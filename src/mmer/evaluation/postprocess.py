"""What happens to one fold's predicted values between the model and the merge (``cv.clip_folds``, ``cv.smooth``).

The model's raw outputs of a values task (``Task.activate``) become a fold's prediction table here, the same way
for every fold, before the fold is scored and before the folds are merged::
    fold table  = smooth(stitch(clip(raw windows)))   clip_folds=true  (mmer's default, and JMT's reference)
                = smooth(stitch(raw windows))         clip_folds=false (the leader-follower reference: folds
                                                      merged unclipped)
    fold scores = scored on clip(fold table)
    merged      = clip(merge(fold tables))   (the CCC-centering merge clips its output; see :mod:`mmer.evaluation.merge`)

``smooth`` is a per-dimension moving average over a recording's frames (``{valence: 20, arousal: 50}``, the JMT
reference's evaluation smoothing, ``scipy.ndimage.uniform_filter1d(x, w, mode="constant")``)::

    y[t] = (1 / w) sum_{j = t - w // 2}^{t - w // 2 + w - 1} x[j]      with x[j] = 0 outside 0 .. T - 1

Classes, labels and tasks without a clip pass through unchanged (smoothing applies to frame values only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mmer.core.errors import ConfigError
from mmer.evaluation.tables import Table


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``x`` (T,) over ``width`` frames, zeros beyond both ends (see the module doc)."""
    if width <= 1:
        return np.asarray(x, np.float64)
    padded = np.concatenate([np.zeros(width // 2), np.asarray(x, np.float64), np.zeros(width - 1 - width // 2)])
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    return (sums[width:] - sums[:-width]) / width


@dataclass(frozen=True)
class Postprocess:
    """clip: the task's clip (None: never clipped); clip_folds: clip each fold's table before the merge; smooth:
    {dimension name: moving-average width in frames}, applied to frame values after the fold's clip."""

    clip: float | None = None
    clip_folds: bool = True
    smooth: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def for_task(cls, task, columns: Sequence[str], clip_folds: bool = True,
                 smooth: Mapping[str, int] | None = None) -> Postprocess:
        """The post-processing of one task's tables (``cv.clip_folds`` / ``cv.smooth``), checked against it."""
        smooth = dict(smooth or {})
        if smooth and not (task.per_frame and task.kind == "values"):
            raise ConfigError(f"cv.smooth={smooth}: smoothing applies to per-frame values, not to task '{task.name}'")
        unknown = sorted(set(smooth) - set(columns))
        if unknown:
            raise ConfigError(f"cv.smooth names {unknown}, not dimensions of the tabled head ({list(columns)})")
        if any(int(w) < 1 for w in smooth.values()):
            raise ConfigError(f"cv.smooth={smooth}: widths are frame counts >= 1")
        return cls(task.clip if task.kind == "values" else None, bool(clip_folds), {k: int(w) for k, w in smooth.items()})

    def clipped(self, table: Table) -> Table:
        """The table clipped to [-clip, clip] (unchanged without a clip)."""
        if self.clip is None:
            return table
        return {r: np.clip(a, -self.clip, self.clip) for r, a in table.items()}

    def window(self, values: np.ndarray) -> np.ndarray:
        """One predicted window (or sample) as it enters the fold's table: clipped when ``clip_folds``."""
        if self.clip is None or not self.clip_folds:
            return values
        return np.clip(values, -self.clip, self.clip)

    def fold(self, table: Table, columns: Sequence[str]) -> Table:
        """A fold's stitched predictions (rows, C) per recording (windows already through :meth:`window`) -> the
        table that is scored, written and merged: smoothed where ``smooth`` says."""
        out = table
        if not self.smooth:
            return out
        index = {c: i for i, c in enumerate(columns)}
        smoothed = {}
        for rec, values in out.items():
            values = np.array(values, np.float64)
            for dim, width in self.smooth.items():
                values[:, index[dim]] = moving_average(values[:, index[dim]], width)
            smoothed[rec] = values
        return smoothed
