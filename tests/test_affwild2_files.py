import numpy as np
import pytest

from mmer.core.errors import DataError
from mmer.data_modules.affwild2_files import find_challenge, find_videos, raw_video_id, read_va_file


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_va_file_keeps_unlabelled_frames_on_the_time_axis(tmp_path):
    f = write(tmp_path / "v.txt", "valence,arousal\n0.1,0.2\n-5,-5\n-5,-5\n-0.3,0.9\n")
    values, labelled = read_va_file(f)
    assert values.shape == (4, 2)
    assert labelled.tolist() == [True, False, False, True]
    np.testing.assert_allclose(values[3], [-0.3, 0.9])


@pytest.mark.parametrize("text,match", [
    ("", "empty annotation file"),
    ("v,a\n0.1,0.2\n", ":1: expected the header 'valence,arousal'"),
    ("valence,arousal\n0.1,0.2\n0.1;0.3\n", ":3: expected two comma-separated numbers, found '0.1;0.3'"),
    ("valence,arousal\nabc,0.2\n", ":2: expected two comma-separated numbers"),
    ("valence,arousal\n0.1,1.7\n", ":2: value 1.7 is outside"),
    ("valence,arousal\n", "no annotation lines"),
])
def test_malformed_va_files_name_file_and_line(tmp_path, text, match):
    f = write(tmp_path / "bad.txt", text)
    with pytest.raises(DataError, match=f"bad.txt{match}" if match.startswith(":") else match):
        read_va_file(f)


def test_discovery_by_name_across_release_layouts(tmp_path):
    ann = tmp_path / "Third ABAW Annotations" / "VA_Estimation_Challenge"
    write(ann / "Train_Set" / "a.txt", "valence,arousal\n0,0\n")
    write(ann / "Validation_Set" / "b.txt", "valence,arousal\n0,0\n")
    write(tmp_path / "batch1" / "a.mp4", "")
    write(tmp_path / "batch2" / "b.avi", "")
    assert find_challenge(tmp_path) == {"train": ann / "Train_Set", "validation": ann / "Validation_Set"}
    assert find_videos(tmp_path) == {"a": tmp_path / "batch1/a.mp4", "b": tmp_path / "batch2/b.avi"}
    write(tmp_path / "videos" / "a.avi", "")
    with pytest.raises(DataError, match="video 'a' exists twice"):
        find_videos(tmp_path)


def test_left_right_share_one_raw_video():
    assert raw_video_id("10-60-1280x720_left") == raw_video_id("10-60-1280x720_right") == "10-60-1280x720"
    assert raw_video_id("video5") == "video5"


def test_discovery_never_walks_into_face_crops_or_the_cache(tmp_path):
    write(tmp_path / "raw" / "a.mp4", "")
    write(tmp_path / "cropped_aligned" / "a" / "decoy.mp4", "")  # inside the crops: never visited
    write(tmp_path / ".mmer_cache" / "b.mp4", "")
    assert find_videos(tmp_path, exclude=tmp_path / ".mmer_cache") == {"a": tmp_path / "raw/a.mp4"}


def test_expr_and_au_files_parse_and_fail_clearly(tmp_path):
    from mmer.data_modules.affwild2_files import AU_NAMES, EXPR_CLASSES, read_au_file, read_expr_file

    expr = tmp_path / "e.txt"
    expr.write_text(",".join(EXPR_CLASSES) + "\n0\n4\n-1\n7\n")
    classes, labelled = read_expr_file(expr)
    assert classes.tolist() == [0, 4, 0, 7] and labelled.tolist() == [True, True, False, True]
    expr.write_text(",".join(EXPR_CLASSES) + "\n0\n9\n")
    with pytest.raises(DataError, match=r"e.txt:3: class 9 is outside 0..7"):
        read_expr_file(expr)
    expr.write_text("Neutral,Anger\n0\n")
    with pytest.raises(DataError, match=r"e.txt:1: expected the header 'Neutral,Anger,Disgust"):
        read_expr_file(expr)

    au = tmp_path / "a.txt"
    au.write_text(",".join(AU_NAMES) + "\n" + ",".join(["0"] * 11 + ["1"]) + "\n" + ",".join(["-1"] * 12) + "\n")
    units, labelled = read_au_file(au)
    assert units.shape == (2, 12) and units[0, 11] == 1 and labelled.tolist() == [True, False]
    au.write_text(",".join(AU_NAMES) + "\n" + ",".join(["0"] * 11) + "\n")
    with pytest.raises(DataError, match=r"a.txt:2: expected 12 values"):
        read_au_file(au)
