"""The shared data-module base: recordings -> windows -> Batch, grouped k-fold splits, checks, loaders.

A dataset subclass only says what its modalities and targets are (:meth:`input_spec`, :meth:`target_spec`), how
to index its recordings (:meth:`index`) and how to load one (:meth:`load`). Everything else lives here:

- windows of ``window`` label frames with hop ``hop`` (METRICS.md): training and prediction use
  :func:`mmer.evaluation.merge.window_starts`; validation/test tile each video (hop = window, zero-padded last window) so
  that every labelled frame is scored exactly once and epoch metrics equal the per-frame definition;
- modality m has ``rate`` steps per label frame, so a window [s, s + W) reads steps [s r, (s + W) r);
- grouped deterministic folds over the ``trainval`` partition; the ``test`` partition is held out from all folds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mmer.core.batch import Batch
from mmer.core.distributed import ContiguousBatches, Interleaved, rank_and_world
from mmer.core.errors import ConfigError, DataError
from mmer.data.folds import grouped_kfold
from mmer.data.windows import window_starts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModalitySpec:
    """kind: what the input is (``tokens``: integer token ids, kept int64); dim: feature size (features), channels
    (frames), 1 (waveform) or tokens per step (tokens);
    rate: steps per label frame (integer), e.g. 2 for 50 Hz features on 25 fps labels, 640 for 16 kHz audio.
    scale: multiplier applied to each window after slicing (1/255 keeps uint8 frame caches uint8 on disk). uint8
    frames with scale 1/255 stay uint8 in the batch and are scaled on the device (``mmer.core.batch.model_input``).
    length: fixed number of steps per item of a sample-level dataset (padded with mask False, or cut).
    span: label frames per ``rate`` steps (1, or e.g. 32 for cached tokens of 32-frame sub-clips: rate 1, span 32);
    a window must then start on a multiple of ``span`` (``WindowedDataModule.align``)."""

    kind: Literal["frames", "waveform", "features", "tokens"]
    dim: int
    rate: int = 1
    scale: float = 1.0
    length: int | None = None
    span: int = 1


@dataclass(frozen=True)
class Recording:
    """One video. ``group`` keeps related recordings on one side of every split (subject, or one raw video
    shared by ``_left``/``_right`` annotations). ``partition``: 'trainval' (folded) or 'test' (held out)."""

    id: str
    group: str
    num_frames: int
    partition: Literal["trainval", "test"] = "trainval"
    official_val: bool = False


@dataclass
class Item:
    """A whole recording. inputs[m]: (num_frames * rate_m, ...); input_masks[m]: (num_frames * rate_m,) bool
    (optional, default all True); targets[name]: (num_frames, D); target_masks[name]: (num_frames,) bool."""

    inputs: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    target_masks: dict[str, np.ndarray]
    input_masks: dict[str, np.ndarray] = field(default_factory=dict)


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


def collate_windows(items: list[dict]) -> Batch:
    """Stack window dicts into a :class:`~mmer.core.batch.Batch` with each window's recording, start and valid length."""
    inputs, masks, targets, tmasks = stack_items(items)
    meta = {"recording": [it["recording"] for it in items], "start": torch.tensor([it["start"] for it in items]),
            "valid": torch.tensor([it["valid"] for it in items]), "num_frames": len(next(iter(targets.values()))[0])}
    return Batch(inputs, masks, targets, tmasks, meta)


def check_partitions(recordings: Sequence[Recording], name: str) -> None:
    """No recording twice and no group (subject, raw video) in both the train/validation and the held-out partition:
    either would score the model on what it trained on. A data module's own checks name the files first; this one
    guards every data module, present and future."""
    seen: dict[str, Recording] = {}
    for r in recordings:
        if r.id in seen:
            raise DataError(f"{name}: recording '{r.id}' is indexed twice (partitions {seen[r.id].partition} and "
                            f"{r.partition}); each recording must appear once in the data")
        seen[r.id] = r
    held_out = {r.group for r in recordings if r.partition == "test"}
    both = sorted({r.group for r in recordings if r.partition == "trainval"} & held_out)
    if both:
        example = next(r.id for r in recordings if r.group == both[0] and r.partition == "test")
        raise DataError(f"{name}: group '{both[0]}' (e.g. '{example}') is in both the train/validation and the held-out "
                        f"partition ({len(both)} such groups): that would score the model on a subject it trained on")


class FoldedDataModule(L.LightningDataModule):
    """Recordings, grouped deterministic folds over the ``trainval`` partition, splits and loaders: what every
    dataset shares, whether its items are windows of a long recording (:class:`WindowedDataModule`) or whole
    samples (:class:`mmer.data.samples.SampleDataModule`).

    Args:
        num_folds: k of the grouped k-fold over the trainval partition, or ``"loso"``: one fold per group
            (leave-one-subject-out where groups are subjects). fold: the active fold (:meth:`set_fold`).
        seed: fold-assignment seed. fold0_official: fold 0 = the recordings marked ``official_val``.
        batch_size, num_workers, pin_memory: loader settings.
        check_finite: scan every input for NaN/Inf at :meth:`setup` (fails fast, naming the recording).
    """

    #: what one time step of an item is (``mmer explain``'s wording and time windows), and whether each
    #: step is a prediction of its own (a dialogue's utterances: one explanation each) or a frame of a
    #: window (one explanation per window); a per-step dataset names its steps with ``step_names(rec_id)``
    step_unit: str = "frames"
    per_step_predictions: bool = False
    explain_time_window: int = 250  # steps per time window of mmer explain's average distribution

    def __init__(self, num_folds: int | str = 3, fold: int = 0, seed: int = 0, fold0_official: bool = False,
                 batch_size: int = 8, num_workers: int = 0, pin_memory: bool = False, check_finite: bool = True) -> None:
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
        self.recordings: list[Recording] = []
        self.fold_of: dict[str, int] = {}

    # ------------------------------------------------------------------ what a dataset subclass provides
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

    # ------------------------------------------------------------------ optional hooks (override where they apply)
    #: official-split datasets (one fold): {split: the name their papers report}, e.g. MELD's
    #: {"train": "train", "val": "dev", "test": "test"}. The CV runner then also predicts and scores the training
    #: split and prints a train / dev / test table. Empty: a k-fold dataset.
    split_names: Mapping[str, str] = MappingProxyType({})

    @property
    def skipped(self) -> dict[str, str]:
        """Recordings left out as bad input under ``data.on_bad_input=skip`` ({id: why}); the CV summary reports
        their count as ``data/skipped``. None by default."""
        return {}

    def data_report(self) -> dict[str, int]:
        """Counts of masked or left-out input a dataset keeps ({what: count}, e.g. GroupWalk's missing poses);
        logged after extraction and written to the run summary as ``data/*``. None by default."""
        return {}

    def export_predictions(self, out_dir: Path, table: dict[str, np.ndarray], target: str) -> None:
        """Write the merged held-out predictions of ``target`` ({recording: (rows, C)}) in the dataset's own
        submission format under ``out_dir`` (Aff-Wild2: ABAW's files). Nothing by default."""

    def describe(self, rec_id: str) -> dict | None:
        """What ``mmer explain`` says about one sample beyond its window: a dict with ``video``, ``start_frame``,
        ``end_frame``, ``location`` (a scene tag or None) and any extra fields (GroupWalk: agent, votes). None
        (default): the item's recording id and window position."""
        return None

    def scene_image(self, rec_id: str) -> np.ndarray | None:
        """A (3, H, W) uint8 scene image of the sample for a user-given scene classifier or ANP scorer
        (``mmer explain --scene-model``); None (default): the dataset has none."""
        return None

    def step_names(self, rec_id: str) -> list[str]:
        """The names of a recording's steps, in order (a dialogue's utterance ids). Required of datasets with
        ``per_step_predictions`` (``mmer explain`` writes one record per step)."""
        raise NotImplementedError(f"{type(self).__name__} has per_step_predictions=True and must name its steps "
                                  "with step_names(rec_id)")

    def frame_rate(self, rec: Recording) -> float | None:
        """Label frames per second of a recording (a video's fps), where the dataset knows it: the time axis of
        ``mmer predict``'s CSV and plot."""
        return None

    #: file suffixes ``add_unlabelled`` reads (``mmer predict`` picks these out of a folder)
    unlabelled_suffixes: tuple[str, ...] = ()

    def add_unlabelled(self, path: Path, faces: Path | None = None) -> list[Recording]:
        """New recordings from a file without labels (``mmer predict``): read as the dataset's own are, served by
        ``load`` (targets all masked), partition ``"predict"``. ``faces``: a folder of face crops in the dataset's
        layout, where it has one. A data module that cannot read new files says so."""
        raise DataError(f"{type(self).__name__} cannot read new files yet: `mmer predict` works for the datasets "
                        f"whose data module implements add_unlabelled (the README's 'Use a trained model')")

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
                    if not np.isfinite(x).all():
                        bad = int((~np.isfinite(x)).sum())
                        raise DataError(f"recording '{r.id}', modality '{m}': {bad} NaN/Inf input values; "
                                        f"re-extract that recording's features or drop it")
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

    #: the split that :meth:`predict_dataloader` serves (the CV runner sets it before ``trainer.predict``)
    predicting: str | Sequence[Recording] = "val"

    def predict_dataloader(self) -> DataLoader:
        """Lightning's hook for ``trainer.predict(model, datamodule=dm)``: :meth:`predict_loader` of
        :attr:`predicting`, built once the process group exists, so each DDP rank takes its own share."""
        return self.predict_loader(self.predicting)

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


def require_dir(root: str | None, dataset: str) -> str:
    """Return ``root`` if it is an existing directory, else stop with a message naming the path and the fix."""
    import os

    if not root:
        raise DataError(f"{dataset}: no data directory given: run `make train DATASET={dataset} DATA_DIR=/path/to/"
                        f"{dataset}` or pass data.root=/path/to/{dataset}")
    if not os.path.isdir(root):
        raise DataError(f"{dataset}: data directory '{root}' does not exist: point DATA_DIR (or data.root) at your "
                        f"copy of {dataset}")
    return root
