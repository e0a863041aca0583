"""The config layer: composing Hydra configs (:mod:`~mmer.config.composer`), checking them before anything runs
(:mod:`~mmer.config.checks`, :mod:`~mmer.config.devices`, :mod:`~mmer.config.trust`) and building objects from
them (:mod:`~mmer.config.build`, which imports the model and Lightning, so it is not imported here: ``mmer config``
stays quick)."""

from mmer.config.composer import available, compose, config_dir, default_experiment, finish, is_hydra_setting

__all__ = ["available", "compose", "config_dir", "default_experiment", "finish", "is_hydra_setting"]
