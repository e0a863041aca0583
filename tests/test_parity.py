"""Parity of the two metric implementations: the epoch metrics logged for a fold's validation (torchmetrics, during
training) equal the CV table's numbers for that fold (numpy, from the prediction tables), for every task kind.

One epoch of one fold, so the logged validation is the checkpoint the table predicts from. Frame tasks use one
window per recording (every recording fits in ``data.window``), so validation's tiles and prediction's stitched
windows are the same windows: same rows, and the test compares the definitions.
"""

from __future__ import annotations

import csv

import pytest

from tests.conftest import dataset_overrides

ONE_EPOCH = ["trainer.max_epochs=1", "cv.only_folds=[0]", "callbacks.lr_monitor=null"]
RUNS = {  # kind of task -> (dataset, experiment, overrides)
    "frame values": ("synthetic", "jmt_synthetic",
                     ["++data.min_frames=200", "++data.max_frames=200", "data.window=200", "data.hop=200"]),
    "sample values": ("emer", "emert_va", ["cv.folds=5"]),
    "sample classes": ("biovid", "jmt_biovid_light", ["cv.folds=2"]),
    "frame classes": ("affwild2", "jmt_affwild2_expr", ["data.window=330", "data.hop=330", "cv.folds=2"]),
    "frame labels": ("affwild2", "jmt_affwild2_multitask",
                     ["data.window=330", "data.hop=330", "cv.folds=2", "cv.head=au"]),
}


def logged_validation(run_dir, fold: int) -> dict[str, float]:
    """The epoch metrics a fold logged for its validation split (rows with a step; the summary rows have none)."""
    with open(run_dir / "metrics.csv") as fh:
        return {r["key"].removeprefix(f"fold{fold}/"): float(r["value"]) for r in csv.DictReader(fh)
                if r["key"].startswith(f"fold{fold}/val/") and r["step"] != ""}


@pytest.mark.parametrize("kind", list(RUNS))
def test_epoch_metrics_parity_with_the_cv_table(kind, tmp_path_factory, tmp_path):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    dataset, experiment, extra = RUNS[kind]
    cfg = compose([f"experiment={experiment}", *dataset_overrides(dataset, tmp_path_factory), *extra, *ONE_EPOCH,
                   f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    ev = result.evaluator
    prefix = cfg.model.heads[ev.head].get("metric_prefix") or ""
    logged = logged_validation(result.run_dir, 0)
    compared = 0
    for key in ev.score_keys:
        if key in ("map",) or key.startswith("ap_"):  # average precision is a table-only score (no epoch metric)
            continue
        assert f"val/{prefix}{key}" in logged, (key, sorted(logged))
        assert logged[f"val/{prefix}{key}"] == pytest.approx(result.summary[f"fold0/val/{key}"], abs=2e-5), key
        compared += 1
    assert compared >= 2
