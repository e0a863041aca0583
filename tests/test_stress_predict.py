"""Empatica E4 wrist sessions (issue 30, part 2) on the real Stress-Predict files, read in place: each signal at its
own rate, aligned by time stamps; windows with one label; participant-grouped folds and held-out participants; bad
wearable files named or counted."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmer.core.errors import DataError
from mmer.data_modules.e4_files import SIGNALS, Signal, read_labels, read_signal
from mmer.data_modules.stress_predict import StressPredictDataModule

LABELS = "Processed_data/Improved_All_Combined_hr_rsp_binary.csv"


@pytest.fixture
def release(shared_dir) -> Path:
    return shared_dir / "data" / "stress_predict"


def test_real_sessions_read_at_their_own_rates_and_start_times(release):
    folder = release / "Raw_data" / "S02"
    signals = {s: read_signal(folder / f.file, f.channels) for s, f in SIGNALS.items()}
    assert {s: x.rate for s, x in signals.items()} == {s: f.rate for s, f in SIGNALS.items()}
    assert signals["acc"].values.shape[1] == 3 and signals["bvp"].values.shape[1] == 1
    assert signals["hr"].start == signals["eda"].start + 10  # the E4's HR starts 10 s into the session
    lasting = {s: x.end - x.start for s, x in signals.items()}
    assert max(lasting.values()) - min(lasting.values()) < 15 and lasting["bvp"] > 3000  # about an hour, each


def test_a_window_is_cut_by_time_stamp_not_by_sample_index():
    signal = Signal(Path("x"), start=1000.0, rate=4.0, values=np.arange(40, dtype=np.float32)[:, None])
    values, mask = signal.span(999.0, 3.0)  # one second before the recording starts
    assert values[:, 0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7] and mask.tolist() == [False] * 4 + [True] * 8
    values, mask = signal.span(1008.0, 4.0)  # runs past the end (10 s): masked there
    assert mask.sum() == 8 and values[:8, 0].tolist() == list(range(32, 40))


def test_windows_folds_and_held_out_participants_on_real_sessions(release):
    dm = StressPredictDataModule(root=str(release), participants=[1, 2, 3, 4], test_participants=[4], num_folds=2)
    dm.prepare_data()
    dm.setup("fit")
    groups = {r.group for r in dm.recordings}
    assert groups == {"S02", "S03", "S04"}  # participant 1 has no labels: left out, counted
    report = dm.data_report()
    assert report["participants without labels (left out)"] == 1 and report["windows without one label (left out)"] > 0
    assert {r.group for r in dm.split("test")} == {"S04"}
    assert not {r.group for r in dm.split("train")} & {r.group for r in dm.split("val")}
    labels = read_labels(release / LABELS)[2]
    item = dm.load(next(r for r in dm.recordings if r.group == "S02" and dm.load(r).targets["stress"] == 1))
    assert {m: x.shape for m, x in item.inputs.items()} == {"eda": (240, 1), "bvp": (3840, 1), "temp": (240, 1),
                                                            "acc": (1920, 3), "hr": (60, 1)}
    assert labels[1].sum() > 0 and all(abs(float(x.mean())) < 5 for x in item.inputs.values())  # z-scored


@pytest.fixture
def session(release, tmp_path) -> Path:
    """A copy of participant 2's session and its label rows: a release to damage."""
    root = tmp_path / "sp"
    shutil.copytree(release / "Raw_data" / "S02", root / "Raw_data" / "S02")
    table = pd.read_csv(release / LABELS)
    (root / "Processed_data").mkdir()
    table[table["Participant"] == 2].to_csv(root / LABELS, index=False)
    return root


def dm_of(root: Path, **kw) -> StressPredictDataModule:
    dm = StressPredictDataModule(root=str(root), num_folds=2, **kw)
    dm.index()  # reads every file (what setup does first)
    return dm


def test_a_signal_file_cut_short_or_missing_is_named(session):
    eda = session / "Raw_data" / "S02" / "EDA.csv"
    eda.write_text("\n".join(eda.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(DataError, match=r"EDA.csv: 2 rows; an E4 signal file has the start time"):
        dm_of(session)
    eda.unlink()
    with pytest.raises(DataError, match=r"EDA.csv: the E4 signal file is missing; .* data.signals"):
        dm_of(session)
    assert len(dm_of(session, signals=["bvp", "hr"]).index()) > 50  # without EDA the session still reads


def test_nan_rows_are_named_by_row(session):
    bvp = session / "Raw_data" / "S02" / "BVP.csv"
    lines = bvp.read_text().splitlines()
    lines[100] = "nan"
    bvp.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"BVP.csv row 101: a NaN or infinite sample"):
        dm_of(session)


def test_labels_outside_the_recording_and_a_gap_in_the_labels(session):
    table = pd.read_csv(session / LABELS)
    gap = table.drop(table.index[600:690])  # 90 unlabelled seconds inside the session
    gap.to_csv(session / LABELS, index=False)
    before = dm_of(session).data_report()["windows without one label (left out)"]
    table.to_csv(session / LABELS, index=False)
    assert before > dm_of(session).data_report().get("windows without one label (left out)", 0)
    table["Time(sec)"] += 10**6  # a clock twelve days off: no labelled second lies in the recording
    table.to_csv(session / LABELS, index=False)
    with pytest.raises(DataError, match=r"S02: the labels .* lie outside the recording"):
        dm_of(session)


def test_a_label_table_with_times_out_of_order_is_refused(session):
    table = pd.read_csv(session / LABELS)
    table.loc[[5, 6], "Time(sec)"] = table.loc[[6, 5], "Time(sec)"].to_numpy()
    table.to_csv(session / LABELS, index=False)
    with pytest.raises(DataError, match=r"row 8: participant 2's time .* does not follow the row before it"):
        read_labels(session / LABELS)


def test_the_reference_statistics():
    from mmer.commands.baseline import statistics

    x = np.array([1.0, 2.0, 3.0, 10.0])
    assert np.allclose(statistics(x, np.array([True, True, True, False])), [2.0, np.std([1, 2, 3]), 1, 3, 1.0])
    acc = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 5.0]])  # a multi-channel signal by its magnitude
    assert np.allclose(statistics(acc, None)[:4], [5, 0, 5, 5])
    assert not statistics(x, np.zeros(4, bool)).any()


def test_the_reference_runs_on_the_experiments_own_windows_and_folds(release):
    from mmer.commands.baseline import run_baseline

    scores = run_baseline(["experiment=jmt_stress_predict", f"data.root={release}", "data.participants=[2,3,4,5,6,7]",
                           "cv.folds=2"])
    assert 0.5 < scores["f1_weighted"] <= 1 and 0 < scores["uar"] <= 1
