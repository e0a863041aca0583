"""The face path on real video (issue 30, part 1): facenet-pytorch's MTCNN, installed by `make install` without its
dependencies (its wheel pins an old torch), runs with mmer's torch; the tracked, aligned crops of
:mod:`mmer.data.faces` hold a real RAVDESS actor's face, centred, eyes level, in at least 95 % of the frames of each
of the 14 clips; and `mmer predict` on those clips writes a finite row per frame, a trace and a contact sheet. The
clips are read in place (skip locally without them, fail in CI)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmer.data.faces import FACES_CSV, mtcnn_detector, write_face_crops


@pytest.fixture
def clips(shared_dir) -> list[Path]:
    found = sorted((shared_dir / "data" / "ravdess_av" / "Actor_05").glob("*.mp4"))
    assert len(found) == 14
    return found


def detector():
    detect = mtcnn_detector(min_face=24)
    if detect is None:
        pytest.fail("facenet-pytorch is not installed: `make install` installs it (pip install --no-deps "
                    "facenet-pytorch==2.6.0)")
    return detect


def check_crops(clip: Path, folder: Path) -> None:
    """>= 95 % of frames with a face; boxes of a frontal face near the middle of the 1280x720 frame; eyes level."""
    table = pd.read_csv(folder / FACES_CSV)
    found = table["source"] != "none"
    assert found.mean() >= 0.95, f"{clip.name}: a face in {found.sum()} of {len(table)} frames"
    faces = table[found]
    cx, cy, width = (faces.x1 + faces.x2) / 2, (faces.y1 + faces.y2) / 2, faces.x2 - faces.x1
    assert cx.between(0.2 * 1280, 0.8 * 1280).all() and cy.between(0.1 * 720, 0.9 * 720).all(), clip.name
    assert width.between(60, 0.6 * 1280).all(), clip.name
    tilt = np.degrees(np.arctan2(faces.right_eye_y - faces.left_eye_y, faces.right_eye_x - faces.left_eye_x))
    assert (tilt.abs() < 20).all(), f"{clip.name}: eyes tilted by up to {tilt.abs().max():.0f} degrees"
    assert len(list(folder.glob("*.jpg"))) == found.sum()


def test_the_installed_detector_crops_the_real_face_in_every_frame_of_a_clip(clips, tmp_path):
    report = write_face_crops(clips[0], tmp_path / "crops", detector(), size=112)
    assert report.frames > 80 and report.detected < report.frames  # key frames only: the rest interpolated
    check_crops(clips[0], tmp_path / "crops")


@pytest.mark.slow  # about 2 minutes: every frame of the 14 clips
def test_a_face_is_found_in_at_least_95_percent_of_the_frames_of_every_real_clip(clips, tmp_path):
    detect = detector()
    for clip in clips:
        write_face_crops(clip, tmp_path / clip.stem, detect, size=112)
        check_crops(clip, tmp_path / clip.stem)
        shutil.rmtree(tmp_path / clip.stem)


def predicted(run_dir: Path, clips: list[Path], out: Path) -> None:
    """``mmer predict RUN clip.mp4 ...`` with the installed detector: per clip one finite row per frame with
    face_found (>= 95 % found), a trace PNG and a contact sheet PNG."""
    from mmer.cli import main
    from mmer.data.media import video_info

    assert main(["predict", str(run_dir), *map(str, clips), "--out", str(out)]) == 0
    for clip in clips:
        table = pd.read_csv(out / f"{clip.stem}.csv")
        assert len(table) == video_info(clip)[1] and table["frame"].tolist() == list(range(1, len(table) + 1))
        assert np.isfinite(table[["valence", "arousal"]].to_numpy()).all()
        assert table["face_found"].mean() >= 0.95, clip.name
        assert (out / f"{clip.stem}.png").stat().st_size > 0 and (out / f"{clip.stem}.faces.png").stat().st_size > 0


def test_predict_on_a_real_clip_writes_a_row_per_frame_a_trace_and_a_contact_sheet(clips, affwild2_run, tmp_path):
    predicted(affwild2_run[0].run_dir, clips[:1], tmp_path / "out")


@pytest.mark.slow  # about 3 minutes: the 14 clips
def test_predict_on_every_real_clip(clips, affwild2_run, tmp_path):
    predicted(affwild2_run[0].run_dir, clips, tmp_path / "out")
