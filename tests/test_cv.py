"""k-fold CV runner: outputs, provenance, caching of finished folds, resuming killed folds, bad input."""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mmer.config.build import build_callbacks
from mmer.core.errors import ConfigError, DataError
from mmer.cv import run_cv, run_dir_for
from mmer.model.module import MultimodalModule


def test_two_fold_cv_writes_then_resumes_without_recomputing(compose_tiny, monkeypatch):
    cfg = compose_tiny("cv.folds=2")
    result = run_cv(cfg)
    run = result.run_dir
    assert [f.status for f in result.folds] == ["trained", "trained"]
    for name in ("config.yaml", "provenance.json", "metrics.csv", "summary.json", "table.txt", "predictions.png",
                 "merged_test_predictions.csv"):
        assert (run / name).is_file(), name
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["config_hash"] == run.name and prov["seed"] == 0 and prov["packages"]["torch"]
    for k in (0, 1):
        for name in ("done.json", "oof_predictions.csv", "test_predictions.csv", "provenance.json",
                     "checkpoints/best.ckpt"):
            assert (run / f"fold{k}" / name).is_file(), (k, name)
        # a finished fold is never resumed: its last.ckpt is gone and best.ckpt holds the weights only
        assert not (run / f"fold{k}/checkpoints/last.ckpt").exists()
        best = torch.load(run / f"fold{k}/checkpoints/best.ckpt", weights_only=False)
        assert "optimizer_states" not in best and best["state_dict"]
    # per-frame merged predictions: one row per frame of every held-out video, clipped to [-1, 1]
    merged = pd.read_csv(run / "merged_test_predictions.csv")
    dm_lengths = {v: len(g) for v, g in merged.groupby("video")}
    test_videos = {f.split("_")[0] for f in dm_lengths}
    assert len(test_videos) == 2 and merged[["valence", "arousal"]].abs().max().max() <= 1
    for key in ("cv/ccc_valence", "cv/ccc_arousal", "cv/ccc_mean", "cv/oof_ccc_mean", "cv/fold_mean_ccc_mean",
                "fold0/val/ccc_mean", "fold1/test/ccc_valence"):
        assert np.isfinite(result.summary[key]), key
    metrics = pd.read_csv(run / "metrics.csv")
    assert {"fold0/val/ccc_mean", "fold1/val/ccc_mean", "fold1/train/loss_epoch"} <= set(metrics.key)

    stamps = {p: p.stat().st_mtime_ns for p in run.rglob("fold*/*") if p.is_file()}

    def fail(*a, **k):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(MultimodalModule, "training_step", fail)
    monkeypatch.setattr("mmer.cv.job.dry_run", fail)  # nor is a model built to check a job that is all done
    again = run_cv(compose_tiny("cv.folds=2"))
    assert again.run_dir == run and [f.status for f in again.folds] == ["cached", "cached"]
    scores = lambda summary: {k: v for k, v in summary.items() if not k.startswith("time/")}  # noqa: E731
    assert scores(again.summary) == pytest.approx(scores(result.summary))
    assert stamps == {p: p.stat().st_mtime_ns for p in run.rglob("fold*/*") if p.is_file()}


def test_killed_fold_resumes_from_its_last_checkpoint_exactly(compose_tiny, monkeypatch, tmp_path):
    cfg = compose_tiny("cv.folds=2", "trainer.max_epochs=3", "cv.keep_checkpoints=all")
    original = MultimodalModule.on_train_epoch_end

    def crash_in_fold1_epoch2(self):
        original(self)
        if self.current_epoch == 1 and "fold1" in self.trainer.default_root_dir:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(MultimodalModule, "on_train_epoch_end", crash_in_fold1_epoch2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_cv(cfg)
    run = run_dir_for(cfg)
    assert (run / "fold0/done.json").is_file()
    assert not (run / "fold1/done.json").exists() and (run / "fold1/checkpoints/last.ckpt").is_file()
    assert not (run / "merged_test_predictions.csv").exists()
    epoch_at_crash = torch.load(run / "fold1/checkpoints/last.ckpt", weights_only=False)["epoch"]
    assert epoch_at_crash <= 1
    fold0_done = (run / "fold0/done.json").stat().st_mtime_ns

    monkeypatch.setattr(MultimodalModule, "on_train_epoch_end", original)
    planted = [run / ".summary.json.k3j2.tmp", run / "fold1/checkpoints/.best.ckpt.x9.tmp"]  # a killed atomic write
    for p in planted + [run / "notes.tmp"]:
        p.write_text("partial")
    result = run_cv(cfg)
    assert not any(p.exists() for p in planted) and (run / "notes.tmp").exists()  # only mmer's temporaries go
    assert [f.status for f in result.folds] == ["cached", "resumed"]
    assert (run / "fold0/done.json").stat().st_mtime_ns == fold0_done
    final = torch.load(run / "fold1/checkpoints/last.ckpt", weights_only=False)
    assert final["epoch"] == 2  # trained to max_epochs=3 (epochs 0..2), continuing from the crash point
    # exact: the random states travel with the checkpoint, so the resumed run scores as an uninterrupted one
    uninterrupted = run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=3", "cv.keep_checkpoints=all",
                                        f"paths.output_root={tmp_path / 'uninterrupted'}"))
    assert uninterrupted.run_dir.name == run.name
    for key in ("cv/ccc_mean", "cv/ccc_valence", "cv/oof_ccc_mean", "fold1/val/ccc_arousal", "fold1/test/ccc_mean"):
        assert round(result.summary[key], 4) == round(uninterrupted.summary[key], 4), key


def test_a_kill_after_training_predicts_again_without_training_again(compose_tiny, monkeypatch):
    from mmer.evaluation.evaluator import Evaluator

    cfg = compose_tiny("cv.folds=2", "trainer.max_epochs=2", "cv.only_folds=[0]")
    original = Evaluator.table

    def crash_while_predicting(self, outputs, recordings):
        raise RuntimeError("simulated crash in prediction")

    monkeypatch.setattr(Evaluator, "table", crash_while_predicting)
    with pytest.raises(RuntimeError, match="in prediction"):
        run_cv(cfg)
    run = run_dir_for(cfg)
    assert (run / "fold0/trained.json").is_file() and not (run / "fold0/done.json").exists()
    logged = pd.read_csv(run / "metrics.csv")
    monkeypatch.setattr(Evaluator, "table", original)
    result = run_cv(cfg)
    assert [f.status for f in result.folds] == ["predicted"]
    again = pd.read_csv(run / "metrics.csv")
    epochs = again[again["key"] == "fold0/train/loss_epoch"]
    assert len(epochs) == len(logged[logged["key"] == "fold0/train/loss_epoch"]) == 2  # no epoch trained twice
    assert np.isfinite(result.summary["cv/ccc_mean"])


def test_changed_config_gets_a_new_folder_and_non_semantic_keys_do_not(compose_tiny):
    base = run_dir_for(compose_tiny())
    assert run_dir_for(compose_tiny("model.optimizer.lr=0.01")) != base
    assert run_dir_for(compose_tiny("data.num_workers=2", "trainer.enable_progress_bar=true",
                                    "cv.keep_checkpoints=all")) == base
    # where it runs is not what it computes; the precision is, and so are the processes per optimizer step
    # (data.batch_size is per device), whichever devices they are
    assert run_dir_for(compose_tiny("trainer.accelerator=cpu", "trainer.strategy=ddp", "trainer.devices=[0]")) == base
    assert run_dir_for(compose_tiny("trainer.precision=bf16-mixed")) != base
    ddp = run_dir_for(compose_tiny("trainer.strategy=ddp", "trainer.devices=2"))
    assert ddp != base and ddp == run_dir_for(compose_tiny("trainer.strategy=ddp", "trainer.devices=[2,3]"))
    assert run_dir_for(compose_tiny("trainer.strategy=ddp", "trainer.num_nodes=2")) == ddp  # 2 x 1 = 1 x 2
    # callbacks: the checkpoint and LR monitor change no result; early stopping does
    assert run_dir_for(compose_tiny("callbacks.lr_monitor=null", "+callbacks.checkpoint.save_top_k=2")) == base
    assert run_dir_for(compose_tiny("callbacks=early_stopping")) != base
    with pytest.raises(ConfigError, match="sets monitor/mode"):
        build_callbacks(compose_tiny("+callbacks.checkpoint.monitor=val/loss"), Path("unused"))
    with pytest.raises(ConfigError, match="keep it"):
        build_callbacks(compose_tiny("callbacks.checkpoint=null"), Path("unused"))
    with pytest.raises(ConfigError, match="cv.keep_checkpoints='best': expected one of 'weights', 'all'"):
        run_cv(compose_tiny("cv.keep_checkpoints=best"))


def test_bad_input_stops_before_training_and_touches_no_saved_output(compose_tiny, tmp_path):
    cfg = compose_tiny("cv.folds=2", "trainer.max_epochs=1")
    run = run_cv(cfg).run_dir
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="longer than every video"):
        run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=1", "data.window=5000", "data.hop=100"))
    with pytest.raises(ConfigError, match="cannot make 9 folds"):
        run_cv(compose_tiny("cv.folds=9", "trainer.max_epochs=1"))
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert before == after
    assert [p.name for p in (tmp_path / "runs" / "jmt_synthetic").iterdir()] == [run.name]


def test_cli_reports_errors_without_traceback(capsys):
    from mmer.cli import main

    assert main(["cv", "model/fusion=nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "Available options" in err


def test_merge_command_on_fold_files(compose_tiny, tmp_path):
    from mmer.cli import main
    from mmer.evaluation.tables import read_table

    run = run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=1")).run_dir
    out = tmp_path / "merged.csv"
    assert main(["merge", str(run / "fold0/test_predictions.csv"), str(run / "fold1/test_predictions.csv"),
                 "-o", str(out)]) == 0
    mine, _ = read_table(out)
    theirs, _ = read_table(run / "merged_test_predictions.csv")
    assert sorted(mine) == sorted(theirs)
    for v in mine:
        np.testing.assert_allclose(mine[v], theirs[v], atol=1e-5)
    bad = tmp_path / "bad.csv"
    bad.write_text("clip,valence\nx,0.1\n")
    with pytest.raises(DataError, match="bad.csv.*lacks column"):
        read_table(bad)


def test_fold_logger_gives_each_fold_its_own_step_axis(tmp_path):
    from mmer.runs.loggers import FoldLogger, MetricSink

    class FakeRun:
        def __init__(self):
            self.defined, self.logged = [], []

        def define_metric(self, name, step_metric=None):
            self.defined.append((name, step_metric))

        def log(self, payload):
            self.logged.append(payload)

    sink = MetricSink(tmp_path, kind="csv")
    sink.wandb_run = FakeRun()
    FoldLogger(sink, 0).log_metrics({"val/ccc_mean": 0.5, "epoch": 3}, step=7)
    FoldLogger(sink, 1).log_metrics({"val/ccc_mean": 0.6}, step=2)
    assert ("fold0/*", "fold0/step") in sink.wandb_run.defined and ("fold1/*", "fold1/step") in sink.wandb_run.defined
    assert sink.wandb_run.logged == [{"fold0/val/ccc_mean": 0.5, "fold0/step": 7},
                                     {"fold1/val/ccc_mean": 0.6, "fold1/step": 2}]
    rows = pd.read_csv(tmp_path / "metrics.csv")
    assert rows.to_dict("records") == [{"key": "fold0/val/ccc_mean", "step": 7, "value": 0.5},
                                       {"key": "fold1/val/ccc_mean", "step": 2, "value": 0.6}]


def test_wandb_is_offline_without_an_api_key(monkeypatch, tmp_path):
    from mmer.runs.loggers import wandb_mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wandb_mode(None) == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode(None) == "online"
    assert wandb_mode("disabled") == "disabled"


def test_empty_data_dir_env_does_not_change_the_run_folder(compose_tiny, monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    unset = run_dir_for(compose_tiny())
    monkeypatch.setenv("DATA_DIR", "")
    assert compose_tiny().data_dir is None and run_dir_for(compose_tiny()) == unset
    monkeypatch.setenv("DATA_DIR", "/some/copy")  # where the data lies is not what a run computes
    assert run_dir_for(compose_tiny()) == unset


def test_atomic_write_keeps_the_old_file_on_a_crash_and_follows_the_umask(tmp_path):
    import os

    from mmer.core.io import atomic_write, atomic_write_text

    target = atomic_write_text(tmp_path / "summary.json", "old")
    mask = os.umask(0o022)
    try:
        def crash(tmp):
            tmp.write_text("half")
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            atomic_write(target, crash)
        assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]
        atomic_write_text(target, "new")
        assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(mask)


def test_one_writer_per_fold_the_second_job_stops_or_waits(compose_tiny, caplog):
    import threading

    from mmer.core.locks import RunBusyError
    from mmer.runs.folder import RunFolder

    cfg = compose_tiny("cv.folds=2", "trainer.max_epochs=1")
    run = run_dir_for(cfg)
    held = RunFolder(run).fold(1).lock().acquire()  # as a first job training fold 1 holds it (flock: per open file)
    with pytest.raises(RunBusyError, match=rf"fold 1 of .* is being written by process {os.getpid()} on "):
        run_cv(cfg)
    assert sorted(p.name for p in run.iterdir()) == ["locks"]  # nothing written, not even fold 0
    assert (run / "locks/fold0.lock").read_text() == ""  # the fold it could take was given back
    only_fold0 = run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=1", "cv.only_folds=[0]"))  # another fold: fine
    assert [f.status for f in only_fold0.folds] == ["trained"]
    threading.Timer(1.0, held.release).start()
    result = run_cv(compose_tiny("cv.folds=2", "trainer.max_epochs=1", "cv.wait_for_lock=true"))
    assert [f.status for f in result.folds] == ["cached", "trained"] and "waiting" in caplog.text


@pytest.mark.slow
def test_sigkill_at_any_point_then_rerun_gives_the_uninterrupted_scores(tmp_path):
    """Kill -9 a CV job mid-epoch, while it saves a checkpoint, while it predicts and while it merges; the plain
    rerun must print the scores of a run that was never interrupted."""
    import subprocess
    import sys

    from tests.conftest import TINY

    repo = Path(__file__).resolve().parents[1]
    args = [*TINY, "cv.folds=2", "trainer.max_epochs=3"]

    def cv(root, *fault):
        command = [sys.executable, "-m", *(["tests.fault_runner", *fault] if fault else ["mmer.cli", "cv"]), *args,
                   f"paths.output_root={root}"]
        return subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600)

    def scores(root):
        summary = json.loads(next(Path(root).rglob("summary.json")).read_text())
        return {k: round(v, 4) for k, v in summary.items() if k.startswith(("cv/", "fold")) and "/time/" not in k}

    assert cv(tmp_path / "reference").returncode == 0
    reference = scores(tmp_path / "reference")
    for point, n in (("mid-epoch", 12), ("checkpoint-save", 5), ("prediction", 3), ("merge", 1)):
        root = tmp_path / point
        killed = cv(root, point, str(n))
        assert killed.returncode == -9, (point, killed.stderr[-2000:])
        again = cv(root)
        assert again.returncode == 0, (point, again.stderr[-2000:])
        assert scores(root) == reference, point


def test_trainer_groups_tensorboard_and_a_start_checkpoint(compose_tiny, tmp_path):
    """``trainer=cpu|gpu`` are config groups; ``logger=tensorboard`` writes event files beside metrics.csv;
    ``ckpt_path=`` starts every fold from a checkpoint's weights (and is part of what the run computes)."""
    assert compose_tiny("trainer=cpu").trainer.accelerator == "cpu"
    gpu = compose_tiny("trainer=gpu").trainer
    assert gpu.accelerator == "gpu" and gpu.precision == "bf16-mixed" and gpu.max_epochs == compose_tiny().trainer.max_epochs
    first = run_cv(compose_tiny("cv.folds=2", "cv.only_folds=[0]", "logger=tensorboard", "trainer=cpu",
                                "trainer.max_epochs=1"))
    assert list((first.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    best = first.run_dir / "fold0" / "checkpoints" / "best.ckpt"
    with pytest.raises(ConfigError, match="no such checkpoint file"):
        run_cv(compose_tiny(f"+ckpt_path={tmp_path / 'none.ckpt'}"))
    started = compose_tiny("cv.folds=2", "cv.only_folds=[0]", f"ckpt_path={best}", "trainer.max_epochs=1",
                           "model.optimizer.lr=1e-9")  # no learning: the fold keeps the weights it started from
    again = run_cv(started)
    assert again.run_dir != first.run_dir
    before = torch.load(best, weights_only=True)["state_dict"]
    after = torch.load(again.run_dir / "fold0" / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert all(torch.allclose(before[k].float(), after[k].float(), atol=1e-5) for k in before)
    with pytest.raises(ConfigError, match="does not fit this experiment's model"):
        run_cv(compose_tiny("cv.folds=2", "cv.only_folds=[0]", f"ckpt_path={best}", "experiment=concat_synthetic"))
