"""Run folders written before the move into layers (``tests/data/run_0_1_0_*``, mmer 0.1.0 at c067985) keep
working: the same settings hash to the same folder and resume it, and evaluate, predict, explain, export and
merge-run read it, its saved ``_target_`` names migrated on load."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer.commands.evaluate import evaluate_run
from mmer.commands.explain import explain_run
from mmer.commands.export import export_run
from mmer.commands.predict import predict_files
from mmer.config.composer import compose
from mmer.cv import run_cv
from mmer.cv.merge_run import merge_run
from mmer.runs import RunFolder, load_run
from mmer.runs.names import current_name, hashed_name
from tests.conftest import fixture_root

DATA = Path(__file__).parent / "data"
SYNTHETIC = ["experiment=jmt_synthetic", "data.num_subjects=6", "data.test_subjects=2", "++data.min_frames=120",
             "++data.max_frames=300", "data.window=100", "data.hop=60", "data.batch_size=4", "trainer.max_epochs=1",
             "trainer.enable_progress_bar=false", "logger=csv", "cv.folds=2", "data.num_folds=2",
             "model.fusion.d_model=16"]
#: stored run -> (its experiment's name, its config hash): the folder the same settings must find
STORED = {"run_0_1_0_synthetic": ("jmt_synthetic", "493512ab404b"), "run_0_1_0_ravdess": ("cnn_ravdess", "1a40faf15bfc")}


def copy_of(name: str, tmp_path: Path) -> Path:
    """A writable copy of a stored run under ``<tmp>/<experiment>/<hash>``, as ``paths.output_root=<tmp>`` names it."""
    experiment, run_hash = STORED[name]
    run = tmp_path / experiment / run_hash
    shutil.copytree(DATA / name, run)
    return run


@pytest.fixture(scope="module")
def old_synthetic(tmp_path_factory) -> Path:
    return copy_of("run_0_1_0_synthetic", tmp_path_factory.mktemp("old_runs"))


def scores(run: Path) -> dict[str, float]:
    return json.loads((run / "summary.json").read_text())


def test_names_moved_are_read_at_their_new_place_and_hashed_under_their_old_one():
    assert current_name("mmer.fusion.early.ConcatFusion") == "mmer.model.fusion.early.ConcatFusion"
    assert current_name("data_modules.meld.MeldDataModule") == "mmer.data_modules.meld.MeldDataModule"
    assert hashed_name("mmer.model.backbones.speech.LogMelCNN") == "mmer.backbones.speech.LogMelCNN"
    assert hashed_name("torch.optim.AdamW") == "torch.optim.AdamW"


def test_the_same_settings_find_the_old_folder_and_resume_it(tmp_path):
    run = copy_of("run_0_1_0_synthetic", tmp_path)
    before = scores(run)
    shutil.rmtree(run / "fold1")  # as if the old job was killed before fold 1
    result = run_cv(compose([*SYNTHETIC, f"paths.output_root={tmp_path}"]))
    assert result.run_dir == run  # the hash did not move with the modules
    assert [f.status for f in result.folds] == ["cached", "trained"]
    assert result.summary["fold0/val/ccc_mean"] == pytest.approx(before["fold0/val/ccc_mean"], abs=1e-12)
    assert RunFolder(run).fold(1).state == "done"


def test_an_old_run_loads_evaluates_explains_exports_and_merges(old_synthetic, tmp_path):
    loaded = load_run(old_synthetic)
    assert loaded.cfg.model.fusion._target_ == "mmer.model.fusion.joint_transformer.JointTransformerFusion"
    before = scores(old_synthetic)
    summary, _ = evaluate_run(old_synthetic, name="again")
    assert summary["cv/ccc_mean"] == pytest.approx(before["cv/ccc_mean"], abs=1e-6)  # the same models, the same data
    out = explain_run(old_synthetic, "val", max_plots=1)
    assert len((out / "explanations.jsonl").read_text().splitlines()) > 0
    assert export_run(old_synthetic, fold=0, out=tmp_path / "fold0.pt").stat().st_size > 0
    merged = merge_run(old_synthetic)
    assert merged.summary["cv/ccc_mean"] == pytest.approx(before["cv/ccc_mean"], abs=1e-6)  # read back from CSV


def test_an_old_run_predicts_new_files(tmp_path, tmp_path_factory):
    root = fixture_root("ravdess", tmp_path_factory)
    run = copy_of("run_0_1_0_ravdess", tmp_path)
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(root / "Actor_06" / "03-01-05-02-01-01-06.wav", new / "take.wav")
    out = predict_files(run, [new], out=tmp_path / "pred", overrides=[f"data.root={root}"])
    rows = (out / "take.csv").read_text().splitlines()
    probs = np.array(rows[1].split(",")[1:-1], float)
    assert probs.shape == (8,) and abs(probs.sum() - 1) < 1e-4
