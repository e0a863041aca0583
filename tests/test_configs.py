"""Every YAML composes, every sweep parameter is a valid override, bad names fail with a clear message."""

import pytest

from mmer.commands.sweep_local import fixed_overrides, load_sweep, propose
from mmer.config.composer import compose
from mmer.config.paths import available, config_dir, default_experiment
from mmer.core.errors import ConfigError

GROUP_OVERRIDES = [f"data={n}" for n in available("data")] + \
    [f"model/fusion={n}" for n in available("model/fusion")] + \
    [f"model/head@model.heads.va={n}" for n in available("model/head")] + \
    [f"model/optimizer={n}" for n in available("model/optimizer")] + \
    [f"model/scheduler={n}" for n in available("model/scheduler")] + \
    [f"trainer={n}" for n in available("trainer")] + [f"logger={n}" for n in available("logger")] + \
    [f"cv={n}" for n in available("cv")]


@pytest.mark.parametrize("experiment", available("experiment"))
def test_every_experiment_composes(experiment):
    cfg = compose([f"experiment={experiment}"])
    assert cfg.name == experiment  # each experiment names its own run folder
    assert set(cfg.model.modalities) <= set(cfg.model.backbones)


@pytest.mark.parametrize("override", GROUP_OVERRIDES)
def test_every_group_option_composes(override):
    compose([override])


@pytest.mark.parametrize("backbone", available("model/backbone"))
def test_every_backbone_option_composes(backbone):
    cfg = compose([f"model/backbone@model.backbones.visual={backbone}"])
    assert cfg.model.backbones.visual._target_


def test_every_dataset_maps_to_an_existing_experiment():
    from omegaconf import OmegaConf

    table = OmegaConf.load(config_dir() / "datasets.yaml")
    for dataset in table:
        assert default_experiment(dataset) in available("experiment")
    with pytest.raises(ConfigError, match="unknown DATASET 'nope'"):
        default_experiment("nope")


@pytest.mark.parametrize("sweep", sorted((config_dir() / "sweeps").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_sweep_parameter_is_a_valid_override(sweep):
    spec = load_sweep(sweep)
    base = fixed_overrides(spec)
    assert any(o.startswith("experiment=") for o in base), "a sweep must name its experiment in its command"
    cfg = compose(base)
    for key, param in spec["parameters"].items():
        for value in param.get("values", []):
            composed = compose([*base, f"{key}={value}"])
            assert composed[key.split(".")[0]] is not None
            assert _get(composed, key) == value, key
        assert _get(cfg, key) is not None, f"{key} is not an existing config key"
    # points proposed by W&B's sweeps engine (schema-validated) compose too
    history = []
    for _ in range(3):
        run = propose(spec, history)
        overrides = [f"{k}={v['value']}" for k, v in run.config.items()]
        compose([*base, *overrides])


def _get(cfg, dotted):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def test_unknown_component_is_a_clear_error():
    with pytest.raises(ConfigError, match="(?s)nope.*Available options.*joint_transformer"):
        compose(["model/fusion=nope"])
    with pytest.raises(ConfigError, match="model.modalities names \\['eye'\\]"):
        compose(["model.modalities=[visual,eye]"])


def test_unknown_target_class_is_a_clear_error():
    with pytest.raises(ConfigError, match="data._target_=mmer.data_modules.synthetic.Nope: no such component"):
        compose(["data._target_=mmer.data_modules.synthetic.Nope"])


def test_option_of_another_component_is_a_clear_error():
    with pytest.raises(ConfigError, match="model.fusion.l2_normalize: ConcatFusion has no setting 'l2_normalize'"):
        compose(["model/fusion=concat", "++model.fusion.l2_normalize=true"])


@pytest.mark.parametrize("override,message", [
    ("cv.folds=1", "cv.folds=1: a single fold"), ("data.batch_size=0", "data.batch_size=0"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0"), ("model.optimizer.lr=-1", "model.optimizer.lr=-1: expected "),
    ("model.mixup=-0.2", "model.mixup=-0.2: expected a number >= 0")])
def test_impossible_settings_stop_in_one_line_before_any_folder(override, message, tmp_path, capsys):
    from mmer.cli import main

    assert main(["cv", override, "logger=csv", f"paths.output_root={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists()
