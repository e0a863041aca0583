"""`mmer predict` never mixes outputs: an output is reused only when this run predicted it from this input as it is
now (the record beside it says so), inputs that share a file name get distinct outputs, and a --faces folder that
does not exist is an error, not a run with every face missing."""

import json
import shutil
from pathlib import Path

import pytest

from mmer.commands.predict import output_names, predict_files
from mmer.core.errors import ConfigError
from tests.conftest import fixture_root

STORED = Path(__file__).parent / "data" / "run_0_1_0_ravdess"  # a RAVDESS CNN run (tests/data/README.md)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """(run folder, the RAVDESS fixture, overrides): a copy of the stored run pointed at the fixture."""
    root = fixture_root("ravdess", tmp_path_factory)
    run = tmp_path_factory.mktemp("predict") / "cnn_ravdess" / "1a40faf15bfc"
    shutil.copytree(STORED, run)
    return run, root, [f"data.root={root}"]


def wav(root, actor, name):
    return root / f"Actor_{actor:02d}" / name


def test_output_names_are_stems_unless_two_inputs_share_one(tmp_path):
    a, b, c = tmp_path / "a" / "clip.wav", tmp_path / "b" / "x" / "clip.wav", tmp_path / "a" / "other.wav"
    assert output_names([a, b, c]) == {a: "a__clip", b: "b__x__clip", c: "other"}


def test_inputs_that_share_a_name_get_distinct_outputs(setting, tmp_path):
    run, root, overrides = setting
    for folder, source in (("one", wav(root, 1, "03-01-02-01-01-01-01.wav")),
                           ("two", wav(root, 6, "03-01-05-02-01-01-06.wav"))):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / "take.wav")
    out = predict_files(run, [tmp_path / "one", tmp_path / "two"], out=tmp_path / "pred", overrides=overrides)
    one, two = (out / "one__take.csv").read_text(), (out / "two__take.csv").read_text()
    assert one.splitlines()[1].split(",")[0] == "new/one__take" and one.splitlines()[1:] != two.splitlines()[1:]


def test_an_output_is_reused_only_for_the_same_run_and_input(setting, tmp_path, caplog):
    run, root, overrides = setting
    new = tmp_path / "new"
    new.mkdir()
    clip = new / "take.wav"
    shutil.copy(wav(root, 1, "03-01-02-01-01-01-01.wav"), clip)
    out = predict_files(run, [new], out=tmp_path / "pred", overrides=overrides)
    target, record = out / "take.csv", out / "take.source.json"
    first = target.read_text()
    assert json.loads(record.read_text())["run"] == run.name
    stamp = target.stat().st_mtime_ns
    predict_files(run, [new], out=out, overrides=overrides)  # the same run, the same input: reused as it is
    assert target.stat().st_mtime_ns == stamp and "predicting it again" not in caplog.text
    shutil.copy(wav(root, 6, "03-01-05-02-01-01-06.wav"), clip)  # another recording under the same name
    predict_files(run, [new], out=out, overrides=overrides)
    assert "not from this run and input as they are now" in caplog.text and target.read_text() != first
    caplog.clear()
    record.write_text(json.dumps({**json.loads(record.read_text()), "run": "another-run"}))
    stamp = target.stat().st_mtime_ns
    predict_files(run, [new], out=out, overrides=overrides)  # an output another run wrote is not this run's
    assert target.stat().st_mtime_ns != stamp and "predicting it again" in caplog.text
    caplog.clear()
    record.unlink()  # an output without its record (an older mmer, or a copy): predicted again
    predict_files(run, [new], out=out, overrides=overrides)
    assert "no record beside it" in caplog.text and record.is_file()


def test_a_faces_folder_that_does_not_exist_is_an_error(setting, tmp_path):
    run, root, overrides = setting
    with pytest.raises(ConfigError, match=r"--faces .*nowhere: no such folder"):
        predict_files(run, [wav(root, 1, "03-01-02-01-01-01-01.wav")], out=tmp_path / "pred",
                      faces=tmp_path / "nowhere", overrides=overrides)
    assert not (tmp_path / "pred").exists()
