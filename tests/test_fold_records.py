"""Finished folds are verified before reuse: done.json records every file the merge and the tables read, and a
rerun, `mmer merge-run` or `mmer evaluate` that finds one damaged recomputes that fold's predictions from its
checkpoint or stops with one line; it never merges edited predictions and never ends in a traceback."""

import json
import shutil

import pytest

from mmer.cli import main
from mmer.config.composer import compose
from mmer.core.errors import ConfigError
from mmer.cv import run_cv
from mmer.cv.merge_run import merge_run
from mmer.model.module import MultimodalModule
from mmer.runs import RunFolder
from tests.conftest import TINY


def settings(root):
    return compose([*TINY, "cv.folds=2", "trainer.max_epochs=1", f"paths.output_root={root}"])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-fold run, copied for each test (copy(tmp_path) -> the copy's run folder)."""
    root = tmp_path_factory.mktemp("records")
    result = run_cv(settings(root))

    def copy(to):
        run = to / result.run_dir.relative_to(root)
        shutil.copytree(result.run_dir, run)
        return run

    yield result, copy
    shutil.rmtree(root, ignore_errors=True)


def no_training(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(MultimodalModule, "training_step", fail)


def test_done_json_records_the_files_the_merge_reads(finished, tmp_path):
    result, copy = finished
    record = json.loads((result.run_dir / "fold1" / "done.json").read_text())
    assert set(record["files"]) == {"oof_predictions.csv", "test_predictions.csv"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in record["files"].values())
    assert RunFolder(result.run_dir).fold(1).damage() == []


def harm(run, how):
    """Damage fold 1's held-out predictions of a copied run; returns the file and its bytes before."""
    target = run / "fold1" / "test_predictions.csv"
    text = target.read_text()
    lines = text.splitlines()
    row = lines[2].rsplit(",", 1)[0]
    changed = {"edit": "\n".join([*lines[:2], row + ",0.999", *lines[3:]]) + "\n",
               "nan": "\n".join([*lines[:2], row + ",nan", *lines[3:]]) + "\n",
               "truncate": text[: len(text) // 2], "empty": ""}
    if how == "delete":
        target.unlink()
    else:
        target.write_text(changed[how])
    return target, text


@pytest.mark.parametrize("how", ["edit", "nan", "truncate", "empty", "delete"])
def test_every_kind_of_damage_is_found_and_named(finished, tmp_path, how):
    result, copy = finished
    run = copy(tmp_path)
    target, _ = harm(run, how)
    problems = RunFolder(run).fold(1).damage()
    assert len(problems) == 1 and problems[0].startswith(f"{target}: ")
    assert RunFolder(run).fold(0).damage() == []


def test_a_damaged_fold_is_predicted_again_from_its_checkpoint_never_merged_as_it_is(finished, tmp_path,
                                                                                     monkeypatch, caplog):
    result, copy = finished
    run = copy(tmp_path)
    target, text = harm(run, "edit")
    with pytest.raises(ConfigError, match=r"fold 1 cannot be merged: .*test_predictions.csv: changed"):
        merge_run(run)  # merge-run trains nothing: it stops, naming the file
    no_training(monkeypatch)
    again = run_cv(settings(tmp_path))
    assert again.run_dir == run and [f.status for f in again.folds] == ["cached", "predicted"]
    assert "recomputed from its checkpoint" in caplog.text
    assert target.read_text() == text  # the same checkpoint, the same predictions, the same bytes
    # fold 0 is read back from its CSV (values as written), so the merge agrees to the CSV's precision
    assert again.summary["cv/ccc_mean"] == pytest.approx(result.summary["cv/ccc_mean"], abs=1e-6)
    assert RunFolder(run).fold(1).damage() == []


def test_an_unreadable_completion_record_is_damage_too(finished, tmp_path):
    result, copy = finished
    run = copy(tmp_path)
    (run / "fold0" / "done.json").write_text("{not json")
    assert RunFolder(run).fold(0).damage() == [f"{run / 'fold0' / 'done.json'}: not a readable completion record"]


def test_damage_without_a_checkpoint_stops_with_one_line(finished, tmp_path, capsys):
    result, copy = finished
    run = copy(tmp_path)
    (run / "fold0" / "oof_predictions.csv").write_text("")
    (run / "fold0" / "checkpoints" / "best.ckpt").unlink()
    overrides = [*TINY, "cv.folds=2", "trainer.max_epochs=1", f"paths.output_root={tmp_path}"]
    assert main(["cv", *overrides]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no checkpoints/best.ckpt" in err[0] and f"delete {run / 'fold0'}" in err[0]


def test_a_zero_byte_checkpoint_is_named_not_a_traceback(finished, tmp_path, capsys):
    result, copy = finished
    run = copy(tmp_path)
    (run / "fold0" / "checkpoints" / "best.ckpt").write_bytes(b"")
    assert main(["evaluate", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "best.ckpt: not a readable PyTorch checkpoint" in err[0]


def test_an_empty_prediction_file_of_an_old_fold_is_one_line(finished, tmp_path, capsys):
    """A done.json written before the records existed is trusted, but its files are still read with care."""
    result, copy = finished
    run = copy(tmp_path)
    done = run / "fold1" / "done.json"
    record = json.loads(done.read_text())
    record.pop("files")
    done.write_text(json.dumps(record))
    (run / "fold1" / "test_predictions.csv").write_text("")
    assert main(["merge-run", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "test_predictions.csv' is not a readable CSV" in err[0]
