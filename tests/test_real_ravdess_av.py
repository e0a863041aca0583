"""RAVDESS's audio-visual path on real recordings (issue 30, part 1): a RAVDESS copy where actor 05 has the official
audio-visual mp4s of 14 takes beside everyone's speech WAVs. Those takes are read from the mp4 (its soundtrack and
MTCNN's aligned faces); every other take has its visual input missing by mask; the AV experiment trains end to end.
The copy is a folder of links to the real files, read in place (skip locally without them, fail in CI)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer.data_modules.ravdess import RavdessDataModule


def linked_copy(shared: Path, into: Path, actors: list[int]) -> Path:
    """``into/Actor_XX/`` with links to the real speech WAVs of ``actors`` and to actor 05's audio-visual mp4s."""
    for actor in actors:
        folder = into / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        sources = sorted((shared / "data" / "ravdess" / folder.name).glob("*.wav"))
        if actor == 5:
            sources += sorted((shared / "data" / "ravdess_av" / folder.name).glob("*.mp4"))
        for source in sources:
            (folder / source.name).symlink_to(source)
    return into


@pytest.fixture
def copy(shared_dir, tmp_path) -> Path:
    return linked_copy(shared_dir, tmp_path / "ravdess", [5, 6])


def test_real_video_takes_are_read_from_the_mp4_and_the_others_miss_their_faces(copy, tmp_path):
    dm = RavdessDataModule(root=str(copy), cache_dir=str(tmp_path / "cache"), modalities=("logmel", "visual"),
                           frames=4, frame_size=64, num_folds=2, allow_outside_root=True)
    dm.prepare_data()
    dm.setup()
    seen = [r for r in dm.recordings if r.id.split("/")[1].startswith("01-")]
    assert len(dm.recordings) == 120 and len(seen) == 14  # one file per take: the mp4 where there is one
    item = dm.load(seen[0])
    assert item.input_masks["visual"].all()  # MTCNN found the face in each of the 4 frames
    faces = item.inputs["visual"].astype(np.float32)
    assert faces.shape == (4, 3, 64, 64) and faces.std() > 20  # a face, not a blank or a flat background
    assert np.isfinite(item.inputs["logmel"]).all() and "logmel" not in item.input_masks  # all heard
    heard = dm.load(next(r for r in dm.recordings if r not in seen))
    assert not heard.input_masks["visual"].any() and not heard.inputs["visual"].any()
    assert dm.data_report()["recordings without visual"] == 120 - 14


@pytest.mark.slow  # about 2 minutes: actors 1-6, three folds, one epoch
def test_the_audio_visual_experiment_trains_end_to_end_on_real_speech_and_real_faces(shared_dir, tmp_path):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    root = linked_copy(shared_dir, tmp_path / "ravdess", [1, 2, 3, 4, 5, 6])
    cfg = compose(["experiment=jmt_ravdess_av", f"data.root={root}", "+data.allow_outside_root=true",
                   f"data.cache_dir={tmp_path / 'cache'}", "cv.folds=3", "trainer.max_epochs=1", "logger=csv",
                   "trainer.enable_progress_bar=false", f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    assert np.isfinite(result.summary["cv/oof_f1_weighted"])
    assert result.summary["data/recordings_without_visual"] == 6 * 60 - 14
    shutil.rmtree(tmp_path / "runs")
