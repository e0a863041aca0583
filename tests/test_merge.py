import warnings

import numpy as np
import pytest

from mmer.data.windows import stitch_windows, window_starts
from mmer.evaluation.merge import ccc_centering
from mmer.evaluation.metrics import ccc


@pytest.mark.parametrize("length,expected", [(250, [0]), (300, [0]), (301, [0, 1]), (700, [0, 200, 400]),
                                             (777, [0, 200, 400, 477])])
def test_window_starts(length, expected):
    assert window_starts(length, 300, 200) == expected


@pytest.mark.parametrize("length", [250, 300, 301, 700, 777])
def test_stitch_gives_one_value_per_frame_as_uniform_mean(length):
    starts = window_starts(length)
    rng = np.random.default_rng(length)
    outputs = rng.standard_normal((len(starts), 300, 2))
    got = stitch_windows(outputs, starts, length)
    assert got.shape == (length, 2)
    for frame in (0, length // 2, length - 1):
        covering = [o[frame - s] for o, s in zip(outputs, starts) if s <= frame < s + 300]
        np.testing.assert_allclose(got[frame], np.mean(covering, axis=0))


def test_stitch_rejects_uncovered_frames():
    with pytest.raises(ValueError, match="covered by no window"):
        stitch_windows(np.zeros((1, 10, 1)), [0], 20)


def reference_centering(preds):
    """Direct transcription of METRICS.md steps 1-6 (no robustness rule)."""
    f_count = len(preds)
    c = {(i, j): ccc(preds[i], preds[j]) for i in range(f_count) for j in range(i + 1, f_count)}
    a = [np.mean([v for (i, j), v in c.items() if f in (i, j)]) for f in range(f_count)]
    m = [p.mean() for p in preds]
    w = sum(af * mf for af, mf in zip(a, m)) / sum(a)
    centered = [p - mf + w for p, mf in zip(preds, m)]
    return np.clip(np.mean(centered, axis=0), -1, 1)


def correlated_folds(n_folds=4, length=200, seed=0):
    rng = np.random.default_rng(seed)
    base = np.sin(np.linspace(0, 6, length)) * 0.6
    return np.stack([base + 0.2 * rng.standard_normal(length) + rng.uniform(-0.2, 0.2) for _ in range(n_folds)])


def test_ccc_centering_equals_reference_when_agreements_positive():
    preds = correlated_folds()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no clamping warning on the normal path
        got = ccc_centering(preds)
    np.testing.assert_allclose(got, reference_centering(preds), atol=1e-6)
    # the merge is the plain fold mean shifted by one constant
    shift = got - preds.mean(0)
    assert np.ptp(shift[np.abs(got) < 1]) < 1e-9


def test_ccc_centering_multi_dim_is_per_dimension():
    a, b = correlated_folds(seed=1), correlated_folds(seed=2)
    got = ccc_centering(np.stack([a, b], axis=2))
    np.testing.assert_allclose(got[:, 0], reference_centering(a), atol=1e-6)
    np.testing.assert_allclose(got[:, 1], reference_centering(b), atol=1e-6)


def test_single_fold_is_clipped_copy():
    p = np.array([[-2.0, 0.5, 3.0]])
    np.testing.assert_array_equal(ccc_centering(p), [-1.0, 0.5, 1.0])


def test_constant_fold_gets_zero_weight_without_nan():
    preds = correlated_folds(n_folds=3)
    preds[2] = 0.9  # a constant fold: its agreements are 0, so it carries no weight in the level
    with pytest.warns(UserWarning, match="clamped"):
        got = ccc_centering(preds)
    assert np.isfinite(got).all()
    agree = [np.mean([ccc(preds[0], preds[1]), 0.0]), np.mean([ccc(preds[0], preds[1]), 0.0]), 0.0]
    level = (agree[0] * preds[0].mean() + agree[1] * preds[1].mean()) / (agree[0] + agree[1])
    expected = np.clip(np.mean([p - p.mean() + level for p in preds], axis=0), -1, 1)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_anti_correlated_fold_is_clamped_and_bounded():
    preds = correlated_folds(n_folds=3)
    preds[2] = -preds[0] + 0.5  # drives the reference's sum of agreements towards 0 / negative
    with pytest.warns(UserWarning, match="clamped"):
        got = ccc_centering(preds)
    assert np.isfinite(got).all() and np.abs(got).max() <= 1
    c01, c02, c12 = ccc(preds[0], preds[1]), ccc(preds[0], preds[2]), ccc(preds[1], preds[2])
    a = np.maximum([(c01 + c02) / 2, (c01 + c12) / 2, (c02 + c12) / 2], 0)
    means = preds.mean(1)
    level = (a * means).sum() / a.sum() if a.sum() > 0 else means.mean()
    np.testing.assert_allclose(got, np.clip((preds - means[:, None] + level).mean(0), -1, 1), atol=1e-9)


def test_no_positive_agreement_falls_back_to_mean_of_means():
    x = np.linspace(-0.5, 0.5, 50)
    preds = np.stack([x + 0.1, -x - 0.1])  # c01 = -1: nothing positive left
    with pytest.warns(UserWarning, match="clamped"):
        got = ccc_centering(preds)
    np.testing.assert_allclose(got, np.clip((preds - preds.mean(1, keepdims=True)).mean(0) + preds.mean(), -1, 1))
