"""Datasets checked against themselves (issue 28, class 3) and numerically absurd input named by file (class 8):
each case is a clear error naming the file, or under data.on_bad_input=skip a counted skip, and every data module
counts masked and unusable input the same way (RunReportHooks.data_report)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmer.core.errors import DataError
from mmer.data.hooks import input_counts
from mmer.data.records import Item, check_values
from mmer.data_modules.affwild2 import AffWild2DataModule
from mmer.data_modules.biovid import BioVidDataModule
from mmer.data_modules.biovid_files import read_bio_csv, read_samples_csv
from mmer.data_modules.emer_files import read_eye_table
from mmer.data_modules.iemocap import read_evaluation, read_transcription
from mmer.data_modules.meld import MeldDataModule
from mmer.data_modules.ravdess import RavdessDataModule
from mmer.data_modules.synthetic import SyntheticAVDataModule
from tests.conftest import fixture_root


def copy_of(dataset: str, tmp_path_factory, tmp_path: Path) -> Path:
    root = tmp_path / dataset
    shutil.copytree(fixture_root(dataset, tmp_path_factory), root, ignore=shutil.ignore_patterns(".mmer_cache"))
    return root


@pytest.fixture
def biovid(tmp_path_factory, tmp_path) -> Path:
    return copy_of("biovid", tmp_path_factory, tmp_path)


def biovid_dm(root: Path, tmp_path: Path, **kw) -> BioVidDataModule:
    return BioVidDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), **kw)


def test_a_class_id_contradicting_its_class_name_is_refused(biovid):
    table = biovid / "samples.csv"
    lines = table.read_text().splitlines()
    fields = lines[3].split("\t")
    fields[2] = "4" if fields[3] != "PA4" else "0"
    table.write_text("\n".join([*lines[:3], "\t".join(fields), *lines[4:]]) + "\n")
    with pytest.raises(DataError, match=rf"samples.csv, line 4: class_id {fields[2]} contradicts class_name"):
        read_samples_csv(table)


def test_a_time_column_that_goes_back_is_refused_naming_the_line(biovid):
    path = next((biovid / "biosignals_filtered").rglob("*_bio.csv"))
    lines = path.read_text().splitlines()
    lines[10], lines[11] = lines[11], lines[10]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}, line 12: the time column is not increasing"):
        read_bio_csv(path, ["gsr"])


def test_an_absurd_signal_value_is_named_by_file_and_line(biovid):
    path = next((biovid / "biosignals_filtered").rglob("*_bio.csv"))
    lines = path.read_text().splitlines()
    fields = lines[5].split("\t")
    fields[1] = "1e30"
    lines[5] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}, line 6: column 'gsr' has the value '1e30'"):
        read_bio_csv(path, ["gsr"])


def test_a_trial_far_shorter_than_a_trial_stops_or_is_skipped_and_counted(biovid, tmp_path):
    path = sorted((biovid / "biosignals_filtered").rglob("*_bio.csv"))[0]
    path.write_text("\n".join(path.read_text().splitlines()[:2]) + "\n")  # a header and one row
    with pytest.raises(DataError, match=rf"{path.name}: 1 rows, where a BioVid trial has 2816 \(data.bio_length\)"):
        biovid_dm(biovid, tmp_path, modalities=("gsr",)).prepare_data()
    dm = biovid_dm(biovid, tmp_path, modalities=("gsr",), on_bad_input="skip")
    dm.prepare_data()
    assert dm.data_report()["recordings skipped as bad input"] == 1


def test_a_three_frame_trial_video_is_bad_input(biovid, tmp_path):
    from data_modules.fixtures.datasets import write_video

    video = sorted((biovid / "video").rglob("*.mp4"))[0]
    write_video(video, np.full((3, 48, 64, 3), 90, np.uint8), None, fps=25)
    with pytest.raises(DataError, match=rf"{video.name}: 3 frames, where a BioVid trial has 138"):
        biovid_dm(biovid, tmp_path, modalities=("visual",)).prepare_data()


@pytest.fixture
def eye_table(tmp_path_factory, tmp_path) -> tuple[Path, dict[str, str]]:
    from mmer.config.composer import compose

    root = copy_of("emer", tmp_path_factory, tmp_path)
    columns = dict(compose(["experiment=emert_emer"]).data.eye_columns)
    return next((root / "eye").iterdir()), columns


def test_an_impossible_pupil_diameter_is_refused(eye_table):
    path, columns = eye_table
    table = pd.read_csv(path, sep="\t", dtype=object)
    table.loc[4, columns["pupil_left"]] = "1e30"
    table.to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match=rf"{path.name} row 6, column '{columns['pupil_left']}': 1e\+30 is not a "
                                        r"pupil diameter in millimetres"):
        read_eye_table(path, columns)


def test_eye_rows_out_of_time_order_are_refused(eye_table):
    path, columns = eye_table
    table = pd.read_csv(path, sep="\t", dtype=object)
    t = table[columns["timestamp"]].copy()
    table.loc[7, columns["timestamp"]], table.loc[8, columns["timestamp"]] = t[8], t[7]
    table.to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match=rf"{path.name} row 10, .* is earlier than row 9's"):
        read_eye_table(path, columns)


@pytest.fixture
def ravdess(tmp_path_factory, tmp_path) -> Path:
    return copy_of("ravdess", tmp_path_factory, tmp_path)


def test_one_take_in_two_suffix_cases_is_refused(ravdess, tmp_path):
    wav = sorted((ravdess / "Actor_03").glob("*.wav"))[0]
    shutil.copy(wav, wav.with_suffix(".WAV"))
    with pytest.raises(DataError, match=rf"{wav.stem}.(WAV|wav) and {wav.stem}.(wav|WAV) are one file name in two cases"):
        RavdessDataModule(root=str(ravdess), cache_dir=str(tmp_path / "cache"), num_folds=3).prepare_data()


def test_one_clip_many_times_longer_than_the_rest_stops_or_is_skipped(ravdess, tmp_path):
    import soundfile

    wav = sorted((ravdess / "Actor_02").glob("*.wav"))[0]
    wave, rate = soundfile.read(wav)
    soundfile.write(wav, np.tile(wave, 12), rate)
    with pytest.raises(DataError, match=rf"{wav.name}: .* times the median clip .* padded to the longest"):
        RavdessDataModule(root=str(ravdess), cache_dir=str(tmp_path / "cache"), num_folds=3).prepare_data()
    dm = RavdessDataModule(root=str(ravdess), cache_dir=str(tmp_path / "cache"), num_folds=3, on_bad_input="skip")
    dm.prepare_data()
    assert f"Actor_02/{wav.stem}" in dm.skipped and dm.data_report()["recordings skipped as bad input"] == 1


def test_a_dev_split_that_repeats_the_training_split_is_refused(tmp_path_factory, tmp_path):
    root = copy_of("meld", tmp_path_factory, tmp_path)
    shutil.copy(root / "train_sent_emo.csv", root / "dev_sent_emo.csv")
    with pytest.raises(DataError, match=r"meld: dialogue dev/dia\d+ is training dialogue train/dia\d+ again \(6 of 9 validation"):
        MeldDataModule(root=str(root)).setup("fit")


def test_a_video_without_face_crops_stops_or_is_skipped(tmp_path_factory, tmp_path):
    root = copy_of("affwild2", tmp_path_factory, tmp_path)
    crops = sorted((root / "cropped_aligned").iterdir())[0]
    for jpg in crops.glob("*.jpg"):
        jpg.unlink()
    args = dict(root=str(root), cache_dir=str(tmp_path / "cache"), num_folds=2, window=100, hop=60)
    with pytest.raises(DataError, match=rf"video '{crops.name}' has no face crops \(.*{crops.name} is missing or empty"):
        AffWild2DataModule(**args).prepare_data()
    dm = AffWild2DataModule(**args, on_bad_input="skip")
    dm.prepare_data()
    assert crops.name in dm.skipped


def test_iemocap_bytes_that_are_not_utf8_and_spans_that_end_before_they_start(tmp_path_factory, tmp_path):
    root = copy_of("iemocap", tmp_path_factory, tmp_path)
    evaluation = next((root / "Session1" / "dialog" / "EmoEvaluation").glob("*.txt"))
    transcription = root / "Session1" / "dialog" / "transcriptions" / evaluation.name
    transcription.write_bytes(transcription.read_bytes() + b"\nSes01F_x [1.0-2.0]: caf\xe9\n")
    with pytest.raises(DataError, match=rf"{transcription.name}: the transcription is not UTF-8 text \(byte \d+"):
        read_transcription(transcription)
    text = evaluation.read_text()
    first = next(line for line in text.splitlines() if line.startswith("["))
    start, end = first[1:].split("]")[0].split(" - ")
    evaluation.write_text(text.replace(first, first.replace(f"[{start} - {end}]", f"[{end} - {start}]"), 1))
    with pytest.raises(DataError, match=r"starts at .* s, after it ends"):
        read_evaluation(evaluation)


def test_the_report_counts_skipped_and_masked_input_the_same_way_everywhere():
    mask = np.array([True, False, False, True])
    items = [Item({}, {}, {}, {"visual": mask, "audio": np.ones(4, bool)}),
             Item({}, {}, {}, {"visual": np.zeros(4, bool), "audio": np.ones(4, bool)})]
    assert input_counts({"a": "why"}, items) == {
        "recordings skipped as bad input": 1, "masked audio steps": 0, "masked visual steps": 2,
        "recordings without audio": 0, "recordings without visual": 1}
    dm = SyntheticAVDataModule(num_subjects=4, test_subjects=1, min_frames=120, max_frames=200, window=100, hop=60)
    dm.prepare_data()
    dm.setup("fit")
    report = dm.data_report()
    missing = sum(int((~dm.load(r).input_masks["visual"]).sum()) for r in dm.recordings)
    assert report["masked visual steps"] == missing > 0 and report["recordings skipped as bad input"] == 0


def test_absurd_values_in_any_float_input_are_named():
    check_values(np.zeros((3, 2), np.uint8), "x")  # frames and tokens are not checked for magnitude
    with pytest.raises(DataError, match=r"recording 'r', modality 'gsr': input values reach 1e\+30"):
        check_values(np.array([0.0, 1e30], np.float32), "recording 'r', modality 'gsr'")
    with pytest.raises(DataError, match="1 of 2 input values are NaN or infinite"):
        check_values(np.array([0.0, np.nan]), "r")
