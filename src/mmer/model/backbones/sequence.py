"""Recurrent encoders for short per-sample sequences (EMERT's eye-movement and gaze streams).

x (B, S, D) resampled steps, mask (B, S) -> LSTM(D -> hidden, ``layers`` layers) -> (B, S, hidden); steps without
data enter as 0 and their outputs are 0 (the fusion masks them). The data module scales the features.
"""

from __future__ import annotations

from torch import Tensor, nn

from mmer.model.backbones.base import Backbone


class LSTMSequence(Backbone):
    def __init__(self, in_dim: int, hidden: int = 128, layers: int = 3, dropout: float = 0.1,
                 bidirectional: bool = False) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        w = mask.unsqueeze(-1).to(x.dtype)
        h, _ = self.lstm(x * w)
        return h * w
