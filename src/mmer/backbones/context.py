"""EMERSK's context module: the scene with the agent masked out, through a CNN.

x (B, K, C, S, S) context frames (agent box blacked out by the data module), mask (B, K) ->
g_k = CNN(frame_k); out = Linear(sum_k softmax_k(w . g_k) g_k) over the present frames -> (B, 1, out_dim).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from mmer.backbones.layers import conv_stack, weighted_average
from mmer.backbones.utterance import _Pretrainable


class ContextCNN(_Pretrainable):
    def __init__(self, in_dim: int = 3, channels: Sequence[int] = (16, 32, 64), out_dim: int = 128,
                 dropout: float = 0.1, weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        self.cnn, c = conv_stack(in_dim, channels)
        self.score = nn.Linear(c, 1)
        self.proj = nn.Sequential(nn.Linear(c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim
        self._init_weights(weights, freeze)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.proj(weighted_average(self.cnn, self.score, x, mask)).unsqueeze(1)
