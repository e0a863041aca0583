"""The Batch contract shared by every data module and the single LightningModule.

Shapes (B = batch, T_m = steps of modality m, T = label frames of a window):

- ``inputs[m]``: (B, T_m, ...) raw frames (B, T, C, H, W), waveform (B, S) or features (B, T_m, D). Frames
  may travel as uint8 pixel values (4x less to copy between loader processes and to the GPU);
  :func:`model_input` turns them into floats in [0, 1] on the device, so backbones always see floats.
- ``masks[m]``: (B, T_m) bool, True where modality m is present at that step. A modality missing from a
  sample is all False (never a crash).
- ``targets[name]``: per head: per-frame regression (B, T, D), class indices (B,) or (B, T), multi-label (B, K).
- ``target_masks[name]``: (B, T) or (B,), True where labelled (Aff-Wild2's -5 frames are False).
- ``meta``: side information. Every batch: ``recording`` (list of B recording ids: a video, a sample, a dialogue).
  Windowed data also: ``start`` (B,) the first step of each window and ``valid`` (B,) its unpadded steps (steps are
  frames, or utterances of a dialogue), ``num_frames`` (int) the window length. Datasets may add more (speakers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


def _move(value: Any, fn) -> Any:
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: _move(v, fn) for k, v in value.items()}
    return value


@dataclass
class Batch:
    inputs: dict[str, Tensor]
    masks: dict[str, Tensor]
    targets: dict[str, Tensor] = field(default_factory=dict)
    target_masks: dict[str, Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        first = next(iter(self.masks.values()))
        return first.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        def fn(t: Tensor) -> Tensor:
            return t.to(device, non_blocking=non_blocking)

        return Batch(*(_move(getattr(self, f), fn) for f in ("inputs", "masks", "targets", "target_masks", "meta")))

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True) on custom batch types."""

        def fn(t: Tensor) -> Tensor:
            return t.pin_memory()

        return Batch(*(_move(getattr(self, f), fn) for f in ("inputs", "masks", "targets", "target_masks", "meta")))

    def without(self, modality: str) -> Batch:
        """A copy where ``modality`` is absent: zero input, all-False mask (used by ablations and tests)."""
        inputs = dict(self.inputs)
        masks = dict(self.masks)
        inputs[modality] = torch.zeros_like(inputs[modality])
        masks[modality] = torch.zeros_like(masks[modality])
        return Batch(inputs, masks, self.targets, self.target_masks, self.meta)


def model_input(x: Tensor) -> Tensor:
    """A batch input as backbones take it: uint8 pixel values -> float32 / 255 (on x's device); others unchanged."""
    return x.float().mul_(1 / 255) if x.dtype == torch.uint8 else x
