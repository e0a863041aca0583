"""BioVid Part A: parsing, the data module, bad input and a CV run on the generated fixture."""

import shutil

import numpy as np
import pytest
import torch

from mmer.core.batch import model_input
from mmer.core.errors import DataError
from mmer.data_modules.biovid import BioVidDataModule
from mmer.data_modules.biovid_files import derive_samples, read_bio_csv, read_samples_csv
from tests.conftest import fixture_root


@pytest.fixture(scope="module")
def biovid(tmp_path_factory):
    return fixture_root("biovid", tmp_path_factory)


@pytest.fixture
def copy(biovid, tmp_path):
    """A private copy of the fixture that a test may damage."""
    dst = tmp_path / "biovid"
    shutil.copytree(biovid, dst, ignore=shutil.ignore_patterns(".mmer_cache"))
    return dst


def _dm(root, **kw):
    kw = {"face_size": 32, "num_folds": 3, "batch_size": 4, "cache_dir": str(root) + "_cache", **kw}
    dm = BioVidDataModule(root=str(root), **kw)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_samples_csv_and_names_agree(biovid):
    from_table = read_samples_csv(biovid / "samples.csv")
    from_names = derive_samples(biovid)
    assert len(from_table) == 60 and sorted(from_table, key=lambda s: s.name) == sorted(from_names, key=lambda s: s.name)
    assert {s.class_name for s in from_table} == {"BL1", "PA1", "PA2", "PA3", "PA4"}


def test_bio_csv_columns_by_name_and_clear_errors(copy):
    path = next((copy / "biosignals_filtered").glob("*/*_bio.csv"))
    gsr_ecg = read_bio_csv(path, ["gsr", "ecg"])
    assert gsr_ecg.shape == (2816, 2) and gsr_ecg.dtype == np.float32
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0].replace("gsr", "eda")] + lines[1:]) + "\n")
    with pytest.raises(DataError, match=r"_bio\.csv: no column\(s\) \['gsr'\]; found \['time', 'eda'"):
        read_bio_csv(path, ["gsr"])
    lines[10] = lines[10].split("\t")[0] + "\tn/a\t0\t0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"_bio\.csv, line 11: column 'gsr' has the non-numeric value 'n/a'"):
        read_bio_csv(path, ["gsr"])
    for bad in ("nan", "inf"):  # numbers to float(), but NaN would reach every feature of the sample
        lines[10] = lines[10].split("\t")[0] + f"\t{bad}\t0\t0"
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(DataError, match=rf"_bio\.csv, line 11: column 'gsr' has the value '{bad}' \(1 values not finite"):
            read_bio_csv(path, ["gsr"])


def test_unknown_class_and_missing_column_in_samples_csv(copy):
    table = copy / "samples.csv"
    text = table.read_text()
    table.write_text(text.replace("PA3", "PA9", 1))
    with pytest.raises(DataError, match=r"samples.csv, line \d+: unknown class 'PA9'"):
        read_samples_csv(table)
    lines = text.splitlines()
    table.write_text("\n".join([*lines, lines[3]]) + "\n")  # a trial listed twice
    with pytest.raises(DataError, match=rf"samples.csv, line {len(lines) + 1}: sample '[^']+' is already on line 4"):
        read_samples_csv(table)
    table.write_text(text.replace("class_name", "label"))
    with pytest.raises(DataError, match=r"no column\(s\) \['class_name'\]"):
        read_samples_csv(table)


def test_batches_folds_and_tasks(biovid, tmp_path):
    dm = _dm(biovid, cache_dir=str(tmp_path / "cache"))
    assert dm.target_spec() == {"pain": ["BL1", "PA1", "PA2", "PA3", "PA4"]}
    batch = next(iter(dm.train_dataloader()))
    assert batch.inputs["visual"].shape == (4, 138, 3, 32, 32) and batch.inputs["visual"].dtype == torch.uint8
    assert float(model_input(batch.inputs["visual"]).max()) <= 1.0  # pixels travel as uint8, scaled on the device
    gsr = batch.inputs["gsr"]
    assert gsr.shape == (4, 2816) and abs(float(gsr.mean())) < 1e-3 and abs(float(gsr.std()) - 1) < 1e-2
    assert batch.targets["pain"].shape == (4,) and batch.target_masks["pain"].all()
    for k in range(dm.num_folds):  # subject-wise: no subject on both sides
        dm.set_fold(k)
        assert not {r.group for r in dm.split("train")} & {r.group for r in dm.split("val")}
    assert dm.split("test") == []

    binary = _dm(biovid, cache_dir=str(tmp_path / "cache"), task="binary", num_folds="loso")
    assert binary.num_folds == 6 and len(binary.recordings) == 24
    labels = {r.id.split("-")[1]: int(binary.load(r).targets["pain"]) for r in binary.recordings}
    assert labels == {"BL1": 0, "PA4": 1}


def test_cache_is_reused_and_invalidated(biovid, tmp_path, monkeypatch):
    import mmer.data_modules.biovid as mod

    cache = str(tmp_path / "cache")
    first = _dm(biovid, cache_dir=cache)
    rec = first.recordings[0]

    def no_decoding(*a, **k):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(mod, "decode_frames", no_decoding)
    again = _dm(biovid, cache_dir=cache)
    assert np.array_equal(again.load(rec).inputs["visual"], first.load(rec).inputs["visual"])
    with pytest.raises(AssertionError, match="decoded again"):
        _dm(biovid, cache_dir=cache, face_size=24)  # another size: a new key, so it must extract


def test_corrupt_video_is_an_error_or_a_counted_skip(copy):
    video = sorted((copy / "video").glob("*/*.mp4"))[3]
    video.write_bytes(video.read_bytes()[:200])  # truncated
    with pytest.raises(DataError, match=video.name):
        _dm(copy)
    dm = _dm(copy, on_bad_input="skip")
    assert list(dm.skipped) == [video.stem] and len(dm.recordings) == 59
    assert video.stem not in {r.id for r in dm.recordings}


def test_missing_biosignal_file_is_an_error(copy):
    path = next((copy / "biosignals_filtered").glob("*/*_bio.csv"))
    path.unlink()
    with pytest.raises(DataError, match="biosignal file is missing"):
        _dm(copy)


def test_two_fold_cv_writes_out_of_fold_predictions(biovid, tmp_path):
    import json

    from mmer.config.composer import compose
    from mmer.cv import run_cv
    from mmer.evaluation.tables import read_table

    cfg = compose(["experiment=jmt_biovid_light", f"data.root={biovid}", f"data.cache_dir={tmp_path / 'cache'}",
                   "data.face_size=32", "cv.folds=2", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
                   "logger=csv", f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    for key in ("accuracy", "f1_weighted", "uar", "f1_macro"):
        assert 0.0 <= summary[f"cv/oof_{key}"] <= 1.0 and f"cv/val_std_{key}" in summary
    assert "cv/accuracy" not in summary  # no held-out partition, so no merged score is claimed
    oof = {}
    for k in range(2):
        table, cols = read_table(result.run_dir / f"fold{k}" / "oof_predictions.csv")
        assert cols == ["BL1", "PA1", "PA2", "PA3", "PA4"]
        assert all(np.isclose(p.sum(), 1.0, atol=1e-4) for p in table.values())
        oof.update(table)
    assert len(oof) == 60  # every sample predicted exactly once, by the fold that did not train on it
    assert (result.run_dir / "confusion_oof.png").stat().st_size > 1000
