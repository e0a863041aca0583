"""The ``mmer`` command line: help that lists what there is, overrides anywhere, quick config printing."""

import pytest

from mmer.cli import main


def test_help_lists_datasets_and_experiments(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "affwild2" in out and "jmt_affwild2_light" in out and "m2fnet_meld_av" in out and "emert_va" in out


def test_overrides_may_follow_options(monkeypatch, tmp_path):
    import mmer.commands.explain

    seen = {}
    monkeypatch.setattr(mmer.commands.explain, "explain_run", lambda run, split, fold, scene, anp, window, overrides:
                        seen.update(run=run, split=split, overrides=overrides))
    assert main(["explain", str(tmp_path), "--split", "test", "data.root=/elsewhere", "+data.extra=1"]) == 0
    assert seen == {"run": str(tmp_path), "split": "test", "overrides": ["data.root=/elsewhere", "+data.extra=1"]}


def test_unknown_options_and_stray_overrides_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--bogus"])
    assert exit_.value.code == 2 and "--bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["merge", "a.csv", "-o", "m.csv", "seed=1"])  # merge takes no overrides
    assert "seed=1" in capsys.readouterr().err


def test_config_prints_the_composed_config_and_refuses_what_would_not_run(capsys):
    """``mmer config`` checks every setting as a run would (mmer.config.schema imports the components to read their
    signatures), so what it prints is what runs."""
    assert main(["config", "seed=3"]) == 0
    assert "seed: 3" in capsys.readouterr().out
    assert main(["config", "model.fusion.depth=-1"]) == 2
    assert capsys.readouterr().err.strip() == "error: model.fusion.depth=-1: expected an integer >= 0"


@pytest.mark.slow
def test_an_installed_wheel_carries_the_experiments_and_runs_from_any_folder(tmp_path):
    """``pip install .`` (not editable) into a folder, then mmer from elsewhere: the configs come from the wheel."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", str(repo), "--target",
                    str(target)], check=True, cwd=tmp_path)
    assert len(list((target / "mmer" / "experiments").rglob("*.yaml"))) == len(list((repo / "experiments").rglob("*.yaml")))
    assert (target / "mmer" / "data_modules" / "meld.py").is_file() and not (target / "data_modules").exists()
    # every layer's package is in the wheel, and the data modules once (not again through src/mmer/data_modules)
    for package in ("core", "evaluation", "data", "model/backbones", "model/fusion", "config", "runs", "cv", "commands"):
        assert (target / "mmer" / package / "__init__.py").is_file(), package
    assert not (target / "mmer" / "data_modules").is_symlink()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target), "HOME": str(tmp_path)}
    shown = subprocess.run([sys.executable, "-m", "mmer.cli", "config", "experiment=lfan_affwild2"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert "name: lfan_affwild2" in shown and "style: reference" in shown
    where = subprocess.run([sys.executable, "-c", "import mmer.config as c; print(c.config_dir())"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(target)


def test_hydra_conventions_cfg_debug_fdr_and_hydra_keys(capsys, tmp_path):
    """``--cfg job`` prints and runs nothing; ``debug=fdr`` is one batch of one fold; a hydra.* override is refused,
    never silently ignored."""
    runs = tmp_path / "runs"
    assert main(["train", "--cfg", "job", f"paths.output_root={runs}", "model.fusion.depth=2"]) == 0
    shown = capsys.readouterr().out
    assert "name: jmt_synthetic" in shown and "depth: 2" in shown and not runs.exists()
    assert main(["cv", "experiment=concat_synthetic", "--cfg", "all"]) == 0 and "name: concat_synthetic" in capsys.readouterr().out
    assert main(["train", "debug=fdr", "data.num_subjects=6", "data.test_subjects=2", "++data.min_frames=120",
                 "++data.max_frames=300", "data.window=100", "data.hop=60", "logger=csv",
                 "trainer.enable_progress_bar=false", f"paths.output_root={runs}"]) == 0
    assert "train/loss" in capsys.readouterr().out and not runs.exists()
    assert main(["train", "hydra.run.dir=/tmp/elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "hydra.run.dir=/tmp/elsewhere: a single `mmer cv` does not run under Hydra's job runner" in err
    assert main(["cv", "hydra/launcher=submitit_slurm"]) == 2  # a launcher without -m: refused, not ignored
    assert "apply to multirun: `mmer cv -m" in capsys.readouterr().err
