"""EMERSK's posture and gait modules: body keypoints -> a CNN over joints per frame -> statistics or an LSTM.

Input x (B, T, J * 3): per frame J joints (x, y, confidence), already body-normalised by the data module (centred
on the mid-hip, divided by the torso length; undetected joints are 0); mask (B, T) False where no pose was matched.

    g_t = Linear(flatten(Conv1d over the J joints (channels x, y, confidence)))          (B, T, hidden)
    posture (temporal="stats"):  out = Linear([mean_t g_t, std_t g_t])  over frames with a pose
    gait    (temporal="lstm"):   h_t = LSTM(g_1..T) (missing frames enter as 0); out = Linear(mean_t h_t over frames
                                 with a pose)
    -> ReLU -> Dropout: (B, 1, out_dim); a sample with no pose at all gives 0.

Gait weights pre-trained on E-Gait (``experiment=emersk_egait``) load with ``weights=<run>/fold0/checkpoints/
best.ckpt`` (the gait backbone's part of the checkpoint is picked out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from mmer.model.backbones.base import BackboneInput
from mmer.model.backbones.utterance import Pretrainable


class PoseSequence(Pretrainable):
    """Args: in_dim: J * 3 values per frame. channels: Conv1d widths over joints. hidden: per-frame feature size
    (and LSTM size). temporal: ``lstm`` (gait: the sequence) or ``stats`` (posture: single-frame statistics)."""

    INPUT = BackboneInput("(B, T, 54)", what="18 joints x (x, y, confidence) per frame")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps, 54), {"in_dim": 54}

    def __init__(self, in_dim: int = 54, channels: Sequence[int] = (32, 64), hidden: int = 64, out_dim: int = 128,
                 temporal: Literal["lstm", "stats"] = "lstm", dropout: float = 0.1, weights: str | None = None,
                 freeze: bool = False) -> None:
        super().__init__()
        if in_dim % 3:
            raise ValueError(f"PoseSequence: in_dim={in_dim} is not joints x 3 (x, y, confidence)")
        if temporal not in ("lstm", "stats"):
            raise ValueError(f"PoseSequence: temporal={temporal!r}; choose 'lstm' (gait) or 'stats' (posture)")
        self.joints, self.temporal = in_dim // 3, temporal
        layers, c_in = [], 3
        for c in channels:
            layers += [nn.Conv1d(c_in, c, 3, padding=1), nn.GroupNorm(1, c), nn.ReLU()]
            c_in = c
        self.joint_cnn = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * self.joints, hidden), nn.ReLU())
        if temporal == "lstm":
            self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
            summary = hidden
        else:
            summary = 2 * hidden
        self.proj = nn.Sequential(nn.Linear(summary, out_dim), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim
        self._init_weights(weights, freeze)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, _ = x.shape
        w = mask.unsqueeze(-1).to(x.dtype)
        frames = (x * w).reshape(b * t, self.joints, 3).transpose(1, 2)  # (B T, 3, J)
        g = self.joint_cnn(frames).view(b, t, -1) * w
        n = w.sum(1).clamp_min(1.0)
        if self.temporal == "lstm":
            h, _ = self.lstm(g)
            summary = (h * w).sum(1) / n
        else:
            mean = g.sum(1) / n
            std = (((g - mean.unsqueeze(1)) ** 2 * w).sum(1) / n).clamp_min(1e-8).sqrt()
            summary = torch.cat([mean, std], -1)
        present = mask.any(1, keepdim=True).to(x.dtype)
        return (self.proj(summary) * present).unsqueeze(1)
