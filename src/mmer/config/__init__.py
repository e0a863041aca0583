"""The config layer: where the configs are (:mod:`~mmer.config.paths`), composing them with Hydra
(:mod:`~mmer.config.composer`), checking them before anything runs (:mod:`~mmer.config.checks`,
:mod:`~mmer.config.devices`, :mod:`~mmer.config.trust`) and building objects from them (:mod:`~mmer.config.build`).
Only the quick part is imported here: composing reads the task registry (torchmetrics), building the model."""

from mmer.config.paths import available, config_dir, default_experiment

__all__ = ["available", "config_dir", "default_experiment"]
