"""The model layer: the one LightningModule (:mod:`~mmer.model.module`), heads, mixup, schedules, callbacks, the
description every checkpoint carries, per-modality backbones (:mod:`~mmer.model.backbones`) and fusions
(:mod:`~mmer.model.fusion`). It never imports config, runs, cv or commands: models are built one layer up
(:mod:`mmer.config.build`) and loaded by :mod:`mmer.runs`."""
