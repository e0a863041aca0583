"""EMERSK's context module: the scene with the agent masked out, through a CNN.

x (B, K, C, S, S) context frames (agent box blacked out by the data module), mask (B, K) ->
g_k = CNN(frame_k); out = Linear(sum_k softmax_k(w . g_k) g_k) over the present frames -> (B, 1, out_dim).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mmer.model.backbones.base import BackboneInput
from mmer.model.backbones.layers import weighted_average
from mmer.model.backbones.utterance import UtteranceFrames


class ContextCNN(UtteranceFrames):
    """The same encoder as :class:`~mmer.model.backbones.utterance.UtteranceFrames` (per-frame CNN, learned weighted
    average, projection), over one set of K frames per sample with a presence mask per frame."""

    INPUT = BackboneInput("(B, K, C, H, W)", what="K context crops (the person masked out)")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.rand(batch, steps, 3, 16, 16), {"in_dim": 3}

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.proj(weighted_average(self.cnn, self.score, x, mask)).unsqueeze(1)
