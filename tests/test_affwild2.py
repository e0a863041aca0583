"""Aff-Wild2 on a generated fixture in the owners' layout: index, cache, bad input, CV with ABAW files."""

import shutil

import numpy as np
import pytest

import mmer.data_modules.affwild2 as aw
from mmer.core.errors import ConfigError, DataError
from mmer.data_modules.affwild2 import AffWild2DataModule
from mmer.data_modules.fixtures import make_affwild2_fixture


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_affwild2_fixture(tmp_path_factory.mktemp("aw2"))


@pytest.fixture
def root(pristine, tmp_path):
    """A private copy (tests below damage it), with no cache yet."""
    return shutil.copytree(pristine, tmp_path / "aw2", ignore=shutil.ignore_patterns(".mmer_cache"))


def make(root, **kw):
    args = dict(root=str(root), num_folds=2, window=100, hop=60, batch_size=4)
    args.update(kw)
    dm = AffWild2DataModule(**args)
    dm.setup()
    return dm


def test_index_partitions_groups_and_masks(root):
    dm = make(root)
    recs = {r.id: r for r in dm.recordings}
    assert recs["pair_left"].group == recs["pair_right"].group == "pair"
    assert {r.partition for r in recs.values() if r.id.startswith("vid_d")} == {"test"}
    assert dm.fold_of["pair"] in (0, 1)  # the two people of one raw video are one fold group
    item = dm.load(recs["vid_a"])
    n = recs["vid_a"].num_frames
    assert item.inputs["visual"].shape == (n, 3, 48, 48) and item.inputs["visual"].dtype == np.uint8
    assert item.inputs["audio"].shape == (n, 64) and np.isfinite(item.inputs["audio"]).all()
    assert (~item.input_masks["visual"]).sum() == 3  # the fixture drops 3 crops per video
    assert not item.input_masks["visual"][np.all(item.inputs["visual"] == 0, axis=(1, 2, 3))].any()
    labels = item.targets["va"]
    assert (~item.target_masks["va"]).sum() == 10 and (labels[~item.target_masks["va"]] == -5).all()
    assert np.abs(labels[item.target_masks["va"]]).max() <= 1


def test_cache_hit_invalidation_and_interrupted_write(root, monkeypatch):
    make(root)  # extracts
    calls = []
    real = aw.read_face_crops
    monkeypatch.setattr(aw, "read_face_crops", lambda *a: calls.append(a[0].name) or real(*a))
    make(root)
    assert calls == []  # unchanged sources and settings: nothing recomputed
    (root / "cropped_aligned" / "vid_b" / "00002.jpg").unlink()  # a source changes
    dm = make(root)
    assert calls == ["vid_b"]
    assert (~dm.load(next(r for r in dm.recordings if r.id == "vid_b")).input_masks["visual"]).sum() == 4
    make(root, face_size=32)  # a setting changes: every video re-extracted
    assert len(calls) == 1 + 10
    cache = root / ".mmer_cache" / "vid_a"
    assert len(list(cache.glob("faces-*.npy"))) == 1  # superseded keys are removed

    def crash(*a, **k):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        make(root, face_size=24)
    monkeypatch.undo()
    assert not list(root.joinpath(".mmer_cache").rglob("*.tmp"))  # the temporary file was removed
    (survivor,) = cache.glob("faces-*.npy")  # only the previous, complete file (face_size=32) remains
    assert np.load(survivor).shape[1] == 3 * 32 * 32 + 1
    dm = make(root, face_size=24)  # no half-written file was taken as valid: it extracts again and works
    assert dm.load(dm.recordings[0]).inputs["visual"].shape[-1] == 24


def test_bad_input_is_a_clear_error(root, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no VA_Estimation_Challenge"):
        make(tmp_path / "empty")
    ann = next(root.rglob("Train_Set")) / "vid_b.txt"
    ann.write_text(ann.read_text() + "0.1,0.1\n")  # one line more than the video has frames
    with pytest.raises(DataError, match="vid_b.txt: 261 annotation lines but .*vid_b.mp4 has 260 frames"):
        make(root)
    ann.write_text("valence,arousal\n0.1,0.1\n0.2,x\n")
    with pytest.raises(DataError, match="vid_b.txt:3: expected two comma-separated numbers"):
        make(root)


def test_truncated_video_is_a_clear_error_or_a_counted_skip(root, caplog):
    for name in ("vid_a", "pair"):
        video = root / "batch1" / f"{name}.mp4"
        video.write_bytes(video.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"(vid_a|pair)\.mp4: cannot open the video"):
        make(root)
    dm = AffWild2DataModule(root=str(root), num_folds=2, window=100, hop=60, on_bad_input="skip")
    dm.prepare_data()
    dm.setup()
    assert sorted(dm.skipped) == ["pair_left", "pair_right", "vid_a"]  # both people of the broken raw video
    assert "skipped 3 of 10 recordings" in caplog.text
    assert {r.id for r in dm.recordings}.isdisjoint(dm.skipped) and len(dm.recordings) == 7


def test_missing_raw_video_and_short_window(root):
    with pytest.raises(ConfigError, match="longer than every video"):
        make(root, window=400, hop=200)
    (root / "batch1" / "vid_d.mp4").unlink()
    with pytest.raises(DataError, match="vid_d.txt: no raw video 'vid_d.mp4'"):
        make(root)


def test_two_fold_cv_writes_abaw_prediction_files(root, tmp_path):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    cfg = compose(["experiment=jmt_affwild2_light", f"data.root={root}", "data.window=100", "data.hop=60",
                   "data.batch_size=4", "cv.folds=2", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                   "logger=csv", f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    assert np.isfinite(result.summary["cv/ccc_mean"])
    files = sorted((result.run_dir / "submission").glob("*.txt"))
    assert [f.stem for f in files] == ["vid_d", "vid_e"]
    lines = files[0].read_text().splitlines()
    assert lines[0] == "image_location,valence,arousal" and len(lines) == 1 + 320
    name, v, a = lines[1].split(",")
    assert name == "vid_d/00001.jpg" and -1 <= float(v) <= 1 and -1 <= float(a) <= 1


def test_mfcc_follower_is_extracted_only_when_asked(root):
    dm = make(root)
    assert "mfcc" not in dm.input_spec() and not list((root / ".mmer_cache").rglob("mfcc-*.npy"))
    dm = make(root, mfcc=True)
    rec = next(r for r in dm.recordings if r.id == "pair_right")
    item = dm.load(rec)
    assert item.inputs["mfcc"].shape == (rec.num_frames, 39) and np.isfinite(item.inputs["mfcc"]).all()
    # _left and _right share one raw video, so one audio cache entry
    assert len(list((root / ".mmer_cache" / "pair").glob("mfcc-*.npy"))) == 1


def test_extract_command_builds_every_cache_entry(root, capsys):
    from mmer.cli import main

    assert main(["extract", "data=affwild2", f"data.root={root}", "data.mfcc=true"]) == 0
    assert "cache ready: 10 recordings" in capsys.readouterr().out
    cache = root / ".mmer_cache"
    assert len(list(cache.rglob("faces-*.npy"))) == 10  # one per annotated person
    assert len(list(cache.rglob("logmel-*.npy"))) == len(list(cache.rglob("mfcc-*.npy"))) == 9  # one per raw video


def test_egemaps_follow_the_soundtrack_and_the_mel_rate_option(root):
    """eGeMAPS loudness tracks the fixture's loudness (which follows arousal); mel_rate=4 gives 4 rows per frame."""
    dm = make(root, egemaps=True, mel_rate=4)
    assert dm.input_spec()["egemaps"].dim == 25 and dm.input_spec()["audio"].rate == 4
    rec = next(r for r in dm.recordings if r.id == "vid_a")
    item = dm.load(rec)
    eg, mel = np.asarray(item.inputs["egemaps"]), np.asarray(item.inputs["audio"])
    assert eg.shape == (rec.num_frames, 25) and np.isfinite(eg).all()
    assert mel.shape == (rec.num_frames * 4, 64)
    arousal, labelled = item.targets["va"][:, 1], item.target_masks["va"]
    loudness = eg[:, 0]  # Loudness_sma3
    assert np.corrcoef(loudness[labelled], arousal[labelled])[0, 1] > 0.8


def test_expr_track_cv_and_multitask_labels(root, tmp_path):
    """EXPR as a per-frame classification track through the same CV runner: frame-level soft-vote merge, F1 table,
    ABAW EXPR submission files; and a multi-task data module with all three tracks on one time axis."""
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    cfg = compose(["experiment=jmt_affwild2_expr", f"data.root={root}", "data.window=100", "data.hop=60",
                   "data.face_size=32", "data.batch_size=4", "cv.folds=2", "trainer.max_epochs=1",
                   "trainer.enable_progress_bar=false", "logger=csv", f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    for key in ("cv/f1_macro", "cv/f1_weighted", "cv/accuracy", "cv/oof_uar", "cv/fold_mean_f1_macro"):
        assert 0.0 <= result.summary[key] <= 1.0, key
    assert (result.run_dir / "confusion_oof.png").is_file()
    text = (result.run_dir / "submission" / "vid_d.txt").read_text().splitlines()
    assert text[0] == "image_location,Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
    assert len(text) == 321 and text[1].startswith("vid_d/00001.jpg,") and 0 <= int(text[1].split(",")[1]) <= 7

    dm = make(root, tracks=["va", "expr", "au"], face_size=32)
    assert list(dm.target_spec()) == ["va", "expr", "au"]
    item = dm.load(next(r for r in dm.recordings if r.id == "pair_left"))
    n = len(item.targets["va"])
    assert item.targets["expr"].shape == (n,) and item.targets["au"].shape == (n, 12)
    assert 0 < item.target_masks["expr"].sum() < n and 0 < item.target_masks["au"].sum() < n  # -1 runs are masked


def test_lfan_layout_folds_train_and_validation_and_predicts_an_unscored_test_set(root, tmp_path):
    """data.layout=trainval_folds: Validation_Set is fold 0 of the CV over Train + Validation; test videos from
    data.test_list are predicted by every fold, merged and written as ABAW files, and never scored."""
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    shutil.copy(root / "batch1" / "vid_e.mp4", root / "batch1" / "vid_t.mp4")  # a video nobody annotated
    (root / "test_set.txt").write_text("vid_t\n")
    overrides = [f"data.root={root}", "data.layout=trainval_folds", "data.fold0_official=true",
                 f"data.test_list={root / 'test_set.txt'}", "data.window=100", "data.hop=60", "data.face_size=32",
                 "data.batch_size=4", "cv.folds=3", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                 "logger=csv", f"paths.output_root={tmp_path / 'runs'}"]
    cfg = compose(["experiment=jmt_affwild2_light", *overrides])
    from mmer.cv import prepare

    dm, _ = prepare(cfg)
    dm.set_fold(0)
    assert {r.id for r in dm.split("val")} == {"vid_d", "vid_e"} and [r.id for r in dm.split("test")] == ["vid_t"]
    result = run_cv(cfg)
    assert "cv/ccc_mean" not in result.summary and "fold0/test/ccc_mean" not in result.summary
    assert np.isfinite(result.summary["cv/oof_ccc_mean"])
    lines = (result.run_dir / "submission" / "vid_t.txt").read_text().splitlines()
    assert lines[0] == "image_location,valence,arousal" and len(lines) == 1 + 240
    with pytest.raises(ConfigError, match="set data.fold0_official=true"):
        AffWild2DataModule(root=str(root), layout="trainval_folds")


def test_a_video_in_two_partitions_is_refused_or_left_out_of_both(root):
    train = next(root.rglob("VA_Estimation_Challenge/Train_Set"))
    shutil.copy(train / "vid_a.txt", train.parent / "Validation_Set" / "vid_a.txt")
    with pytest.raises(DataError, match=r"Validation_Set/vid_a.txt: video 'vid_a' is also annotated in .*Train_Set"):
        make(root)
    dm = make(root, on_bad_input="skip")
    assert "vid_a" not in {r.id for r in dm.recordings} and "vid_a" in dm.skipped  # no leak, and counted


def test_bytes_that_are_not_text_are_a_clear_error(root):
    ann = next(root.rglob("VA_Estimation_Challenge/Train_Set")) / "vid_b.txt"
    ann.write_bytes(b"valence,arousal\n0.1,\xff\xfe0.2\n")
    with pytest.raises(DataError, match=r"vid_b.txt: the annotation file is not UTF-8 text \(byte 20"):
        make(root)


def test_a_test_video_listed_twice_is_named_with_both_lines(root):
    listing = root / "test_set.txt"
    listing.write_text("vid_x\nvid_y\n\nvid_x\n")
    with pytest.raises(DataError, match=r"test_set.txt:4: test video 'vid_x' is listed again \(first on line 1\)"):
        make(root, test_list=str(listing))
