"""From loaded items to batch tensors: one modality's slice as the batch carries it, padding, stacking."""

from __future__ import annotations

import numpy as np
import torch

from mmer.data.records import ModalitySpec


def window_input(x: np.ndarray, spec: ModalitySpec) -> np.ndarray:
    """One item's slice of a modality as the batch carries it: token ids int64; uint8 pixel frames as they are
    (scaled to [0, 1] on the device); everything else float32 times ``spec.scale``."""
    if spec.kind == "tokens":
        return np.asarray(x, np.int64)
    if spec.kind == "frames" and x.dtype == np.uint8 and abs(spec.scale - 1 / 255) < 1e-12:
        return np.array(x, copy=True)
    x = np.array(x, dtype=np.float32)
    if spec.scale != 1.0:
        x *= np.float32(spec.scale)
    return x


def pad_to(x: np.ndarray, length: int) -> np.ndarray:
    if len(x) >= length:
        return x[:length]
    pad = np.zeros((length - len(x),) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad])


def stack_items(items: list[dict]) -> tuple[dict, dict, dict, dict]:
    """Stack item dicts (windows or samples) into batch tensors: inputs, masks, targets, target masks, each
    {name: (B, ...)}. A modality missing from some items is zeros with mask False."""
    modalities = sorted({m for it in items for m in it["inputs"]})
    inputs, masks = {}, {}
    for m in modalities:
        ref = next(it for it in items if m in it["inputs"])
        inputs[m] = torch.from_numpy(np.stack([it["inputs"].get(m, np.zeros_like(ref["inputs"][m])) for it in items]))
        masks[m] = torch.from_numpy(np.stack([it["masks"].get(m, np.zeros_like(ref["masks"][m])) for it in items]))
    targets = {k: torch.from_numpy(np.stack([it["targets"][k] for it in items])) for k in items[0]["targets"]}
    tmasks = {k: torch.from_numpy(np.stack([it["target_masks"][k] for it in items])) for k in items[0]["target_masks"]}
    return inputs, masks, targets, tmasks
