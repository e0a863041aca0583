"""Composing experiment configs with Hydra's compose API: the config root, the dataset -> experiment table, and a
composed config made ready to run. Hydra is imported inside the functions: the model code runs where Hydra is not
installed (the GPU image)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmer.core.errors import ConfigError
from mmer.evaluation.evaluator import default_monitor

REPO_ROOT = Path(__file__).resolve().parents[3]


def config_dir() -> Path:
    """The Hydra config root: ``$MMER_CONFIG_DIR``, else ``<repo>/experiments`` (a clone or an editable install),
    else the copy inside an installed wheel (``mmer.experiments``)."""
    if "MMER_CONFIG_DIR" in os.environ:
        path = Path(os.environ["MMER_CONFIG_DIR"])
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"MMER_CONFIG_DIR={path} has no config.yaml: point it at an experiments/ folder")
        return path
    for path in (REPO_ROOT / "experiments", Path(__file__).resolve().parents[1] / "experiments"):
        if (path / "config.yaml").is_file():
            return path
    raise ConfigError(f"no experiments/config.yaml beside {REPO_ROOT} and none inside the installed mmer: "
                      f"reinstall mmer or set MMER_CONFIG_DIR to an experiments/ folder")


def available(group: str) -> list[str]:
    """Names of the configs of a group, e.g. ``available("model/fusion")``."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def default_experiment(dataset: str) -> str:
    from omegaconf import OmegaConf

    table = OmegaConf.to_container(OmegaConf.load(config_dir() / "datasets.yaml"))
    if dataset not in table:
        raise ConfigError(f"unknown DATASET '{dataset}': known datasets are {sorted(table)} "
                          f"(experiments/datasets.yaml maps each to its default experiment)")
    return table[dataset]


def compose(overrides: Sequence[str] = ()) -> Any:
    """Compose ``experiments/config.yaml`` with Hydra overrides; a bad override stops with Hydra's own message."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    hydra_keys = [o for o in overrides if is_hydra_setting(o)]
    if hydra_keys:  # Hydra's own settings never reach a single job: say so rather than ignore them
        raise ConfigError(f"{hydra_keys[0]}: a single `mmer cv` does not run under Hydra's job runner, so hydra "
                          f"settings have no effect; the run folder is <paths.output_root>/<name>/<config hash> (set "
                          f"paths.output_root=DIR). Launchers and hydra.sweep.* apply to multirun: `mmer cv -m ...`")
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        message = str(exc).split("\nConfig search path")[0].strip()  # the search-path dump is noise here
        raise ConfigError(f"config error: {message}") from None
    return finish(cfg)


def is_hydra_setting(override: str) -> bool:
    """``hydra.sweep.dir=...``, ``hydra/launcher=submitit_slurm``: Hydra's own settings, not mmer's."""
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def finish(cfg: Any) -> Any:
    """A composed config made ready to run: resolved in place, an empty ``data_dir`` read as unset, every
    modality given a backbone, and ``cv.monitor`` (null) set from the tabled head's task (what :func:`compose` and each ``mmer cv -m`` job do)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config error: {exc}") from None
    if cfg.get("data_dir") == "":  # `export DATA_DIR=` means unset; keep the config hash the same
        cfg.data_dir = None
    unknown = [m for m in cfg.model.modalities if m not in cfg.model.backbones]
    if unknown:
        raise ConfigError(f"model.modalities names {unknown} but model.backbones only has "
                          f"{list(cfg.model.backbones)}: add a backbone for it or drop it from model.modalities")
    if cfg.cv.get("monitor") is None:  # the tabled head's task says what stands for it
        cfg.cv.monitor = default_monitor(cfg.model.heads, cfg.cv.get("head"))
    return cfg
