"""Statistics for results a paper can stand on: the spread over seeds, and the paired comparison of two systems scored
on the same items.

**Seeds** (:func:`seed_interval`). Scores x_1..x_n of runs that differ only in the seed: mean, sample standard
deviation (n - 1), and the 95 % t interval ``mean +- t(0.975, n - 1) std / sqrt(n)`` (n = 1: std and interval NaN).

**Paired comparison** (:func:`paired_difference`). Two systems A and B predicted the same rows; rows belong to
independent units (the recording, dialogue or subject: the frames of one video are not independent). For a score S
(any of the task's, computed on a set of rows), the difference is ``d = S(B) - S(A)`` on all rows, and:

- the **paired bootstrap** interval: units are drawn with replacement (as many as there are), each draw keeps all its
  rows for both systems, ``d*`` is computed on the drawn rows; the interval is the 2.5th and 97.5th percentiles of
  ``d*`` over ``n_resamples`` draws;
- the **paired permutation** p-value (two-sided): under the null hypothesis that A and B are exchangeable, each
  unit's A and B predictions are swapped or not; ``p`` is the share of swap patterns whose ``|d|`` reaches the observed
  one. With at most ``n_permutations`` patterns (2^units) every pattern is enumerated (exact ``p``); otherwise random
  patterns give ``p = (1 + hits) / (1 + n_permutations)``.

Both are seeded, so the same inputs give the same interval and p-value. A system compared with itself gives
``d = 0``, the interval [0, 0] and ``p = 1``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: scores of predictions (N, C) against targets (N, ...): {score name: value}
Scorer = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


def seed_interval(values: Sequence[float], level: float = 0.95) -> dict[str, float | list[float]]:
    """{"mean", "std", "ci": [lo, hi], "n"} of one score over seeds (module doc)."""
    from scipy.stats import t

    x = np.asarray(values, np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = float(x.mean())
    if n == 1:
        return {"mean": mean, "std": math.nan, "ci": [math.nan, math.nan], "n": 1}
    std = float(x.std(ddof=1))
    half = float(t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci": [mean - half, mean + half], "n": n}


def unit_rows(units: Sequence) -> list[np.ndarray]:
    """Row indices of each unit, units in sorted order."""
    labels = np.asarray(units)
    order = np.argsort(labels, kind="stable")
    _, starts = np.unique(labels[order], return_index=True)
    return np.split(order, starts[1:])


@dataclass(frozen=True)
class Difference:
    """One score's paired comparison (module doc): ``a``, ``b``, ``diff = b - a``, ``ci``, two-sided ``p``, and the
    number of independent units the resampling used."""

    a: float
    b: float
    diff: float
    ci: tuple[float, float]
    p: float
    n_units: int

    def as_dict(self, unit: str) -> dict:
        return {"a": self.a, "b": self.b, "diff": self.diff, "ci": list(self.ci), "p": self.p, "unit": unit,
                "n_units": self.n_units}


def paired_difference(pred_a: np.ndarray, pred_b: np.ndarray, targets: np.ndarray, units: Sequence,
                      score: Scorer, keys: Sequence[str], n_resamples: int = 2000, n_permutations: int = 5000,
                      seed: int = 0, level: float = 0.95) -> dict[str, Difference]:
    """The paired bootstrap interval and permutation p-value of ``score(B) - score(A)`` for each of ``keys``
    (module doc). ``pred_a``, ``pred_b``: (N, C) predictions of the same N rows, or (S, N, C) for a set of S runs
    (seeds) whose score is the mean of their scores (both sets of one size, so that a unit's predictions can be
    swapped); ``targets``: (N, ...); ``units``: (N,) the independent unit of each row."""
    a, b = _as_set(pred_a), _as_set(pred_b)
    targets = np.asarray(targets).reshape(len(targets), -1)
    if not a.shape[1] == b.shape[1] == len(targets) == len(units):
        raise ValueError(f"rows differ: A {a.shape[1]}, B {b.shape[1]}, targets {len(targets)}, units {len(units)}")
    if len(a) != len(b):
        raise ValueError(f"sets of {len(a)} and {len(b)} runs: compare sets of one size (as many seeds each)")
    groups = unit_rows(units)
    n = len(groups)

    def set_score(runs: np.ndarray, rows: np.ndarray | slice) -> dict[str, float]:
        each = [score(r[rows], targets[rows]) for r in runs]
        return {k: float(np.mean([e[k] for e in each])) for k in keys}

    everything = slice(None)
    sa, sb = set_score(a, everything), set_score(b, everything)
    observed = {k: sb[k] - sa[k] for k in keys}
    rng = np.random.default_rng(seed)

    boots: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(n_resamples):
        rows = np.concatenate([groups[i] for i in rng.integers(0, n, n)])
        ra, rb = set_score(a, rows), set_score(b, rows)
        for k in keys:
            boots[k].append(rb[k] - ra[k])

    exact = n < 63 and 2 ** n <= n_permutations
    patterns = (np.array(p, bool) for p in itertools.product((False, True), repeat=n)) if exact else \
        (rng.random(n) < 0.5 for _ in range(n_permutations))
    row_unit = np.empty(a.shape[1], np.int64)
    for i, g in enumerate(groups):
        row_unit[g] = i
    hits, count = dict.fromkeys(keys, 0), 0
    for swap_units in patterns:
        swap = swap_units[row_unit][None, :, None]
        ra, rb = set_score(np.where(swap, b, a), everything), set_score(np.where(swap, a, b), everything)
        count += 1
        for k in keys:
            hits[k] += abs(rb[k] - ra[k]) >= abs(observed[k]) - 1e-12
    tail = (1 - level) / 2
    out = {}
    for k in keys:
        p = hits[k] / count if exact else (1 + hits[k]) / (1 + count)
        lo, hi = np.quantile(boots[k], [tail, 1 - tail]) if n_resamples else (math.nan, math.nan)
        out[k] = Difference(sa[k], sb[k], observed[k], (float(lo), float(hi)), float(min(p, 1.0)), n)
    return out


def _as_set(pred: np.ndarray) -> np.ndarray:
    """(N,), (N, C) or (S, N, C) predictions -> (S, N, C)."""
    pred = np.asarray(pred)
    if pred.ndim == 3:
        return pred
    return pred.reshape(1, len(pred), -1)
