import warnings

import numpy as np
import pytest
import torch

from mmer.evaluation.losses import ccc_loss
from mmer.evaluation.metrics import CCCUndefinedWarning, ConcordanceCC, ccc, classification_metrics


def ccc_reference(x, y):
    """Float64 numpy transcription of METRICS.md (population moments)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


@pytest.mark.parametrize("n", [2, 17, 1000])
def test_ccc_matches_float64_reference(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n)
    y = 0.5 * x + rng.standard_normal(n) + 0.3
    assert ccc(x, y) == pytest.approx(ccc_reference(x, y), abs=1e-12)
    # float32 tensors are accumulated in float64: same value to float32 input precision
    got = ccc(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float64
    assert float(got) == pytest.approx(ccc_reference(x.astype(np.float32), y.astype(np.float32)), abs=1e-9)


def test_identical_series_give_exactly_one():
    x = np.random.default_rng(0).uniform(-1, 1, 777)
    assert ccc(x, x) == 1.0


def test_population_convention_is_pinned():
    # The leader-follower reference (biased cov, unbiased vars) would give (n-1)/n here; we give 1.
    x = np.arange(10.0)
    n = len(x)
    lfan = 2 * np.mean((x - x.mean()) ** 2) / (2 * x.var(ddof=1))
    assert lfan == pytest.approx((n - 1) / n)
    assert ccc(x, x) == 1.0
    # and our value differs from torchmetrics' all-(n-1) convention when the means differ
    from torchmetrics.functional.regression import concordance_corrcoef

    y = x[::-1] * 0.5 + 2
    tm = float(concordance_corrcoef(torch.tensor(x), torch.tensor(y)))
    assert ccc(x, y) == pytest.approx(ccc_reference(x, y), abs=1e-12)
    assert abs(tm - ccc(x, y)) > 1e-4


def test_nan_exactly_when_denominator_is_zero():
    with pytest.warns(CCCUndefinedWarning):
        assert np.isnan(ccc(np.full(5, 0.3), np.full(5, 0.3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ccc(np.full(5, 0.3), np.full(5, -0.2)) == 0.0  # two different constants
        assert ccc(np.full(5, 0.3), np.arange(5.0)) == 0.0  # one constant series


def test_ccc_rejects_bad_shapes():
    with pytest.raises(ValueError, match="same length"):
        ccc(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="empty"):
        ccc(np.zeros(0), np.zeros(0))


def test_epoch_metric_is_not_a_batch_average():
    rng = np.random.default_rng(1)
    p, t = rng.standard_normal((90, 2)), rng.standard_normal((90, 2))
    p[:30] += 3  # batches with different offsets: batch-averaged CCC would differ from the whole-set CCC
    metric = ConcordanceCC(2)
    for i in range(0, 90, 30):
        metric.update(torch.tensor(p[i:i + 30]), torch.tensor(t[i:i + 30]))
    got = metric.compute().numpy()
    expected = [ccc_reference(p[:, d], t[:, d]) for d in range(2)]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    batch_avg = np.mean([ccc_reference(p[i:i + 30, 0], t[i:i + 30, 0]) for i in range(0, 90, 30)])
    assert abs(batch_avg - expected[0]) > 1e-3


def test_ccc_loss_ignores_masked_frames_and_matches_metric():
    rng = np.random.default_rng(2)
    preds, target = torch.tensor(rng.standard_normal((2, 50, 2))), torch.tensor(rng.standard_normal((2, 50, 2)))
    mask = torch.ones(2, 50, dtype=torch.bool)
    mask[1, 30:] = False
    garbage = target.clone()
    garbage[1, 30:] = -5.0  # unlabelled frames (Aff-Wild2's -5) must not matter
    loss = ccc_loss(preds, garbage, mask, eps=0.0)
    p, t = preds[mask].numpy(), target[mask].numpy()
    expected = sum(1 - ccc_reference(p[:, d], t[:, d]) for d in range(2))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_weighted_f1_accuracy_uar_against_manual_counts():
    target = torch.tensor([0, 0, 0, 1, 1, 2])
    preds = torch.tensor([0, 0, 1, 1, 2, 2])
    probs = torch.nn.functional.one_hot(preds, 3).float()
    m = {k: float(v(probs, target)) for k, v in classification_metrics(3).items()}
    f1 = [2 * 2 / (2 * 2 + 1 + 0), 2 * 1 / (2 * 1 + 1 + 1), 2 * 1 / (2 * 1 + 1 + 0)]  # per-class 2TP/(2TP+FP+FN)
    assert m["f1_weighted"] == pytest.approx((3 * f1[0] + 2 * f1[1] + 1 * f1[2]) / 6, abs=1e-6)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["uar"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


@pytest.mark.parametrize("seed", range(4))
def test_cv_classification_scores_match_the_epoch_metrics(seed):
    """The CV table (numpy) and the epoch logs (torchmetrics) must agree, including absent and unpredicted classes."""
    from mmer.evaluation.metrics import classification_metrics, classification_scores

    rng = np.random.default_rng(seed)
    true = rng.integers(0, 4, 50)  # class 4 of 5 never occurs
    pred = np.where(rng.random(50) < 0.6, true, rng.integers(0, 5, 50))
    ours = classification_scores(pred, true, 5)
    for name, metric in classification_metrics(5).items():
        expected = float(metric(torch.from_numpy(pred), torch.from_numpy(true)))
        assert ours[name] == pytest.approx(expected, abs=1e-6), name


def test_sample_merge_is_the_mean_of_fold_probabilities():
    from mmer.evaluation.evaluator import Evaluator
    from mmer.evaluation.tasks import TASKS

    ev = Evaluator(TASKS["classification"], "pain", "pain", ["a", "b"])
    merged = ev.merge([{"s1": np.array([[0.9, 0.1]])}, {"s1": np.array([[0.3, 0.7]])}])
    assert np.allclose(merged["s1"], [[0.6, 0.4]])


def test_au_table_scores_match_the_epoch_metric():
    from mmer.evaluation.evaluator import Evaluator
    from mmer.evaluation.metrics import multilabel_metrics
    from mmer.evaluation.tasks import TASKS

    rng = np.random.default_rng(0)
    probs, true = rng.random((200, 4)), (rng.random((200, 4)) < 0.3).astype(float)
    true[:, 3] = 0  # a unit that never occurs
    mask = rng.random(200) < 0.9
    ev = Evaluator(TASKS["frame_multilabel"], "au", "au", ["AU1", "AU2", "AU4", "AU6"])
    ours = ev.score({"v": probs}, {"v": true}, {"v": mask})
    expected = multilabel_metrics(4)["f1"](torch.from_numpy(probs[mask]), torch.from_numpy(true[mask]).long())
    assert [ours[f"f1_{c}"] for c in ev.columns] == pytest.approx(expected.tolist(), abs=1e-6)
    assert ours["f1_mean"] == pytest.approx(float(expected.mean()), abs=1e-6)


def test_per_class_f1_is_reported_by_name():
    from mmer.evaluation.metrics import classification_scores

    rng = np.random.default_rng(0)
    true = rng.integers(0, 3, 40)
    pred = np.where(rng.random(40) < 0.5, true, rng.integers(0, 3, 40))
    ours = classification_scores(pred, true, 3, names=["neutral", "joy", "anger"])
    expected = []
    for c in range(3):
        tp = np.sum((pred == c) & (true == c))
        expected.append(2 * tp / (np.sum(pred == c) + np.sum(true == c)))
    assert [ours[f"f1_{n}"] for n in ("neutral", "joy", "anger")] == pytest.approx(list(expected))
