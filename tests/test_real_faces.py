"""The face detector on real video (issue 30, part 1): facenet-pytorch's MTCNN, installed by `make install` without
its dependencies (its wheel pins an old torch), runs with mmer's torch and finds the face of a real RAVDESS actor.
The clips are read in place (skip locally without them, fail in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmer.data.faces import mtcnn_detector
from mmer.data.media import iter_frames


@pytest.fixture
def clips(shared_dir) -> list[Path]:
    found = sorted((shared_dir / "data" / "ravdess_av" / "Actor_05").glob("*.mp4"))
    assert len(found) == 14
    return found


def detector():
    detect = mtcnn_detector()
    if detect is None:
        pytest.fail("facenet-pytorch is not installed: `make install` installs it (pip install --no-deps "
                    "facenet-pytorch==2.6.0)")
    return detect


def faces_found(clip: Path, every: int) -> tuple[int, int, list]:
    detect, frames, found, boxes = detector(), 0, 0, []
    for index, frame in iter_frames(clip):
        if index % every:
            continue
        box = detect(frame)
        frames, found = frames + 1, found + (box is not None)
        boxes.append((box, frame.shape))
    return frames, found, boxes


def test_the_installed_detector_finds_the_face_in_real_frames_and_centres_on_it(clips):
    frames, found, boxes = faces_found(clips[0], every=30)
    assert frames >= 3 and found == frames
    for (x1, y1, x2, y2), (h, w, _) in boxes:  # a frontal face near the middle of a 1280x720 frame
        assert 0.2 * w < (x1 + x2) / 2 < 0.8 * w and 0.1 * h < (y1 + y2) / 2 < 0.9 * h and 60 < x2 - x1 < 0.6 * w


@pytest.mark.slow  # about 3 minutes: every frame of the 14 clips
def test_a_face_is_found_in_at_least_95_percent_of_the_frames_of_every_real_clip(clips):
    for clip in clips:
        frames, found, _ = faces_found(clip, every=1)
        assert found >= 0.95 * frames, f"{clip.name}: a face in {found} of {frames} frames"
