"""The face path (:mod:`mmer.data.faces`) on synthetic video whose face is a white square (``bright_faces``): aligned
crops, tracking against the straightforward way, the crop folder and its contact sheet, and what phone videos bring
(rotation metadata, variable frame rate, odd sizes, no face at all). The real detector on real clips is
``test_real_faces.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmer.data.faces import (
    FACES_CSV,
    STRAIGHTFORWARD,
    Face,
    Tracking,
    align_face,
    contact_sheet,
    detector_identity,
    iou,
    mtcnn_detector,
    track_faces,
    write_face_crops,
)
from mmer.data.media import frame_times, iter_frames, variable_rate, video_info
from mmer.data_modules.fixtures.phone import set_rotation, write_timed_video
from tests.conftest import bright_faces, square_video


def test_iou_and_interpolation_against_hand_computed_values():
    assert iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0 and iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0
    a, b = Face((0, 0, 10, 10), ((2, 3), (8, 3)), 0.5), Face((10, 0, 20, 10), ((12, 5), (18, 5)), 1.0)
    mid = a.towards(b, 0.5)
    assert mid.box == (5, 0, 15, 10) and mid.eyes == ((7, 4), (13, 4)) and mid.score == 0.75
    assert a.scaled(2).box == (0, 0, 20, 20) and a.scaled(2).eyes == ((4, 6), (16, 6))


def test_an_aligned_crop_levels_the_eyes_and_centres_the_box():
    frame = np.zeros((200, 240, 3), np.uint8)
    cx, cy, half_gap, angle = 120.0, 100.0, 30.0, math.radians(25)
    eyes = [(cx - half_gap * math.cos(angle), cy - half_gap * math.sin(angle)),
            (cx + half_gap * math.cos(angle), cy + half_gap * math.sin(angle))]
    for x, y in eyes:  # two bright dots, the line between them turned by 25 degrees
        frame[int(round(y)) - 2:int(round(y)) + 3, int(round(x)) - 2:int(round(x)) + 3] = 255
    crop = align_face(frame, Face((cx - 50, cy - 50, cx + 50, cy + 50), tuple(eyes)), size=120, margin=0.2)
    assert crop.shape == (120, 120, 3)
    ys, xs = np.nonzero(crop[..., 0] > 100)
    left, right = xs < 60, xs >= 60
    assert abs(ys[left].mean() - ys[right].mean()) < 1.0  # level
    assert ys.mean() == pytest.approx(60, abs=1.0) and xs[left].mean() + xs[right].mean() == pytest.approx(120, abs=1.5)
    # the eyes are 60 px apart in a 120 px box side grown by 20 %: 60 / 120 of the 120 px crop
    assert xs[right].mean() - xs[left].mean() == pytest.approx(60 * 120 / 120, abs=1.5)
    centred = align_face(frame, None, size=50)  # no face: the centred square, unturned
    assert centred.shape == (50, 50, 3)


def test_tracking_finds_the_same_faces_as_the_straightforward_way_with_fewer_detections():
    frames = square_video(60, absent=range(30, 38))
    bright_faces.seen = 0
    reference = list(track_faces(frames, bright_faces, STRAIGHTFORWARD))
    assert bright_faces.seen == 60
    bright_faces.seen = 0
    ours = list(track_faces(iter(frames), bright_faces, Tracking(detect_side=None, batch=4, stride=5)))
    assert bright_faces.seen < 40 and [t.index for t in ours] == list(range(60))
    found = [t.face is not None for t in ours]
    assert found == [t.face is not None for t in reference] == [k not in range(30, 38) for k in range(60)]
    assert {t.source for t in ours} == {"detected", "interpolated", "none"}
    ious = [iou(a.face.box, b.face.box) for a, b in zip(reference, ours) if a.face]
    assert min(ious) > 0.9  # a steady drift is interpolated almost exactly
    assert all(t.source == "detected" for t in ours[26:30] + ours[38:41])  # next to the gap: no interpolation


def test_downscaled_detection_gives_boxes_in_the_frames_own_pixels():
    frames = square_video(6, size=(240, 320))
    ours = list(track_faces(frames, bright_faces, Tracking(detect_side=120, batch=2, stride=2)))
    reference = list(track_faces(frames, bright_faces, STRAIGHTFORWARD))
    assert all(iou(a.face.box, b.face.box) > 0.85 for a, b in zip(reference, ours))


def test_odd_sizes_and_faces_at_the_edge_give_full_size_crops():
    frames = square_video(7, size=(101, 157))
    for tracked in track_faces(frames, bright_faces, Tracking(detect_side=None, batch=2, stride=3)):
        assert align_face(tracked.frame, tracked.face, 64).shape == (64, 64, 3)
    edge = np.full((33, 47, 3), 60, np.uint8)
    edge[:10, 40:] = 255  # a face cut by the corner: the crop's outside is black, its size still 64
    crop = align_face(edge, bright_faces([edge])[0], 64)
    assert crop.shape == (64, 64, 3) and (crop == 0).all(axis=2).any()


def test_crops_are_written_in_the_cropped_aligned_layout_with_a_record_per_frame(tmp_path):
    video = write_timed_video(tmp_path / "v.mp4", square_video(24, absent=range(10, 14)), np.arange(24) / 30)
    report = write_face_crops(video, tmp_path / "faces" / "v", bright_faces, size=48,
                              tracking=Tracking(detect_side=None, batch=2, stride=3))
    assert (report.frames, report.found) == (24, 20)
    names = sorted(p.name for p in (tmp_path / "faces" / "v").glob("*.jpg"))
    assert names[0] == "00001.jpg" and len(names) == 20 and "00011.jpg" not in names
    rows = (tmp_path / "faces" / "v" / FACES_CSV).read_text().splitlines()
    assert rows[0].startswith("frame,time_s,x1") and len(rows) == 25
    assert rows[11].split(",")[0] == "11" and rows[11].endswith(",none")
    assert float(rows[4].split(",")[1]) == pytest.approx(3 / 30, abs=1e-3)
    sheet = contact_sheet(tmp_path / "faces" / "v", report.frames, tmp_path / "v.faces.png", tiles=24, columns=6)
    from PIL import Image

    with Image.open(sheet) as img:
        arr = np.asarray(img.convert("RGB"))
    assert arr.shape == (4 * (96 + 14), 6 * 96, 3)
    grey = [(arr[k // 6 * 110 + 48, k % 6 * 96 + 4] == 160).all() for k in range(24)]
    assert grey == [k in range(10, 14) for k in range(24)]  # frames 11-14: the "no face" tiles


def test_an_interrupted_crop_run_leaves_no_folder_that_passes_for_complete(tmp_path):
    video = write_timed_video(tmp_path / "v.mp4", square_video(12), np.arange(12) / 30)

    def dies(frames):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_face_crops(video, tmp_path / "faces" / "v", dies)
    assert not (tmp_path / "faces" / "v").exists()


def test_a_phone_video_turned_by_its_metadata_is_read_upright(tmp_path):
    frames = square_video(6, size=(64, 96))  # landscape as stored
    video = set_rotation(write_timed_video(tmp_path / "p.mp4", frames, np.arange(6) / 30), 90)
    decoded = [f for _, f in iter_frames(video)]
    assert decoded[0].shape == (96, 64, 3)  # shown portrait
    np.testing.assert_allclose(decoded[2][..., 0], np.rot90(frames[2][..., 0], -1), atol=40)
    report = write_face_crops(video, tmp_path / "faces", bright_faces, size=32)
    assert report.found == 6


def test_a_variable_frame_rate_video_keeps_each_frames_own_time(tmp_path):
    times = np.cumsum([0, 0.033, 0.033, 0.1, 0.02, 0.2, 0.033, 0.033])
    video = write_timed_video(tmp_path / "vfr.mp4", square_video(8), times)
    got = frame_times(video)
    np.testing.assert_allclose(got, times, atol=1e-3)
    assert variable_rate(got, video_info(video)[0])
    steady = write_timed_video(tmp_path / "cfr.mp4", square_video(8), np.arange(8) / 30)
    assert not variable_rate(frame_times(steady), video_info(steady)[0])


def test_a_video_without_a_face_is_masked_throughout_and_says_so(tmp_path, caplog):
    video = write_timed_video(tmp_path / "empty.mp4", square_video(10, absent=range(10)), np.arange(10) / 30)
    report = write_face_crops(video, tmp_path / "faces" / "empty", bright_faces, size=32)
    assert report.found == 0 and not list((tmp_path / "faces" / "empty").glob("*.jpg"))
    assert "no face in any of its 10 frames" in caplog.text


def test_a_detector_is_identified_by_its_settings_where_it_has_them():
    """Records of crops name the detector: MTCNN by its settings (a new smallest face is another detector), any
    other callable by its qualified name."""
    assert detector_identity(None) is None
    assert detector_identity(bright_faces) == "tests.conftest.bright_faces"
    pytest.importorskip("facenet_pytorch")
    small, large = detector_identity(mtcnn_detector(min_face=20)), detector_identity(mtcnn_detector(min_face=40))
    assert small["name"] == large["name"] == "mtcnn" and small != large
