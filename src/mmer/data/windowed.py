"""Per-frame (continuous) datasets: items are windows of ``window`` label frames (docs/reference/definitions.md,
Windows). Training and prediction use overlapping windows (:func:`mmer.data.windows.window_starts`); validation
tiles each recording (hop = window, zero-padded last window) so every labelled frame is scored exactly once and the
epoch metrics equal the per-frame definition. Modality m has ``rate`` steps per label frame, so a window
[s, s + W) reads steps [s r, (s + W) r)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mmer.core.batch import Batch
from mmer.core.errors import ConfigError
from mmer.data.base import FoldedDataModule
from mmer.data.collate import pad_to, stack_items, window_input
from mmer.data.records import Recording
from mmer.data.windows import window_starts


class WindowDataset(Dataset):
    """(recording, start) pairs; each item is one window padded to ``window`` frames."""

    def __init__(self, dm: WindowedDataModule, recordings: Sequence[Recording], hop: int | None) -> None:
        self.dm = dm
        self.window = dm.window
        self.items: list[tuple[Recording, int]] = []
        for rec in recordings:
            if hop is None:  # tiling: every frame exactly once
                starts = list(range(0, rec.num_frames, self.window))
            else:
                starts = window_starts(rec.num_frames, self.window, hop, dm.align)
            self.items += [(rec, s) for s in starts]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        rec, start = self.items[i]
        item = self.dm.load(rec)
        w = self.window
        n_valid = min(w, rec.num_frames - start)
        out = {"recording": rec.id, "start": start, "valid": n_valid, "inputs": {}, "masks": {}, "targets": {},
               "target_masks": {}}
        for m, spec in self.dm.input_spec().items():
            if m not in item.inputs:
                continue
            lo, hi = start * spec.rate // spec.span, -(-(start + n_valid) * spec.rate // spec.span)
            x = window_input(item.inputs[m][lo:hi], spec)
            mask = item.input_masks.get(m)
            mask = np.ones(len(x), bool) if mask is None else np.asarray(mask[lo:hi], bool)
            steps = -(-w * spec.rate // spec.span)
            out["inputs"][m] = pad_to(x, steps)
            out["masks"][m] = pad_to(mask, steps)
        for name in self.dm.target_spec():
            out["targets"][name] = pad_to(np.asarray(item.targets[name][start:start + n_valid], np.float32), w)
            out["target_masks"][name] = pad_to(np.asarray(item.target_masks[name][start:start + n_valid], bool), w)
        return out


def collate_windows(items: list[dict]) -> Batch:
    """Stack window dicts into a :class:`~mmer.core.batch.Batch` with each window's recording, start and valid length."""
    inputs, masks, targets, tmasks = stack_items(items)
    meta = {"recording": [it["recording"] for it in items], "start": torch.tensor([it["start"] for it in items]),
            "valid": torch.tensor([it["valid"] for it in items]), "num_frames": len(next(iter(targets.values()))[0])}
    return Batch(inputs, masks, targets, tmasks, meta)


class WindowedDataModule(FoldedDataModule):
    """Base of per-frame (continuous) datasets: items are windows of ``window`` label frames.

    Args:
        window, hop: window length and hop in label frames (default 300 / 200); training and prediction use
            overlapping windows, validation/test tile each recording (every frame scored once).
        **folded: see :class:`FoldedDataModule`.
    """

    def __init__(self, window: int = 300, hop: int = 200, **folded) -> None:
        super().__init__(**folded)
        if window < 1 or hop < 1 or hop > window:
            raise ConfigError(f"data.window={window}, data.hop={hop}: need 1 <= hop <= window")
        self.window, self.hop = window, hop

    @property
    def align(self) -> int:
        """Window starts fall on multiples of this: the largest ``span`` of the modalities (1 for per-frame data)."""
        align = max(s.span for s in self.input_spec().values())
        if self.window % align or self.hop % align:
            raise ConfigError(f"data.window={self.window} and data.hop={self.hop} must be multiples of {align}, the "
                              f"frames per cached token of {[m for m, s in self.input_spec().items() if s.span == align]}")
        return align

    def validate(self) -> None:
        self.align  # noqa: B018  (raises if window/hop are off the sub-clip grid of cached tokens)
        longest = max(r.num_frames for r in self.recordings)
        if self.window > longest:
            raise ConfigError(f"data.window={self.window} is longer than every video (longest has {longest} "
                              f"frames): set data.window<={longest} (and data.hop<=data.window)")
        super().validate()

    def _loader(self, recordings: Sequence[Recording], mode: Literal["train", "eval", "predict"]) -> DataLoader:
        hop = None if mode == "eval" else self.hop  # eval tiles: every labelled frame exactly once
        return self._make_loader(WindowDataset(self, recordings, hop), collate_windows, mode)
