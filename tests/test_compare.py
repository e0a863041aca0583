"""Seeds and paired comparisons of finished runs (``mmer summarize``, ``mmer compare``) on tiny synthetic runs that
differ only in the seed: the aggregate and the paired statistics come out of the runs' own predictions and agree
with their summaries; runs that differ in more, or were scored on other items, are refused in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from mmer.cli import main
from mmer.commands.compare import compare_runs
from mmer.commands.summarize import summarize_runs
from mmer.core.errors import ConfigError
from mmer.evaluation.stats import seed_interval


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory):
    from mmer.config.composer import compose
    from mmer.cv import run_cv
    from tests.conftest import TINY

    out = tmp_path_factory.mktemp("seed_runs")
    runs = [run_cv(compose([*TINY, "cv.folds=2", "trainer.max_epochs=1", f"seed={s}", f"data.seed={d}",
                           f"paths.output_root={out}"]))
            for s, d in ((0, 0), (1, 0), (0, 1))]  # the third: other generated data
    yield runs
    shutil.rmtree(out, ignore_errors=True)


def test_summarize_gives_each_seed_and_the_t_interval(seed_runs, tmp_path, capsys):
    result = summarize_runs([r.run_dir for r in seed_runs[:2]])
    assert result["seeds"] == [0, 1]
    for key in ("cv/oof_ccc_mean", "cv/ccc_mean"):
        values = [r.summary[key] for r in seed_runs[:2]]
        got = result["scores"][key]
        assert got["mean"] == pytest.approx(np.mean(values)) and got["ci"] == pytest.approx(seed_interval(values)["ci"])
        assert [r["value"] for r in got["runs"]] == values
    assert not any(k.startswith(("cv/val_", "cv/fold_mean_", "time/")) for k in result["scores"])
    assert main(["summarize", *map(str, (r.run_dir for r in seed_runs[:2])), "--json", str(tmp_path / "s.json")]) == 0
    written = json.loads((tmp_path / "s.json").read_text())
    assert set(written["scores"]["cv/ccc_mean"]) == {"mean", "std", "ci", "n", "runs"}


def test_summarize_refuses_runs_that_differ_in_more_than_the_seed(seed_runs, tmp_path):
    other = shutil.copytree(seed_runs[1].run_dir, tmp_path / "other")
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["model"]["optimizer"]["lr"] = 0.5
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"differ in more than the seed: model.optimizer.lr: .* vs 0.5"):
        summarize_runs([seed_runs[0].run_dir, other])
    with pytest.raises(ConfigError, match="given twice"):
        summarize_runs([seed_runs[0].run_dir, seed_runs[0].run_dir])


def test_a_run_compared_with_itself_gives_zero_and_p_one_and_its_own_scores(seed_runs):
    run = seed_runs[0]
    diffs = compare_runs([run.run_dir], [run.run_dir], n_resamples=50, n_permutations=200)
    assert {"cv/oof_ccc_mean", "cv/ccc_mean"} <= set(diffs)
    for key, d in diffs.items():
        assert (d.diff, d.ci, d.p) == (0.0, (0.0, 0.0), 1.0), key
        assert d.a == pytest.approx(run.summary[key], abs=1e-6), key  # the run's own numbers, from its files


def test_compare_two_seeds_writes_the_json_and_the_plot(seed_runs, tmp_path):
    a, b = (str(r.run_dir) for r in seed_runs[:2])
    code = main(["compare", a, b, "--unit", "group", "--resamples", "100", "--permutations", "300",
                 "--json", str(tmp_path / "c.json"), "--plot", str(tmp_path / "c.png")])
    assert code == 0 and (tmp_path / "c.png").stat().st_size > 0
    scores = json.loads((tmp_path / "c.json").read_text())["scores"]
    d = scores["cv/oof_ccc_mean"]
    assert set(d) == {"a", "b", "diff", "ci", "p", "unit", "n_units"} and d["unit"] == "group"
    assert d["diff"] == pytest.approx(d["b"] - d["a"]) and d["ci"][0] <= d["ci"][1] and 0 < d["p"] <= 1
    assert d["a"] == pytest.approx(seed_runs[0].summary["cv/oof_ccc_mean"], abs=1e-6)


def test_runs_scored_on_other_items_are_refused(seed_runs, tmp_path, capsys):
    other = shutil.copytree(seed_runs[1].run_dir, tmp_path / "other")
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["data"]["test_subjects"] = 3  # another held-out partition
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="scored on different data|hold out different recordings|do not fit this data"):
        compare_runs([seed_runs[0].run_dir], [other], n_resamples=10, n_permutations=10)
    assert main(["compare", str(seed_runs[0].run_dir), str(other)]) != 0
    assert "error:" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"scored on different data \(dataset fingerprints"):
        compare_runs([seed_runs[0].run_dir], [seed_runs[2].run_dir], n_resamples=10, n_permutations=10)
    with pytest.raises(ConfigError, match="differ in more than the seed: data.seed: 0 vs 1|on different data"):
        summarize_runs([seed_runs[0].run_dir, seed_runs[2].run_dir])


def test_ablation_variants_follow_the_experiments_modalities():
    from mmer.commands.ablation import variants_of

    assert variants_of(["eda", "bvp"]) == {"full model (eda + bvp)": [], "concat fusion (eda + bvp)": ["model/fusion=concat"],
                                           "eda only": ["model.modalities=[eda]"], "bvp only": ["model.modalities=[bvp]"]}


def test_every_result_states_its_protocol(seed_runs):
    run = seed_runs[0].run_dir
    protocol = json.loads((run / "summary.json").read_text())["protocol"]
    assert protocol["evaluation"] == "2-fold CV grouped by subject (4 groups)"
    assert protocol["held_out"].startswith("2 recordings of 2 subjects") or "subjects, never trained on" in \
        protocol["held_out"]
    assert protocol["seeds"] == 1 and protocol["seed"] == 0 and "val/ccc_mean (max)" in protocol["checkpoint"]
    assert "concordance" in protocol["metrics"] and "valence" in protocol["metrics"]
    table = (run / "table.txt").read_text()
    assert "protocol: 2-fold CV grouped by subject" in table and "scores: Lin's concordance" in table


def test_every_data_module_names_what_its_folds_group_by():
    import importlib
    import inspect
    import pkgutil

    import mmer.data_modules as package
    from mmer.data.base import FoldedDataModule

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, FoldedDataModule) and cls.__module__ == module.__name__:
                found[cls.__name__] = cls
    assert len(found) >= 10
    for name, cls in found.items():
        source = inspect.getsource(cls)
        assert cls.group_unit != "group" or "self.group_unit =" in source, f"{name} does not name its group_unit"
