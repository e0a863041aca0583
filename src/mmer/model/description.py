"""The model description every mmer checkpoint carries under :data:`DESCRIPTION_KEY`, in plain types only (so it
loads with ``weights_only=True``)::

    {"format": 1, "version": "0.1.0", "commit": "<git sha or null>",
     "config": <the resolved run config: model, data, cv, ...>,
     "input_spec": {modality: {kind, dim, rate, scale, length, span}},   # what the data gave the backbones
     "target_spec": {target: [dimension, class or label names]}}

:func:`mmer.runs.checkpoints.load_module` rebuilds the model from it alone.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import mmer
from mmer.core.versions import git_commit

DESCRIPTION_KEY = "mmer"
FORMAT = 1


def describe(config: dict[str, Any], input_spec: dict[str, Any], target_spec: dict[str, list[str]]) -> dict[str, Any]:
    """The description of a model built from ``config`` (the resolved run config as plain containers) for a data
    module's ``input_spec`` ({modality: ModalitySpec}) and ``target_spec`` ({target: names})."""
    return {"format": FORMAT, "version": mmer.__version__, "commit": git_commit(), "config": config,
            "input_spec": {m: asdict(spec) for m, spec in input_spec.items()},
            "target_spec": {t: list(names) for t, names in target_spec.items()}}
