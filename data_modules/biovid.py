"""BioVid Heat Pain Database Part A: one 5.5 s trial = one sample with one pain class (docs/reference/datasets.md).

Tasks: ``multiclass`` (BL1, PA1, PA2, PA3, PA4) or ``binary`` (BL1 vs PA4, the JMT code's task). Folds are
subject-wise (``num_folds`` of them, or ``"loso"``: leave one subject out); BioVid has no official held-out
partition, so the CV runner reports out-of-fold scores (mean and std over folds, and pooled).

Modalities: ``visual`` (the frontal video, every frame centre-cropped to a square and resized to ``face_size``,
cached as one uint8 (N, 3, S, S) array per sample), and the biosignals ``gsr`` (EDA), ``ecg``, ``emg``
(trapezius) as waveforms of ``bio_length`` samples at 512 Hz (2,816 = 5.5 s), each z-scored per sample when
``bio_normalize`` (the skin conductance level differs between people far more than within a trial; set it False
to keep raw units). Samples shorter than ``num_frames`` / ``bio_length`` are zero-padded with a False mask; longer
ones are cut; a file with less than half of a trial (a 3-frame video, a one-row signal) is broken, not short: bad
input. samples.csv's class_id must agree with its class_name, and a signal's time column must increase.

Bad input: a missing or unreadable video, a biosignal file without the needed column or with a non-numeric
value stop with an error naming the file, unless ``on_bad_input="skip"``: then the sample is left out, counted
and listed in a warning at the end of extraction (and in the CV summary), never silently
(:mod:`mmer.data.extraction`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.cache import cache_key
from mmer.data.extraction import ExtractedDataset, Extraction
from mmer.data.media import MEDIA_TOLERANCE, decode_frames
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.samples import SampleDataModule
from mmer.data_modules.biovid_files import (
    BIO_COLUMNS,
    CLASSES,
    BioVidSample,
    bio_path,
    derive_samples,
    read_bio_csv,
    read_samples_csv,
    video_path,
)

log = logging.getLogger(__name__)
EXTRACTION_VERSION = 2  # 2: truncated videos are refused (caches of 1 may hold them)
TASKS = {"multiclass": list(CLASSES), "binary": ["BL1", "PA4"]}


class BioVidDataModule(ExtractedDataset, SampleDataModule):
    """Args (besides :class:`~mmer.data.base.FoldedDataModule`'s):
    root: the BioVid Part A copy (``DATA_DIR``). cache_dir: default ``<root>/.mmer_cache``.
    task: ``multiclass`` or ``binary``. modalities: which of visual, gsr, ecg, emg to load.
    face_size, crop: cached frame side and cropping (``center`` or ``none``). num_frames: video frames per sample.
    frame_step: feed every k-th video frame (the cache keeps them all).
    bio_length: biosignal samples per sample. bio_normalize: z-score each biosignal per sample.
    on_bad_input: ``error`` (default) or ``skip`` (count, report, leave out).
    media_tolerance: the fraction of a video's frames (as its header promises them) that may fail to decode.
    """

    group_unit = "subject"

    def __init__(self, root: str | None = None, cache_dir: str | None = None,
                 task: Literal["multiclass", "binary"] = "multiclass",
                 modalities: tuple[str, ...] = ("visual", "gsr"), face_size: int = 112, crop: str = "center",
                 num_frames: int = 138, frame_step: int = 1, bio_length: int = 2816, bio_normalize: bool = True,
                 on_bad_input: Literal["error", "skip"] = "error", media_tolerance: float = MEDIA_TOLERANCE,
                 **folded) -> None:
        super().__init__(**folded)
        if task not in TASKS:
            raise ConfigError(f"data.task={task!r}: choose one of {sorted(TASKS)}")
        unknown = [m for m in modalities if m != "visual" and m not in BIO_COLUMNS]
        if unknown or not modalities:
            raise ConfigError(f"data.modalities={list(modalities)}: choose from ['visual', {', '.join(map(repr, BIO_COLUMNS))}]")
        self.root, self.cache_dir, self.task = root, cache_dir, task
        self.modalities = list(modalities)
        if frame_step < 1:
            raise ConfigError(f"data.frame_step={frame_step} must be >= 1")
        self.face_size, self.crop, self.num_frames, self.frame_step = face_size, crop, num_frames, frame_step
        self.bio_length, self.bio_normalize = bio_length, bio_normalize
        self.classes = TASKS[task]
        self.extraction = Extraction("biovid", "sample", on_bad_input, media_tolerance)
        self._samples: dict[str, BioVidSample] = {}
        self._recordings: list[Recording] = []

    def input_spec(self) -> dict[str, ModalitySpec]:
        frames = -(-self.num_frames // self.frame_step)
        spec = {"visual": ModalitySpec("frames", 3, scale=1 / 255, length=frames)}
        spec.update({m: ModalitySpec("waveform", 1, length=self.bio_length) for m in BIO_COLUMNS})
        return {m: spec[m] for m in self.modalities}

    def target_spec(self) -> dict[str, list[str]]:
        return {"pain": self.classes}

    def _discover(self) -> list[Recording]:
        root = Path(require_dir(self.root, "biovid"))
        table = root / "samples.csv"
        samples = read_samples_csv(table) if table.is_file() else derive_samples(root)
        if not samples:
            raise DataError(f"biovid: no samples under {root}: expected samples.csv or "
                            f"biosignals_filtered/<subject>/<sample>_bio.csv (see docs/datasets/biovid.md)")
        kept = [s for s in samples if s.class_name in self.classes]
        log.info("biovid: %d samples of %d subjects (%s); task %s keeps %d", len(samples),
                 len({s.subject for s in samples}), table if table.is_file() else "names", self.task, len(kept))
        self._samples = {s.name: s for s in kept}
        if len(self._samples) != len(kept):
            raise DataError(f"{table}: sample names are not unique")
        return [Recording(s.name, s.subject, 1) for s in kept]

    @staticmethod
    def _check_length(path: Path, got: int, trial: int, unit: str) -> None:
        """Every BioVid trial lasts 5.5 s (138 frames, 2,816 signal rows): a file holding less than half of that is
        broken (a 3-frame video, a one-row signal), not a short trial; padding would hide it."""
        if got < trial / 2:
            raise DataError(f"{path}: {got} {unit}, where a BioVid trial has {trial} (data."
                            f"{'num_frames' if unit == 'frames' else 'bio_length'}); the file is cut short: restore "
                            "it, or set data.on_bad_input=skip to leave such trials out")

    def _load(self, rec: Recording) -> Item:
        root, sample = Path(self.root), self._samples[rec.id]
        inputs = {}
        if "visual" in self.modalities:
            video = self.data_root().check(video_path(root, sample))
            if not video.is_file():
                raise DataError(f"{video}: video is missing (needed for the visual modality); restore it or set "
                                f"data.modalities without 'visual'")
            key = cache_key({"kind": "frames", "size": self.face_size, "crop": self.crop, "v": EXTRACTION_VERSION},
                            [video])
            frames = self.cache.get_or_build(rec.id, "frames", key, lambda: decode_frames(
                video, self.face_size, self.crop, self.extraction.media_tolerance))
            self._check_length(video, len(frames), self.num_frames, "frames")
            inputs["visual"] = frames[:: self.frame_step]
        bio = [m for m in self.modalities if m in BIO_COLUMNS]
        if bio:
            path = self.data_root().check(bio_path(root, sample))
            columns = [BIO_COLUMNS[m] for m in bio]
            key = cache_key({"kind": "bio", "columns": columns, "v": EXTRACTION_VERSION}, [path])
            signals = self.cache.get_or_build(rec.id, "bio", key, lambda: read_bio_csv(path, columns))
            self._check_length(path, len(signals), self.bio_length, "rows")
            for j, m in enumerate(bio):
                x = np.asarray(signals[:, j], np.float32)
                if self.bio_normalize:
                    x = (x - x.mean()) / (x.std() + 1e-6)
                inputs[m] = x
        label = self.classes.index(sample.class_name)
        return Item(inputs=inputs, targets={"pain": np.int64(label)}, target_masks={"pain": np.bool_(True)})
