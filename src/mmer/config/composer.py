"""Composing experiment configs with Hydra's compose API (from the config root of :mod:`mmer.config.paths`) into a
config made ready to run. Hydra is imported inside the functions: the model code runs where Hydra is not
installed (the GPU image)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmer.config.paths import config_dir
from mmer.config.schema import check_schema
from mmer.core.errors import ConfigError
from mmer.evaluation.evaluator import default_monitor


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
        message = " ".join(str(exc).split("\nConfig search path")[0].split())  # the search-path dump is noise here
        raise ConfigError(f"config error: {message}") from None
    return finish(cfg)


def is_hydra_setting(override: str) -> bool:
    """``hydra.sweep.dir=...``, ``hydra/launcher=submitit_slurm``: Hydra's own settings, not mmer's."""
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def finish(cfg: Any) -> Any:
    """A composed config made ready to run: ``cv.monitor`` (null) set from the tabled head's task, resolved in
    place, an empty ``data_dir`` read as unset, every modality given a backbone and every setting checked against
    its declaration (what :func:`compose` and each ``mmer cv -m`` job do)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        if cfg.cv.get("monitor") is None:  # the tabled head's task says what stands for it (before ${cv.monitor}
            cfg.cv.monitor = default_monitor(cfg.model.heads, cfg.cv.get("head"))  # resolves, e.g. early stopping's)
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config error: {exc}") from None
    if cfg.get("data_dir") == "":  # `export DATA_DIR=` means unset; keep the config hash the same
        cfg.data_dir = None
    unknown = [m for m in cfg.model.modalities if m not in cfg.model.backbones]
    if unknown:
        raise ConfigError(f"model.modalities names {unknown} but model.backbones only has "
                          f"{list(cfg.model.backbones)}: add a backbone for it or drop it from model.modalities")
    check_schema(cfg)  # every setting against its declared type and range (mmer.config.schema)
    return cfg
