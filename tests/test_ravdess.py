"""RAVDESS: file names, the data module on the generated layout, and the real speech release read in place
(``../shared/data/ravdess``: skipped when absent locally, a failure in CI)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mmer.config.composer import compose
from mmer.core.errors import ConfigError, DataError
from mmer.cv import run_cv
from mmer.data_modules.ravdess import RavdessDataModule
from mmer.data_modules.ravdess_files import discover, parse_clip
from tests.conftest import SHARED, fixture_root

REAL = SHARED / "data" / "ravdess"
STEREO = ["Actor_01/03-01-02-01-01-02-01", "Actor_01/03-01-08-01-02-02-01", "Actor_05/03-01-02-01-02-02-05",
          "Actor_20/03-01-03-01-02-01-20", "Actor_20/03-01-06-01-01-02-20"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return fixture_root("ravdess", tmp_path_factory)


def make(root: Path, tmp_path: Path, **kw) -> RavdessDataModule:
    kw.setdefault("num_folds", 3)
    dm = RavdessDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), **kw)
    dm.prepare_data()
    dm.setup()
    return dm


# ---------------------------------------------------------------------------------------------------- names
def test_a_name_is_parsed_field_by_field():
    clip = parse_clip(Path("Actor_12/03-01-05-02-01-02-12.wav"))
    assert (clip.modality, clip.channel, clip.emotion, clip.intensity, clip.statement, clip.repetition, clip.actor) == \
        ("audio-only", "speech", "angry", "strong", 1, 2, 12)
    assert clip.id == "Actor_12/03-01-05-02-01-02-12" and clip.has_audio and not clip.has_video
    assert parse_clip(Path("Actor_03/02-02-06-01-02-01-03.mp4")).modality == "video-only"


@pytest.mark.parametrize("path, says", [
    ("Actor_01/03-01-05-02-01-02.wav", "not a RAVDESS name"),
    ("Actor_01/03-01-09-01-01-01-01.wav", "unknown emotion code '09'"),
    ("Actor_01/04-01-05-01-01-01-01.wav", "unknown modality code '04'"),
    ("Actor_01/03-01-01-02-01-01-01.wav", "neutral has no strong intensity"),
    ("Actor_01/03-02-07-01-01-01-01.wav", "song has no disgust"),
    ("Actor_01/03-01-05-01-01-01-02.wav", "the name says actor 02 but the file is in Actor_01"),
    ("Actor_01/01-01-05-01-01-01-01.wav", "is a .mp4 file"),
    ("Actor_01/03-01-05-01-01-01-25.wav", "outside 01-24"),
])
def test_a_bad_name_is_refused_naming_the_file_and_field(path, says):
    with pytest.raises(DataError, match=path.split("/")[1].split(".")[0]) as err:
        parse_clip(Path(path))
    assert says in str(err.value)


def test_a_badly_named_file_stops_the_run_or_is_skipped_and_counted(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root / "Actor_01", copy / "Actor_01")
    shutil.copytree(root / "Actor_02", copy / "Actor_02")
    shutil.copy(root / "Actor_01" / "03-01-05-01-01-01-01.wav", copy / "Actor_02" / "03-01-05-01-01-01-01.wav")
    with pytest.raises(DataError, match="the name says actor 01 but the file is in Actor_02"):
        make(copy, tmp_path, num_folds=2)
    dm = make(copy, tmp_path, num_folds=2, on_bad_input="skip")
    assert len(dm.skipped) == 1 and dm.data_report()["files with a name off the RAVDESS scheme (left out)"] == 1
    assert "Actor_02/03-01-05-01-01-01-01" not in {r.id for r in dm.recordings}


# ---------------------------------------------------------------------------------------------------- data module
def test_classes_tasks_and_vocal_channel(root, tmp_path):
    dm = make(root, tmp_path)
    assert dm.target_spec() == {"emotion": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                                            "surprised"]}
    assert len(dm.recordings) == 6 * 30  # actors x (7 emotions x 2 intensities + neutral) x 2 statements
    merged = make(root, tmp_path, calm="neutral")
    assert merged.target_spec()["emotion"][:2] == ["neutral", "happy"] and len(merged.recordings) == len(dm.recordings)
    calm_clip = next(r for r in merged.recordings if "-02-" in r.id.split("/")[1][5:9])
    assert int(merged.load(calm_clip).targets["emotion"]) == 0
    dropped = make(root, tmp_path, calm="drop")
    assert len(dropped.recordings) == len(dm.recordings) - 6 * 4
    both = make(root, tmp_path, task="both")
    neutral = next(r for r in both.recordings if r.id.split("/")[1].startswith("03-01-01"))
    assert set(both.target_spec()) == {"emotion", "intensity"} and not both.load(neutral).target_masks["intensity"]
    assert len(make(root, tmp_path, task="intensity").recordings) == len(dm.recordings) - 6 * 2
    with pytest.raises(DataError, match="no clips"):
        make(root, tmp_path, vocal_channel="song")
    with pytest.raises(ConfigError, match="data.calm"):
        RavdessDataModule(root=str(root), calm="merge")


def test_clips_are_padded_and_masked_never_cut(root, tmp_path):
    dm = make(root, tmp_path, modalities=("audio", "logmel", "egemaps"), actors=[1, 2, 3])
    lengths = {r.id: len(dm.load(r).inputs["audio"]) for r in dm.recordings}
    spec = dm.input_spec()
    assert spec["audio"].length >= max(lengths.values()) and len(set(lengths.values())) > 1
    batch = next(iter(dm.predict_loader("trainval")))
    for i, rec in enumerate(batch.meta["recording"]):
        assert int(batch.masks["audio"][i].sum()) == lengths[rec]
        assert torch.all(batch.inputs["audio"][i][lengths[rec]:] == 0)
    assert batch.inputs["logmel"].shape[1:] == (spec["logmel"].length, 64)
    assert batch.inputs["egemaps"].shape[1:] == (1, 88) and torch.isfinite(batch.inputs["egemaps"]).all()
    with pytest.raises(ConfigError, match="clips are never cut"):
        make(root, tmp_path, seconds=0.5, actors=[1, 2, 3])


def test_stereo_files_are_averaged_to_mono(root, tmp_path):
    import soundfile

    stereo = root / "Actor_01" / "03-01-02-01-01-01-01.wav"
    assert soundfile.info(str(stereo)).channels == 2
    dm = make(root, tmp_path)
    wave = dm.load(next(r for r in dm.recordings if r.id == "Actor_01/03-01-02-01-01-01-01")).inputs["audio"]
    assert wave.ndim == 1 and np.allclose(wave, soundfile.read(str(stereo), dtype="float32")[0].mean(1), atol=1e-3)


def test_folds_keep_actors_together_and_held_out_actors_never_train(root, tmp_path):
    dm = make(root, tmp_path, test_actors=[5, 6])
    assert {r.group for r in dm.split("test")} == {"actor05", "actor06"}
    for k in range(dm.num_folds):
        dm.set_fold(k)
        train, val = {r.group for r in dm.split("train")}, {r.group for r in dm.split("val")}
        assert not train & val and not (train | val) & {"actor05", "actor06"}
    with pytest.raises(ConfigError, match=r"actors \[9\] have no clips"):
        make(root, tmp_path, test_actors=[9])


def test_speaker_normalisation_uses_training_actors_only(root, tmp_path):
    few = {"modalities": ("logmel",), "test_actors": [6], "actors": [1, 2, 3, 6]}
    dm = make(root, tmp_path, normalise="speaker", **few)
    raw = make(root, tmp_path, normalise="none", **few)
    dm.set_fold(0)
    train = dm.split("train")
    rows = np.concatenate([np.asarray(raw.load(r).inputs["logmel"], np.float64) for r in train])
    held_out = dm.split("test")[0]
    expected = (np.asarray(raw.load(held_out).inputs["logmel"]) - rows.mean(0)) / (rows.std(0) + 1e-5)
    assert np.allclose(dm.load(held_out).inputs["logmel"], expected, atol=1e-4)
    own = [r for r in train if r.group == train[0].group]
    mine = np.concatenate([np.asarray(raw.load(r).inputs["logmel"], np.float64) for r in own])
    x = (np.asarray(raw.load(own[0]).inputs["logmel"]) - mine.mean(0)) / (mine.std(0) + 1e-5)
    assert np.allclose(dm.load(own[0]).inputs["logmel"], x, atol=1e-4)


def test_noise_in_the_recording_reaches_every_acoustic_input_of_the_named_clips_only(root, tmp_path):
    """``m=acoustic``: noise added to a scored clip's sound before its inputs are computed; the training clips (the
    statistics) and the feature cache stay clean, and clean loading returns once the noise is lifted."""
    from mmer.data.perturb import SourceNoise

    dm = make(root, tmp_path, modalities=("audio", "logmel"), actors=[1, 2, 3], normalise="speaker")
    assert dm.acoustic_inputs() == ("audio", "logmel")
    dm.set_fold(0)
    val, train = dm.split("val")[0], dm.split("train")[0]
    clean, clean_train = dm.load(val), dm.load(train)
    cached = sorted((tmp_path / "cache").rglob("*"))
    dm.noise_at_source(SourceNoise(0.0, seed=0, recordings=frozenset({val.id})))
    noisy = dm.load(val)
    wave = np.asarray(clean.inputs["audio"], np.float64)
    added = np.asarray(noisy.inputs["audio"], np.float64) - wave
    assert np.mean(added ** 2) == pytest.approx(np.mean(wave ** 2), rel=0.05)  # 0 dB below the clip's power
    assert not np.allclose(noisy.inputs["logmel"], clean.inputs["logmel"], atol=0.1)  # computed from the noisy sound
    assert np.array_equal(dm.load(val).inputs["audio"], noisy.inputs["audio"])  # the same noise for the same seed
    assert np.array_equal(dm.load(train).inputs["logmel"], clean_train.inputs["logmel"])
    assert sorted((tmp_path / "cache").rglob("*")) == cached  # nothing noisy is cached
    dm.noise_at_source(None)
    assert np.array_equal(dm.load(val).inputs["logmel"], clean.inputs["logmel"])


def test_the_release_is_never_written_to(root, tmp_path, monkeypatch):
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path / "home_cache"))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    dm = RavdessDataModule(root=str(root), num_folds=3, modalities=("logmel",), actors=[1, 2, 3])
    dm.prepare_data()
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    assert any((tmp_path / "home_cache").rglob("logmel-*.npy"))


def test_video_frames_and_soundtrack_from_the_audio_video_mp4(root, tmp_path):
    dm = make(root, tmp_path, modalities=("audio", "visual"), frames=4, frame_size=32, actors=[1, 2, 3],
              detector="none")
    takes = {r.id.split("/")[1][3:]: r for r in dm.recordings}
    assert len(takes) == len(dm.recordings) == 90  # one file per take
    with_video = [r for r in dm.recordings if r.id.split("/")[1].startswith("01-")]  # the audio-video copies
    assert len(with_video) == 45
    item = dm.load(with_video[0])
    assert item.inputs["visual"].shape == (4, 3, 32, 32) and item.inputs["visual"].dtype == np.uint8
    assert item.input_masks["visual"].all() and item.inputs["visual"].any()
    assert item.inputs["audio"].ndim == 1 and len(item.inputs["audio"]) > 8000
    heard_only = dm.load(next(r for r in dm.recordings if r not in with_video))  # a take with no mp4: visual missing
    assert not heard_only.input_masks["visual"].any() and not heard_only.inputs["visual"].any()
    assert dm.data_report()["recordings without visual"] == 45
    audio_only = make(root, tmp_path)  # an audio model reads the wav of a take, never both copies
    assert all(r.id.split("/")[1].startswith("03-") for r in audio_only.recordings)


def test_faces_come_from_the_detector_when_there_is_one(root, tmp_path, monkeypatch):
    import mmer.data_modules.ravdess as ravdess

    # the data module calls the name it imported: patch it there
    from mmer.data.faces import Face

    def first_frame_faceless(frames):  # the "face"; none in the first of the frames asked about
        return [None] + [Face((32.0, 16.0, 64.0, 48.0))] * (len(frames) - 1)

    monkeypatch.setattr(ravdess, "mtcnn_detector", lambda: first_frame_faceless)
    strong = "Actor_02/01-01-05-02-01-01-02"  # strong takes have a brighter face square than the background
    few = {"modalities": ("visual",), "frames": 2, "frame_size": 16, "actors": [1, 2, 3]}
    detected = make(root, tmp_path / "a", **few)
    centred = make(root, tmp_path / "b", detector="none", **few)
    rec = next(r for r in detected.recordings if r.id == strong)
    item = detected.load(rec)
    face, square = item.inputs["visual"][1], centred.load(rec).inputs["visual"][1]
    assert face.mean() > square.mean() + 10  # the whole crop is the face square; the centred one holds background
    assert item.input_masks["visual"].tolist() == [False, True] and not item.inputs["visual"][0].any()  # no face: masked


# ---------------------------------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def held_out_run(root, tmp_path_factory):
    """cnn_ravdess, 2 epochs, 3 actor folds over actors 1-4, actors 5-6 held out."""
    out = tmp_path_factory.mktemp("ravdess_runs")
    result = run_cv(compose([f"data.root={root}", "experiment=cnn_ravdess", "cv.folds=3", "data.test_actors=[5,6]",
                             "trainer.max_epochs=2", "data.batch_size=8", "logger=csv",
                             "trainer.enable_progress_bar=false", f"paths.output_root={out}"]))
    yield result.summary, result.run_dir
    shutil.rmtree(out, ignore_errors=True)


def test_held_out_actors_are_scored_by_the_fold_ensemble(held_out_run):
    summary, run_dir = held_out_run
    for key in ("cv/f1_weighted", "cv/uar", "cv/accuracy", "cv/oof_f1_weighted", "cv/oof_f1_angry"):
        assert math.isfinite(summary[key]), key
    merged = (run_dir / "merged_test_predictions.csv").read_text().splitlines()
    assert len(merged) - 1 == 2 * 30 and all("Actor_05" in r or "Actor_06" in r for r in merged[1:])
    assert (run_dir / "confusion_oof.png").is_file()


def test_noise_in_the_recordings_is_scored_and_swept(held_out_run, tmp_path):
    from mmer.cli import main
    from mmer.commands.evaluate import evaluate_run

    summary, run_dir = held_out_run

    def scored(*perturb, seed=0):
        return evaluate_run(run_dir, split="test", perturb=perturb, seed=seed, write=False)[0]["cv/f1_weighted"]
    assert scored("audio=acoustic:snr_db=inf") == pytest.approx(summary["cv/f1_weighted"], abs=1e-6)
    drowned = scored("audio=acoustic:snr_db=-20")
    assert drowned != summary["cv/f1_weighted"] and scored("audio=acoustic:snr_db=-20") == drowned
    assert main(["robustness", str(run_dir), "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert (tmp_path / "r.png").stat().st_size > 0
    assert result["noise"]["recording"] == "in the recording, below its power, before audio is computed from it"
    rows = [c for c in result["conditions"] if c["kind"] == "acoustic"]
    assert [c["name"] for c in rows] == ["recording noise 20 dB", "recording noise 10 dB", "recording noise 0 dB"]


def test_predict_reads_new_wav_files(held_out_run, root, tmp_path):
    from mmer.commands.predict import predict_files

    _, run_dir = held_out_run
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(root / "Actor_06" / "03-01-05-02-01-01-06.wav", new / "angry_take.wav")
    shutil.copy(root / "Actor_01" / "03-01-02-01-01-01-01.wav", new / "stereo.wav")
    out = predict_files(run_dir, [new], out=tmp_path / "pred")
    rows = (out / "angry_take.csv").read_text().splitlines()
    assert rows[0].startswith("recording,p_neutral,p_calm") and rows[0].endswith(",prediction")
    probs = np.array(rows[1].split(",")[1:-1], float)
    assert probs.shape == (8,) and abs(probs.sum() - 1) < 1e-4 and (out / "stereo.csv").is_file()


# ---------------------------------------------------------------------------------------------------- real files
@pytest.fixture(scope="module")
def real():
    if not REAL.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{REAL} is missing but CI is set: the RAVDESS tests must run in CI")
        pytest.skip(f"{REAL} not present (RAVDESS speech, actors 1-20)")
    return REAL


def test_real_release_names_counts_durations_and_channels(real):
    import soundfile

    clips, bad = discover(real)
    assert not bad and len(clips) == 1200
    assert {c.modality for c in clips} == {"audio-only"} and {c.channel for c in clips} == {"speech"}
    per_emotion = {e: sum(c.emotion == e for c in clips) for e in {c.emotion for c in clips}}
    assert per_emotion.pop("neutral") == 80 and set(per_emotion.values()) == {160}
    assert sum(c.intensity == "normal" for c in clips) == 640
    assert {a: sum(c.actor == a for c in clips) for a in range(1, 21)} == dict.fromkeys(range(1, 21), 60)
    infos = {c.id: soundfile.info(str(c.path)) for c in clips}
    seconds = [i.frames / i.samplerate for i in infos.values()]
    assert {i.samplerate for i in infos.values()} == {16000} and 2.9 < min(seconds) and max(seconds) < 5.3
    assert sorted(k for k, i in infos.items() if i.channels == 2) == STEREO


def test_real_folds_never_split_an_actor_and_held_out_actors_never_train(real, tmp_path):
    from mmer.data.folds import grouped_kfold

    dm = RavdessDataModule(root=str(real), cache_dir=str(tmp_path), num_folds=5, test_actors=[19, 20])
    recordings = dm.index()  # names and headers only: no audio is decoded
    trainval = [r for r in recordings if r.partition == "trainval"]
    fold_of = grouped_kfold([r.group for r in trainval], 5, 0)
    assert sorted(fold_of) == sorted({r.group for r in trainval}) and set(fold_of.values()) == set(range(5))
    assert {r.group for r in recordings if r.partition == "test"} == {"actor19", "actor20"}
    assert len(trainval) == 18 * 60 and dm.length_seconds == 5.3


def test_real_one_epoch_run_on_four_actors_has_finite_scores(real, tmp_path):
    result = run_cv(compose([f"data.root={real}", "experiment=cnn_ravdess", "data.actors=[1,2,3,4]", "cv.folds=2",
                             "cv.only_folds=[0]", "trainer.max_epochs=1", f"data.cache_dir={tmp_path / 'cache'}",
                             "logger=csv", "trainer.enable_progress_bar=false",
                             f"paths.output_root={tmp_path / 'runs'}"]))
    assert all(math.isfinite(result.summary[k]) for k in ("fold0/val/f1_weighted", "fold0/val/uar",
                                                          "fold0/val/accuracy"))
    assert json.loads((result.run_dir / "summary.json").read_text())["fold0/val/f1_weighted"] >= 0
