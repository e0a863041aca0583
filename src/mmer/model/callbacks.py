"""Lightning callbacks the CV runner always adds (beside the configurable ``callbacks`` group).

:class:`RandomStates` makes a resumed fold exact: every checkpoint carries the python, numpy, torch and CUDA
random states of the moment it was written (at an epoch's end), and a fold resumed from it puts them back just
before its next epoch, so it draws the same shuffles, worker seeds and dropout masks as the uninterrupted run would have.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


def capture_random_states() -> dict[str, Any]:
    """The process's random states as plain tensors, lists and numbers (loadable with ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {"python": [version, list(internal), gauss], "torch": torch.get_rng_state(),
              "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                        "cached": float(cached)}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RandomStates(L.Callback):
    """Random states saved with every checkpoint and restored when training resumes from one."""

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return capture_random_states()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.pending = state_dict

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The latest hook before Lightning makes the resumed epoch's training iterator (in ``FitLoop.setup_data``,
        which draws its base seed and shuffle from these states); between the save and the next epoch's iterator
        an uninterrupted run draws nothing either. (A sanity check would draw: the runner runs none.)"""
        if self.pending is not None:
            restore_random_states(self.pending)
            self.pending = None
