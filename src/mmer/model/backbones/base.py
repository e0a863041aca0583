"""The backbone contract: ``forward(x, mask) -> (B, T', out_dim)`` with ``out_dim`` set by the constructor, and a
declaration of the input it reads, with an example, so that tests walk every backbone without guessing.

``x`` is the modality's tensor of the Batch (``(B, T, ...)``, each modality on its own time axis) and ``mask`` is
(B, T) over that axis, True where present; T' may differ from T (a spectrogram has its own frame rate, a clip
encoder one token per clip) and the module resamples the mask to T'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class BackboneInput:
    """What a backbone reads: the shape of its modality tensor by named axes, its dtype and what it holds."""

    shape: str
    dtype: Literal["float", "long"] = "float"
    what: str = "cached features, D = in_dim"


class Backbone(nn.Module):
    """Base of every backbone (module doc). Subclasses set ``INPUT`` and override :meth:`example` when they read
    anything but (B, T, in_dim) features."""

    INPUT: ClassVar[BackboneInput] = BackboneInput("(B, T, D)")
    #: its training-mode output for one item depends on the other items of the batch (BatchNorm statistics, packed
    #: sequences); tests compare items in eval mode then
    MIXES_BATCH_IN_TRAINING: ClassVar[bool] = False
    out_dim: int

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        """An input of :attr:`INPUT`'s shape and dtype, and the constructor arguments the builder passes with it
        (``in_dim`` from the data, plus any setting an experiment takes from its data config)."""
        return torch.randn(batch, steps, 16), {"in_dim": 16}
