"""Before a CV job trains: its data module built and checked, its run folder named, a fold's starting weights."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from mmer.config.build import prepare_datamodule
from mmer.config.devices import world_size
from mmer.core.errors import ConfigError
from mmer.data.base import FoldedDataModule
from mmer.data.identity import data_fingerprint
from mmer.runs.folder import RunFolder
from mmer.runs.provenance import config_hash

log = logging.getLogger(__name__)


def run_dir_for(cfg: Any, dm: FoldedDataModule | None = None) -> Path:
    """``<paths.output_root>/<name>/<hash>``: the hash of what the run computes (:func:`mmer.runs.provenance.config_hash`),
    of its dataset's fingerprint instead of its path (:mod:`mmer.data.identity`), so that a copy of the data
    elsewhere finds the same folder, and of the processes per optimizer step when there are several
    (:func:`mmer.config.devices.world_size`; which devices, the strategy and the accelerator are not hashed).
    ``dm``: the set-up data module (built here when not given)."""
    if dm is None:
        dm = prepare_datamodule(cfg)
    container = OmegaConf.to_container(cfg, resolve=True)
    container["data_fingerprint"] = data_fingerprint(dm)
    world = world_size(cfg.trainer)
    if world > 1:  # data.batch_size is per device: N processes step on N batches (one process: no key, same hash)
        container["world_size"] = world
    return Path(cfg.paths.output_root) / str(cfg.name) / config_hash(container)


def prepare(cfg: Any) -> tuple[FoldedDataModule, RunFolder]:
    """Build and check the data module (every bad-input check happens here, before any training or writing) and
    name the run folder."""
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint file (give a best.ckpt of a run folder)")
    dm = prepare_datamodule(cfg)
    if cfg.cv.folds != "loso" and dm.num_folds != cfg.cv.folds:
        raise ConfigError(f"data.num_folds={dm.num_folds} differs from cv.folds={cfg.cv.folds}")
    return dm, RunFolder(run_dir_for(cfg, dm))


def start_from(model: Any, path: Path) -> None:
    """Load the weights of checkpoint ``path`` (``ckpt_path=``: Lightning's ``state_dict``, or a bare state dict) into
    a fold's fresh model; every key must match (a model of another architecture is refused with the differences)."""
    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"ckpt_path={path} does not fit this experiment's model: {len(missing)} weights missing "
                          f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})")
    log.info("fold weights start from %s", path)
