"""The statistics of :mod:`mmer.evaluation.stats` against direct computations on small arrays: the seed interval
against the t formula, the paired bootstrap interval against the normal closed form of a mean, the permutation
p-value against exhaustive enumeration of sign flips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mmer.evaluation.stats import paired_difference, seed_interval, unit_rows


def mean_score(pred, target):
    return {"mean": float(np.mean(pred[:, 0] - target[:, 0]))}


def test_the_seed_interval_is_the_t_interval():
    got = seed_interval([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(sum((x - 2.5) ** 2 for x in (1, 2, 3, 4)) / 3)
    half = 3.182446305284263 * std / 2  # t(0.975, 3), from a table
    assert got["mean"] == 2.5 and got["std"] == pytest.approx(std) and got["n"] == 4
    assert got["ci"] == pytest.approx([2.5 - half, 2.5 + half])
    one = seed_interval([0.7])
    assert one["mean"] == 0.7 and math.isnan(one["std"]) and all(math.isnan(c) for c in one["ci"])
    with pytest.raises(ValueError):
        seed_interval([])


def test_unit_rows_groups_rows_of_each_unit():
    groups = unit_rows(["b", "a", "b", "c", "a"])
    assert [g.tolist() for g in groups] == [[1, 4], [0, 2], [3]]


def test_the_bootstrap_interval_of_a_mean_difference_matches_its_normal_closed_form():
    rng = np.random.default_rng(1)
    n = 400
    d = rng.normal(0.3, 1.0, n)  # one row per unit: the statistic is the mean of d
    a, b, target = np.zeros((n, 1)), d[:, None], np.zeros((n, 1))
    got = paired_difference(a, b, target, np.arange(n), mean_score, ["mean"], n_resamples=4000, n_permutations=10,
                            seed=0)["mean"]
    sigma = d.std(ddof=0) / math.sqrt(n)  # the plug-in standard error the bootstrap estimates
    expected = (d.mean() - 1.959964 * sigma, d.mean() + 1.959964 * sigma)
    assert got.diff == pytest.approx(d.mean())
    assert got.ci == pytest.approx(expected, abs=0.08 * sigma * 1.96)


def exhaustive_sign_flip_p(per_unit: np.ndarray) -> float:
    """Two-sided p of the paired permutation test of a mean difference, by every sign pattern."""
    observed = abs(per_unit.sum())
    hits = sum(abs(sum(s * x for s, x in zip(signs, per_unit))) >= observed - 1e-12
               for signs in itertools.product((1, -1), repeat=len(per_unit)))
    return hits / 2 ** len(per_unit)


def test_the_permutation_p_value_equals_exhaustive_enumeration_on_a_tiny_case():
    rng = np.random.default_rng(2)
    units = np.repeat(np.arange(8), 3)  # 8 units of 3 rows: rows of a unit are swapped together
    a, b = rng.normal(0, 1, (24, 1)), rng.normal(0.4, 1, (24, 1))
    target = np.zeros((24, 1))
    got = paired_difference(a, b, target, units, mean_score, ["mean"], n_resamples=10, n_permutations=256)["mean"]
    per_unit = np.array([(b[units == u, 0] - a[units == u, 0]).sum() for u in range(8)])
    assert got.p == pytest.approx(exhaustive_sign_flip_p(per_unit)) and got.n_units == 8
    # more units than patterns allowed: random patterns approximate the exact value
    units12 = np.arange(12)
    a12, b12 = rng.normal(0, 1, (12, 1)), rng.normal(0.5, 1, (12, 1))
    exact = exhaustive_sign_flip_p(b12[:, 0] - a12[:, 0])
    sampled = paired_difference(a12, b12, np.zeros((12, 1)), units12, mean_score, ["mean"], n_resamples=10,
                                n_permutations=3000, seed=3)["mean"]
    assert sampled.p == pytest.approx(exact, abs=0.03)


def test_a_system_compared_with_itself_and_the_same_seed_twice():
    rng = np.random.default_rng(4)
    a, target = rng.normal(0, 1, (30, 2)), rng.normal(0, 1, (30, 2))
    same = paired_difference(a, a, target, np.arange(30) // 3, mean_score, ["mean"], n_resamples=200)["mean"]
    assert (same.diff, same.ci, same.p) == (0.0, (0.0, 0.0), 1.0)
    b = a + rng.normal(0, 0.5, (30, 2))
    first = paired_difference(a, b, target, np.arange(30) // 3, mean_score, ["mean"], n_resamples=200, seed=7)
    again = paired_difference(a, b, target, np.arange(30) // 3, mean_score, ["mean"], n_resamples=200, seed=7)
    assert first == again
    with pytest.raises(ValueError, match="rows differ"):
        paired_difference(a, b[:-1], target, np.arange(30), mean_score, ["mean"])


def test_a_set_of_seed_runs_scores_as_the_mean_of_its_runs():
    rng = np.random.default_rng(5)
    target = np.zeros((20, 1))
    a, b = rng.normal(0, 1, (3, 20, 1)), rng.normal(0.3, 1, (3, 20, 1))
    got = paired_difference(a, b, target, np.arange(20), mean_score, ["mean"], n_resamples=50)["mean"]
    assert got.a == pytest.approx(np.mean([mean_score(r, target)["mean"] for r in a]))
    assert got.diff == pytest.approx(b.mean() - a.mean())
    with pytest.raises(ValueError, match="sets of 3 and 2 runs"):
        paired_difference(a, b[:2], target, np.arange(20), mean_score, ["mean"])
