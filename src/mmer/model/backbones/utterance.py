"""Utterance-level audio and visual backbones for conversation datasets (M2FNet on MELD clips).

Each utterance of a dialogue carries a fixed-size clip summary made by the data module: a log-mel spectrogram
(R rows x n_mels) and K frames. These backbones map every present utterance to one vector; absent utterances
(no clip, corrupt clip, padding) are 0 and never computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmer.model.backbones.base import Backbone, BackboneInput
from mmer.model.backbones.layers import conv_stack, weighted_average
from mmer.model.backbones.pretrained import load_local_weights


class Pretrainable(Backbone):
    """``weights``: a state dict saved by ``mmer pretrain`` (the triplet stage) or any local file that fits;
    ``freeze``: keep those weights fixed (no gradients, eval mode)."""

    frozen: bool = False

    def _init_weights(self, weights: str | None, freeze: bool) -> None:
        if weights:
            load_local_weights(self, weights, type(self).__name__)
        self.frozen = freeze
        if freeze:
            self.requires_grad_(False)
            self.eval()

    def train(self, mode: bool = True):
        return super().train(mode and not self.frozen)


def _per_present(x: Tensor, mask: Tensor, fn, out_dim: int) -> Tensor:
    """Apply ``fn`` to the present utterances x[mask] (N, ...) -> (N, out_dim), scattered back to (B, T, out_dim)."""
    out = x.new_zeros(*mask.shape, out_dim, dtype=x.dtype if x.is_floating_point() else None)
    if mask.any():
        y = fn(x[mask])
        out = out.to(y.dtype)
        out[mask] = y
    return out


class UtteranceMelCNN(Pretrainable):
    """x (B, T, R, n_mels) log-mel per utterance -> 2D CNN -> global average pool -> Linear -> (B, T, out_dim)."""

    INPUT = BackboneInput("(B, U, R, M)", what="per utterance: R log-mel rows of M bands")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps, 40, 16), {"in_dim": 16}

    def __init__(self, in_dim: int, channels: Sequence[int] = (16, 32, 64), out_dim: int = 128,
                 dropout: float = 0.1, weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        self.cnn, c = conv_stack(1, channels)
        self.proj = nn.Sequential(nn.Linear(c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.norm = nn.InstanceNorm2d(1)  # per-utterance level normalisation of the spectrogram
        self.out_dim = out_dim
        self._init_weights(weights, freeze)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return _per_present(x, mask, lambda s: self.proj(self.cnn(self.norm(s.unsqueeze(1)))), self.out_dim)


class UtteranceFrames(Pretrainable):
    """x (B, T, K, C, H, W) frames per utterance -> per-frame CNN (B, T, K, c) -> learned weighted average over the
    K frames (weights softmax_k(w . f_k)) -> Linear -> (B, T, out_dim). The M2FNet visual stream averages faces
    with learned weights; without a face detector the frames are whole scenes (the scene stream)."""

    INPUT = BackboneInput("(B, U, K, C, H, W)", what="per utterance: K frames")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.rand(batch, steps, 3, 3, 16, 16), {"in_dim": 3}

    def __init__(self, in_dim: int = 3, channels: Sequence[int] = (16, 32, 64), out_dim: int = 128,
                 dropout: float = 0.1, weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        self.cnn, c = conv_stack(in_dim, channels)
        self.score = nn.Linear(c, 1)
        self.proj = nn.Sequential(nn.Linear(c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim
        self._init_weights(weights, freeze)

    def _encode(self, frames: Tensor) -> Tensor:  # (N, K, C, H, W) -> (N, out_dim)
        return self.proj(weighted_average(self.cnn, self.score, frames))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return _per_present(x, mask, self._encode, self.out_dim)


class UtteranceFacesScene(Pretrainable):
    """M2FNet's visual stream: x (B, T, K + F, C, H, W) per utterance = K scene frames then F face-crop slots (an
    all-zero slot = no face; ``data.faces_dir``).

        scene = sum_k softmax_k(w_s . g_k) g_k,        g_k = SceneCNN(frame_k)
        face  = sum_f softmax_f(w_f . c_f) c_f,        c_f = FaceCNN(face_f), over the present faces only (0 if none)
        out   = Linear(concat[scene, face]) -> ReLU -> Dropout                                  (B, T, out_dim)

    With F = 0 (no face crops given) the face half is 0 and the stream is the scene frames alone.

    Args:
        in_dim: image channels. scene_frames: K (``data.frames_per_clip``).
    """

    INPUT = BackboneInput("(B, U, K + F, C, H, W)", what="per utterance: K scene frames, then F face slots (all-zero: empty)")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        x = torch.rand(batch, steps, 4 + 2, 3, 16, 16)
        x[:, ::2, 5] = 0  # every other utterance has one face slot empty
        return x, {"in_dim": 3, "scene_frames": 4}

    def __init__(self, in_dim: int = 3, scene_frames: int = 4, channels: Sequence[int] = (16, 32, 64),
                 out_dim: int = 128, dropout: float = 0.1, weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        self.k = scene_frames
        self.scene, c = conv_stack(in_dim, channels)
        self.face, _ = conv_stack(in_dim, channels)
        self.scene_score, self.face_score = nn.Linear(c, 1), nn.Linear(c, 1)
        self.proj = nn.Sequential(nn.Linear(2 * c, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim
        self._init_weights(weights, freeze)

    def _encode(self, x: Tensor) -> Tensor:  # (N, K + F, C, H, W) -> (N, out_dim)
        scene, faces = x[:, :self.k], x[:, self.k:]
        parts = [weighted_average(self.scene, self.scene_score, scene, scene.flatten(2).abs().amax(-1) > 0)]
        present = faces.flatten(2).abs().amax(-1) > 0 if faces.shape[1] else faces.new_zeros(len(x), 0, dtype=bool)
        parts.append(weighted_average(self.face, self.face_score, faces, present))
        return self.proj(torch.cat(parts, -1))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return _per_present(x, mask, self._encode, self.out_dim)
