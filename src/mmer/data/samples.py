"""Sample-level datasets: one item = one whole recording (a 5.5 s BioVid trial, an EMER clip) with one label.

Each modality is padded (mask False) or cut to a fixed number of steps, ``ModalitySpec.length`` (so batches stack
and a backbone sees the same length in training and evaluation); targets are per sample: a class index (shape ())
or a vector (D,), with a scalar mask. A sample-level head's task scores them per sample: one prediction row per
recording, frame 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from torch.utils.data import DataLoader, Dataset

from mmer.core.batch import Batch
from mmer.core.errors import ConfigError
from mmer.data.base import FoldedDataModule
from mmer.data.collate import pad_to, stack_items, window_input
from mmer.data.records import Recording


class SampleDataset(Dataset):
    def __init__(self, dm: SampleDataModule, recordings: Sequence[Recording]) -> None:
        self.dm, self.recordings = dm, list(recordings)

    def __len__(self) -> int:
        return len(self.recordings)

    def __getitem__(self, i: int) -> dict:
        rec = self.recordings[i]
        item = self.dm.load(rec)
        out = {"recording": rec.id, "inputs": {}, "masks": {}, "targets": {}, "target_masks": {}}
        for m, spec in self.dm.input_spec().items():
            if m not in item.inputs:
                continue
            x = window_input(item.inputs[m], spec)
            mask = item.input_masks.get(m)
            mask = np.ones(len(x), bool) if mask is None else np.asarray(mask, bool)
            out["inputs"][m] = pad_to(x, spec.length)
            out["masks"][m] = pad_to(mask, spec.length)
        for name in self.dm.target_spec():
            out["targets"][name] = np.asarray(item.targets[name])
            out["target_masks"][name] = np.asarray(item.target_masks[name], bool)
        return out


def collate_samples(items: list[dict]) -> Batch:
    """Stack sample dicts into a :class:`~mmer.core.batch.Batch`: inputs (B, L_m, ...), targets (B,) or (B, D),
    target masks (B,). A modality missing from some items is zeros with mask False."""
    inputs, masks, targets, tmasks = stack_items(items)
    tmasks = {k: v.reshape(len(items)) for k, v in tmasks.items()}
    return Batch(inputs, masks, targets, tmasks, {"recording": [it["recording"] for it in items]})


class SampleDataModule(FoldedDataModule):
    """Base of sample-level datasets. A subclass's ``input_spec`` must give every modality a ``length``;
    ``Recording.num_frames`` is 1 (one prediction per sample)."""

    def validate(self) -> None:
        unsized = [m for m, s in self.input_spec().items() if not s.length]
        if unsized:
            raise ConfigError(f"{type(self).__name__}: modalities {unsized} have no fixed length (ModalitySpec.length)")
        super().validate()

    def _loader(self, recordings: Sequence[Recording], mode: Literal["train", "eval", "predict"]) -> DataLoader:
        return self._make_loader(SampleDataset(self, recordings), collate_samples, mode)
