"""Folds as independent jobs: ``mmer cv -m cv.only_folds=[0],[1]`` (Hydra multirun) into one run folder, then
``mmer merge-run`` over what is done, and the refusals that come before anything trains."""

from __future__ import annotations

import json
import shutil

import pytest

from mmer.cli import main
from tests.conftest import TINY

FOLDS2 = [*TINY, "trainer.max_epochs=1", "cv.folds=2"]


@pytest.fixture(scope="module")
def fold_jobs(tmp_path_factory):
    """One multirun of two fold jobs (the basic launcher, in this process): (output root, printed report)."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("multirun") / "runs"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = main(["cv", "-m", *FOLDS2, f"paths.output_root={root}", "cv.only_folds=[0],[1]"])
    assert rc == 0, printed.getvalue()
    yield root, printed.getvalue()
    shutil.rmtree(root.parent, ignore_errors=True)


def run_folder(root):
    (run,) = [p for p in (root / "jmt_synthetic").iterdir()]
    return run


def test_fold_jobs_share_one_run_folder_and_the_last_merges_both(fold_jobs):
    root, printed = fold_jobs
    run = run_folder(root)
    assert sorted(p.name for p in run.glob("fold*/done.json") if p) == ["done.json", "done.json"]
    summary = json.loads((run / "summary.json").read_text())
    assert {"fold0/val/ccc_mean", "fold1/val/ccc_mean", "cv/ccc_mean"} <= set(summary)
    # the report names each job's swept value and its run folder, and Hydra's job folders hold where it went
    assert f"job 0: cv.only_folds=[0] -> {run.resolve()}" in printed
    assert f"job 1: cv.only_folds=[1] -> {run.resolve()}" in printed and "folds [0, 1] done" in printed
    (sweep,) = (root / "multirun").iterdir()
    assert (sweep / "1" / "run_dir.txt").read_text().strip() == str(run.resolve())
    assert "cv.only_folds=[1]" in (sweep / "1" / ".hydra" / "overrides.yaml").read_text()


def test_merge_run_merges_what_is_done_names_what_is_not_and_reads_copies(fold_jobs, tmp_path, caplog):
    from mmer.cv.merge_run import merge_run

    run = run_folder(fold_jobs[0])
    whole = json.loads((run / "summary.json").read_text())
    part = tmp_path / run.name  # a copy of the run folder from a machine that computed fold 0 only
    shutil.copytree(run, part, ignore=shutil.ignore_patterns("fold1", "summary.json", "merged_*"))
    alone = merge_run(part)
    assert [f.fold for f in alone.folds] == [0] and "fold1/val/ccc_mean" not in alone.summary
    assert "fold(s) [1]" in caplog.text and "are not done" in caplog.text
    assert alone.summary["fold0/val/ccc_mean"] == pytest.approx(whole["fold0/val/ccc_mean"])
    both = merge_run(part, [run])  # fold 1 read in place from the other copy, the merge written into `part`
    assert [f.fold for f in both.folds] == [0, 1] and not (part / "fold1").exists()
    for key in ("cv/ccc_mean", "cv/oof_ccc_mean", "cv/val_mean_ccc_mean", "fold1/test/ccc_valence"):
        assert both.summary[key] == pytest.approx(whole[key], abs=1e-6), key  # read back from the CSVs
    assert json.loads((part / "merged_from.json").read_text()) == {"fold0": str(part), "fold1": str(run)}


def test_merge_run_refuses_folders_of_another_run_naming_the_difference(fold_jobs, tmp_path, capsys):
    from omegaconf import OmegaConf

    run = run_folder(fold_jobs[0])
    other = tmp_path / "0123456789ab"  # another run: another hash and another learning rate
    shutil.copytree(run, other)
    cfg = OmegaConf.load(other / "config.yaml")
    before, cfg.model.optimizer.lr = cfg.model.optimizer.lr, 0.05
    OmegaConf.save(cfg, other / "config.yaml")
    assert main(["merge-run", str(run), str(other)]) == 2
    err = capsys.readouterr().err
    assert f"{other} is another run than {run}" in err and f"model.optimizer.lr: {before} vs 0.05" in err


def test_merge_run_refuses_data_it_was_not_computed_on(fold_jobs, capsys):
    run = run_folder(fold_jobs[0])
    assert main(["merge-run", str(run), "data.num_subjects=7"]) == 2  # what the folds computed is not this
    assert "hashes to" in capsys.readouterr().err


def test_a_sweep_that_does_not_compose_stops_before_any_job(tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["cv", "-m", *FOLDS2, f"paths.output_root={root}", "trainer.max_epochs=1,0"]) == 2
    err = capsys.readouterr().err
    assert "multirun job 1 (" in err and "trainer.max_epochs=0" in err and not root.exists()
    assert main(["cv", "-m", *FOLDS2, f"paths.output_root={root}", "model/fusion=joint_transformer,nosuch"]) == 2
    assert "multirun job 1" in capsys.readouterr().err and not root.exists()


def test_ddp_inside_a_basic_launcher_job_and_hydra_run_dir_under_m_are_refused(tmp_path, capsys):
    root = tmp_path / "runs"
    assert main(["cv", "-m", *FOLDS2, f"paths.output_root={root}", "trainer=ddp", "trainer.accelerator=cpu",
                 "trainer.devices=2", "seed=0,1"]) == 2
    assert "DDP needs one per device" in capsys.readouterr().err
    assert main(["cv", "-m", *FOLDS2, "hydra.run.dir=/tmp/x", "seed=0,1"]) == 2
    assert "set hydra.sweep.dir=DIR" in capsys.readouterr().err
    assert main(["cv", "-m", "--cfg", "job", "seed=0,1"]) == 2
    assert not root.exists()


def test_expand_is_hydras_cartesian_product_in_its_order():
    from mmer.cv.multirun import expand

    assert expand(["a=1,2", "+b=x,y", "c=3", "hydra/launcher=submitit_local"]) == [
        ["a=1", "+b=x", "c=3"], ["a=1", "+b=y", "c=3"], ["a=2", "+b=x", "c=3"], ["a=2", "+b=y", "c=3"]]
    assert expand(["cv.only_folds=[0],[1]"]) == [["cv.only_folds=[0]"], ["cv.only_folds=[1]"]]
    assert expand(["seed=range(3)"]) == [["seed=0"], ["seed=1"], ["seed=2"]]


@pytest.mark.slow  # 22 s: two submitit processes
def test_submitit_local_fold_jobs_run_side_by_side_into_one_run_folder(tmp_path, capsys):
    """hydra-submitit-launcher (the ``mmer[slurm]`` extra) with its local executor: the two fold jobs are separate
    processes running at once, each holding its fold's lock; whichever ends last merges both."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    root = tmp_path / "runs"
    assert main(["cv", "-m", *FOLDS2, f"paths.output_root={root}", "cv.only_folds=[0],[1]",
                 "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=20"]) == 0
    run = run_folder(root)
    summary = json.loads((run / "summary.json").read_text())
    assert {"fold0/val/ccc_mean", "fold1/val/ccc_mean", "cv/ccc_mean"} <= set(summary)
    (sweep,) = (root / "multirun").iterdir()
    assert len([p for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]) == 2  # two jobs (process ids)
    assert "folds [0, 1] done" in capsys.readouterr().out
