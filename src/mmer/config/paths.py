"""Where the experiment configs are and what they offer, without composing anything (quick: ``mmer --help``
lists them): the config root, the configs of a group, the dataset -> default experiment table."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from mmer.core.errors import ConfigError

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
    table = OmegaConf.to_container(OmegaConf.load(config_dir() / "datasets.yaml"))
    if dataset not in table:
        raise ConfigError(f"unknown DATASET '{dataset}': known datasets are {sorted(table)} "
                          f"(experiments/datasets.yaml maps each to its default experiment)")
    return table[dataset]
