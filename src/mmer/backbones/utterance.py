"""Utterance-level audio and visual backbones for conversation datasets (M2FNet on MELD clips).

Each utterance of a dialogue carries a fixed-size clip summary made by the data module: a log-mel spectrogram
(R rows x n_mels) and K frames. These backbones map every present utterance to one vector; absent utterances
(no clip, corrupt clip, padding) are 0 and never computed.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def _conv_stack(c_in: int, channels: Sequence[int]) -> tuple[nn.Sequential, int]:
    layers = []
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GroupNorm(1, c), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c_in


def _per_present(x: Tensor, mask: Tensor, fn, out_dim: int) -> Tensor:
    """Apply ``fn`` to the present utterances x[mask] (N, ...) -> (N, out_dim), scattered back to (B, T, out_dim)."""
    out = x.new_zeros(*mask.shape, out_dim, dtype=x.dtype if x.is_floating_point() else None)
    if mask.any():
        y = fn(x[mask])
        out = out.to(y.dtype)
        out[mask] = y
    return out


class UtteranceMelCNN(nn.Module):
    """x (B, T, R, n_mels) log-mel per utterance -> 2D CNN -> global average pool -> Linear -> (B, T, out_dim)."""

    def __init__(self, in_dim: int, channels: Sequence[int] = (16, 32, 64), out_dim: int = 128,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.cnn, c = _conv_stack(1, channels)
        self.proj = nn.Sequential(nn.Linear(c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.norm = nn.InstanceNorm2d(1)  # per-utterance level normalisation of the spectrogram
        self.out_dim = out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return _per_present(x, mask, lambda s: self.proj(self.cnn(self.norm(s.unsqueeze(1)))), self.out_dim)


class UtteranceFrames(nn.Module):
    """x (B, T, K, C, H, W) frames per utterance -> per-frame CNN (B, T, K, c) -> learned weighted average over the
    K frames (weights softmax_k(w . f_k)) -> Linear -> (B, T, out_dim). The M2FNet visual stream averages faces
    with learned weights; without a face detector the frames are whole scenes (the scene stream)."""

    def __init__(self, in_dim: int = 3, channels: Sequence[int] = (16, 32, 64), out_dim: int = 128,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.cnn, c = _conv_stack(in_dim, channels)
        self.score = nn.Linear(c, 1)
        self.proj = nn.Sequential(nn.Linear(c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim

    def _encode(self, frames: Tensor) -> Tensor:  # (N, K, C, H, W) -> (N, out_dim)
        n, k = frames.shape[:2]
        f = self.cnn(frames.flatten(0, 1)).view(n, k, -1)
        w = self.score(f).softmax(1)
        return self.proj((w * f).sum(1))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return _per_present(x, mask, self._encode, self.out_dim)
