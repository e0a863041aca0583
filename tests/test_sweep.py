"""The offline sweep runner drives the same YAML through W&B's sweeps engine."""

import pytest
import yaml

from mmer.commands.sweep_local import run_local_sweep
from mmer.config.composer import compose


def test_grid_sweep_runs_every_point_then_stops(tmp_path):
    spec = {"method": "grid", "metric": {"name": "cv/ccc_mean", "goal": "maximize"},
            "parameters": {"model.fusion.depth": {"values": [1, 2]}, "model.fusion.heads": {"values": [2, 4]}},
            "command": ["${env}", "${interpreter}", "-m", "mmer.cli", "cv", "experiment=jmt_synthetic",
                        "${args_no_hyphens}"]}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    seen = []

    def objective(overrides):
        cfg = compose(overrides)  # every proposed point must be a valid override
        seen.append((cfg.model.fusion.depth, cfg.model.fusion.heads))
        return cfg.model.fusion.depth * 0.1 + cfg.model.fusion.heads * 0.01

    results = run_local_sweep(path, count=10, objective=objective)
    assert sorted(seen) == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert len(results) == 4 and max(v for _, v in results) == pytest.approx(0.24)


def test_bayes_sweep_proposes_valid_points_from_history():
    from mmer.config.paths import config_dir

    values = []
    results = run_local_sweep(config_dir() / "sweeps/jmt_synthetic.yaml", count=4,
                              objective=lambda o: values.append(compose(o).model.optimizer.lr) or values[-1] * 100)
    assert len(results) == 4 and all(1e-4 <= v <= 3e-3 for v in values)


@pytest.mark.slow
def test_one_real_offline_trial(tmp_path):
    from mmer.config.paths import config_dir
    from tests.conftest import TINY

    results = run_local_sweep(config_dir() / "sweeps/jmt_synthetic.yaml", count=1,
                              extra=[*TINY, "cv.folds=2", f"paths.output_root={tmp_path}"])
    assert len(results) == 1 and -1 <= results[0][1] <= 1
