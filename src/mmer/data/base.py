"""The shared data-module base: recordings, grouped k-fold splits, checks and loaders.

A dataset subclass only says what its modalities and targets are (:meth:`input_spec`, :meth:`target_spec`), how
to index its recordings (:meth:`index`) and how to load one (:meth:`load`); its items are windows
(:class:`mmer.data.windowed.WindowedDataModule`) or whole samples (:class:`mmer.data.samples.SampleDataModule`).
Grouped deterministic folds run over the ``trainval`` partition; the ``test`` partition is held out from all folds.
What the other layers may ask of a dataset beyond that are the optional hooks of :mod:`mmer.data.hooks`, each with
a default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
from torch.utils.data import DataLoader, Dataset

from mmer.core.distributed import ContiguousBatches, Interleaved, rank_and_world
from mmer.core.errors import ConfigError, DataError
from mmer.data.folds import grouped_kfold
from mmer.data.hooks import EvaluateHooks, ExplainHooks, PredictHooks, RunReportHooks
from mmer.data.paths import DataRoot
from mmer.data.records import Item, ModalitySpec, Recording, check_partitions, check_values

log = logging.getLogger(__name__)


class FoldedDataModule(RunReportHooks, ExplainHooks, PredictHooks, EvaluateHooks, L.LightningDataModule):
    """Recordings, grouped deterministic folds over the ``trainval`` partition, splits and loaders: what every
    dataset shares, whether its items are windows of a long recording (:class:`~mmer.data.windowed.WindowedDataModule`)
    or whole samples (:class:`~mmer.data.samples.SampleDataModule`). The optional hooks come from
    :mod:`mmer.data.hooks`, grouped by who reads them (the CV job's report, ``mmer explain``, ``mmer predict``,
    ``mmer evaluate``).

    Args:
        num_folds: k of the grouped k-fold over the trainval partition, or ``"loso"``: one fold per group
            (leave-one-subject-out where groups are subjects). fold: the active fold (:meth:`set_fold`).
        seed: fold-assignment seed. fold0_official: fold 0 = the recordings marked ``official_val``.
        batch_size: items per batch (per device). num_workers: loader processes. pin_memory: page-locked batches.
        check_finite: scan every float input for NaN/Inf and absurd magnitudes at :meth:`setup` (:func:`~mmer.data.records.check_values`:
            fails fast, naming the recording).
        allow_outside_root: read files whose real path is outside ``data.root`` (:mod:`mmer.data.paths`).
    """

    def __init__(self, num_folds: int | str = 3, fold: int = 0, seed: int = 0, fold0_official: bool = False,
                 batch_size: int = 8, num_workers: int = 0, pin_memory: bool = False, check_finite: bool = True,
                 allow_outside_root: bool = False) -> None:
        super().__init__()
        if batch_size < 1 or num_workers < 0:
            raise ConfigError(f"data.batch_size={batch_size}, data.num_workers={num_workers}: need batch_size >= 1 "
                              "and num_workers >= 0")
        if num_folds == 1 and not fold0_official:
            raise ConfigError("cv.folds=1: a single fold of the train/validation partition leaves nothing to train "
                              "on; use cv.folds>=2 (datasets with an official split, e.g. MELD, set their own)")
        self.num_folds, self.fold, self.seed = num_folds, fold, seed
        self.fold0_official = fold0_official
        self.batch_size, self.num_workers, self.pin_memory = batch_size, num_workers, pin_memory
        self.check_finite = check_finite
        self.allow_outside_root = allow_outside_root
        self._data_root: DataRoot | None = None
        self.recordings: list[Recording] = []
        self.fold_of: dict[str, int] = {}

    # ------------------------------------------------------------------ what a dataset subclass provides
    def data_root(self) -> DataRoot:
        """``self.root`` (a dataset read from files has one) as the :class:`~mmer.data.paths.DataRoot` every path
        read from the data goes through."""
        root = getattr(self, "root", None)
        if self._data_root is None or self._data_root.path != Path(str(root)):
            name = type(self).__name__.removesuffix("DataModule").lower()
            self._data_root = DataRoot(str(root), name, self.allow_outside_root)
        return self._data_root

    def input_spec(self) -> dict[str, ModalitySpec]:
        raise NotImplementedError

    def target_spec(self) -> dict[str, list[str]]:
        """{target name: dimension or class names}, e.g. {"va": ["valence", "arousal"]}."""
        raise NotImplementedError

    def index(self) -> list[Recording]:
        raise NotImplementedError

    def load(self, rec: Recording) -> Item:
        raise NotImplementedError

    def _loader(self, recordings: Sequence[Recording], mode: Literal["train", "eval", "predict"]) -> DataLoader:
        raise NotImplementedError

    # ------------------------------------------------------------------ shared machinery
    def setup(self, stage: str | None = None) -> None:
        if self.recordings:
            return
        recordings = sorted(self.index(), key=lambda r: r.id)
        if not recordings:
            raise DataError(f"{type(self).__name__}: no recordings found; check data.root / DATA_DIR")
        check_partitions(recordings, type(self).__name__)
        trainval = [r for r in recordings if r.partition == "trainval"]
        if self.num_folds == "loso":
            self.num_folds = len({r.group for r in trainval})
        elif not isinstance(self.num_folds, int):
            raise ConfigError(f"data.num_folds={self.num_folds!r}: give a number of folds or 'loso'")
        self.fold_of = grouped_kfold([r.group for r in trainval], self.num_folds, self.seed,
                                     [r.group for r in trainval if r.official_val] if self.fold0_official else None)
        self.recordings = recordings
        self.validate()

    def validate(self) -> None:
        """Checks that must fail before any training starts: finite inputs, and some label in train/val."""
        labelled = dict.fromkeys(self.target_spec(), False)
        for r in self.recordings:  # one load per recording: loading can be expensive on real datasets
            item = self.load(r)
            if r.partition == "trainval":
                for name in labelled:
                    labelled[name] = labelled[name] or bool(np.any(item.target_masks[name]))
            if self.check_finite:
                for m, x in item.inputs.items():
                    check_values(x, f"recording '{r.id}', modality '{m}'")
        for name, any_label in labelled.items():
            if not any_label:
                raise DataError(f"target '{name}' has no label in the train/validation partition "
                                f"({len(self.split('trainval'))} recordings): every label is masked (e.g. all -5); "
                                f"check the annotation files")

    def input_statistics(self, modality: str) -> tuple[np.ndarray, np.ndarray]:
        """(mean (D,), std (D,)) of one modality's per-step features over the valid steps of the active fold's
        training split only (never its validation split or the held-out partition): what a backbone with
        ``norm: fold_zscore`` standardises with. Population std."""
        total, squares, count = None, None, 0
        for rec in self.split("train"):
            item = self.load(rec)
            x = np.asarray(item.inputs[modality], np.float64)
            x = x.reshape(len(x), -1)
            mask = item.input_masks.get(modality)
            if mask is not None:
                x = x[np.asarray(mask, bool).reshape(len(x))]
            total = x.sum(0) if total is None else total + x.sum(0)
            squares = (x ** 2).sum(0) if squares is None else squares + (x ** 2).sum(0)
            count += len(x)
        if not count:
            raise DataError(f"{type(self).__name__}: no valid '{modality}' steps in fold {self.fold}'s training split "
                            f"to standardise with")
        mean = total / count
        return mean.astype(np.float32), np.sqrt(np.maximum(squares / count - mean ** 2, 0.0)).astype(np.float32)

    def set_fold(self, fold: int) -> None:
        if not 0 <= fold < self.num_folds:
            raise ConfigError(f"fold={fold} is outside 0..{self.num_folds - 1}")
        self.fold = fold

    def split(self, which: Literal["train", "val", "trainval", "test"]) -> list[Recording]:
        """Recordings of a split of the active fold (train / val), or of a partition (trainval / test)."""
        if which == "test":
            return [r for r in self.recordings if r.partition == "test"]
        trainval = [r for r in self.recordings if r.partition == "trainval"]
        if which == "trainval":
            return trainval
        in_val = [self.fold_of[r.group] == self.fold for r in trainval]
        return [r for r, v in zip(trainval, in_val) if v == (which == "val")]

    def _make_loader(self, dataset: Dataset, collate, mode: Literal["train", "eval", "predict"]) -> DataLoader:
        """The loader of a split: ``batch_size`` items per batch on each device. In a DDP job (an initialised
        process group) each rank loads its share (:mod:`mmer.core.distributed`): training a shuffled, padded
        ``DistributedSampler`` share, validation every item once, prediction a contiguous run of whole batches."""

        rank, world = rank_and_world()
        sampler = None
        if world > 1:
            if mode == "train":
                from torch.utils.data import DistributedSampler

                sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                             seed=int(os.environ.get("PL_GLOBAL_SEED", self.seed)))
            elif mode == "eval":
                if len(dataset) < world:
                    raise ConfigError(f"a validation split of {len(dataset)} items cannot be shared by {world} "
                                      f"processes: use fewer devices (trainer.devices) or fewer folds (cv.folds)")
                sampler = Interleaved(len(dataset), rank, world)
            else:
                sampler = ContiguousBatches(len(dataset), self.batch_size, rank, world)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=mode == "train" and sampler is None,
                          sampler=sampler, num_workers=self.num_workers, pin_memory=self.pin_memory,
                          collate_fn=collate, persistent_workers=self.num_workers > 0)

    def prediction_split(self, which: str | Sequence[Recording]) -> PredictionSplit:
        """``trainer.predict(model, datamodule=dm.prediction_split("test"))``: one split, its loader built inside
        predict, once the process group exists, so that each DDP rank takes its own share."""
        return PredictionSplit(self, which)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.split("train"), "train")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.split("val"), "eval")

    def eval_loader(self, which: Literal["val", "test", "trainval"]) -> DataLoader:
        """Every item of a split exactly once, in order (windowed data: tiled windows), e.g. for ``mmer explain``."""
        return self._loader(self.split(which), "eval")

    def predict_loader(self, which: Literal["val", "test", "trainval"] | Sequence[Recording]) -> DataLoader:
        """Every item of a split (or of the given recordings), in order, for prediction tables."""
        return self._loader(self.split(which) if isinstance(which, str) else list(which), "predict")

    def targets_of(self, rec: Recording) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        item = self.load(rec)
        return item.targets, item.target_masks


class PredictionSplit(L.LightningDataModule):
    """One split of a data module as Lightning's ``datamodule`` of ``trainer.predict``
    (:meth:`FoldedDataModule.prediction_split`): nothing to prepare, one predict loader."""

    def __init__(self, dm: FoldedDataModule, which: str | Sequence[Recording]) -> None:
        super().__init__()
        self.dm, self.which = dm, which

    def predict_dataloader(self) -> DataLoader:
        return self.dm.predict_loader(self.which)
