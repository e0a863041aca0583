"""EMER (eye-behaviour-aided emotion recognition): one sample = one stimulus clip of one participant, with genuine
emotion (ER) and facial-expression (FER) labels; EMERT's dataset.

Layout under ``root`` (``DATA_DIR``; file and column names are settings, defaults in ``experiments/data/emer.yaml``)::

    EMER_label.xlsx             one row per sample: sample, subject, ER / FER 7-class and 3-class names, valence,
                                arousal (-1..1), FER intensity (0..3)
    emer_set.txt                optional: "<sample> <fold>" per line (the release's cross-subject folds)
    faces/<sample>/*.jpg|png    aligned face images (or videos/<sample>.mp4|avi: every frame, centre square)
    eye/<sample>.tsv|csv|xlsx   the eye tracker's export (Tobii Pro: timestamp, gaze point, pupils, event type,
                                fixation point)
    fixation/<sample>.png|jpg   optional fixation heat map

Modalities: ``face`` (K = ``face_frames`` evenly picked images, uint8), ``eye`` (``eye_steps`` x 8 resampled
eye-movement features, :data:`mmer.data_modules.emer_files.EYE_FEATURES`), ``gaze`` (``eye_steps`` x 2 fixation / gaze
points), ``fixation`` (the heat map, one grey image). Targets, for the views the sheet has: ``er``, ``fer``
(7 classes), ``er3``, ``fer3`` (3 classes), ``va`` (valence, arousal), ``intensity``; an empty cell masks that view.

Folds: emer_set.txt's when present (each subject must sit in one fold), else ``num_folds`` subject-grouped folds.

Bad input: an eye table without timestamp or gaze columns, an unreadable file or a label cell that is not a known
class stops with the file, row and what to set (``on_bad_input: skip`` leaves the sample out, counted and listed
instead). A sample with no face image has its face masked; a missing optional eye column (pupil, event, fixation
point) gives zeros for those features; samples with data but no label row, and label rows with no data, are left
out. All of it is counted in ``data_report()`` (logged once, and ``data/*`` in the run summary).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.cache import cache_key
from mmer.data.extraction import ExtractedDataset, Extraction
from mmer.data.media import IMAGE_SUFFIXES, MEDIA_TOLERANCE, decode_frames, read_face_set
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.samples import SampleDataModule
from mmer.data_modules.emer_files import (
    EYE_FEATURES,
    EmerSample,
    eye_features,
    read_eye_table,
    read_labels,
    read_set_file,
)

log = logging.getLogger(__name__)
EXTRACTION_VERSION = 2  # 2: truncated videos are refused (caches of 1 may hold them)
MODALITIES = ("face", "eye", "gaze", "fixation")
EYE_SUFFIXES = (".tsv", ".csv", ".txt", ".xlsx")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


class EmerDataModule(ExtractedDataset, SampleDataModule):
    """Args (besides :class:`~mmer.data.base.FoldedDataModule`'s):
    root, cache_dir: the release and the feature cache (default ``<root>/.mmer_cache``).
    modalities: which of face, eye, gaze, fixation to load. label_file, set_file: file names under root.
    label_columns: our name -> the sheet's column. classes7, classes3: class names of the 7- and 3-class views.
    integer_labels: null (labels are names), ``zero_based`` or ``one_based`` (numbers index the class lists).
    eye_columns: our name -> the eye table's column. timestamp_unit: us, ms or s. screen: gaze coordinate range.
    eye_steps: resampled steps per sample. face_frames, face_size, fixation_size: images per sample and sides.
    on_bad_input: ``error`` or ``skip``. media_tolerance: the fraction of a face video's frames (as its header
    promises them) that may fail to decode.
    """

    group_unit = "subject"

    def __init__(self, root: str | None = None, cache_dir: str | None = None,
                 modalities: tuple[str, ...] = ("face", "eye", "gaze"), label_file: str = "EMER_label.xlsx",
                 set_file: str | None = "emer_set.txt", label_columns: dict[str, str] | None = None,
                 classes7: tuple[str, ...] = ("neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise"),
                 classes3: tuple[str, ...] = ("negative", "neutral", "positive"), integer_labels: str | None = None,
                 eye_columns: dict[str, str] | None = None, timestamp_unit: Literal["us", "ms", "s"] = "us",
                 screen: tuple[float, float] = (1920.0, 1080.0), eye_steps: int = 32, face_frames: int = 8,
                 face_size: int = 112, fixation_size: int = 64, on_bad_input: Literal["error", "skip"] = "error",
                 media_tolerance: float = MEDIA_TOLERANCE, **folded) -> None:
        super().__init__(**folded)
        unknown = [m for m in modalities if m not in MODALITIES]
        if unknown or not modalities:
            raise ConfigError(f"data.modalities={list(modalities)}: choose from {list(MODALITIES)}")
        if integer_labels not in (None, "zero_based", "one_based"):
            raise ConfigError(f"data.integer_labels={integer_labels!r}: null, zero_based or one_based")
        if timestamp_unit not in UNITS:
            raise ConfigError(f"data.timestamp_unit={timestamp_unit!r}: choose one of {list(UNITS)}")
        self.root, self.cache_dir, self.modalities = root, cache_dir, list(modalities)
        self.label_file, self.set_file = label_file, set_file
        self.label_columns = dict(label_columns or {})
        self.classes = {"7": list(classes7), "3": list(classes3)}
        self.integer_labels, self.eye_columns = integer_labels, dict(eye_columns or {})
        self.seconds_per_unit, self.screen = UNITS[timestamp_unit], tuple(screen)
        self.eye_steps, self.face_frames = eye_steps, face_frames
        self.face_size, self.fixation_size = face_size, fixation_size
        self.extraction = Extraction("emer", "sample", on_bad_input, media_tolerance)
        self._recordings: list[Recording] = []
        self._samples: dict[str, EmerSample] = {}
        self._views: dict[str, str] = {}
        self._given_folds: dict[str, int] = {}
        self.counts: Counter = Counter()
        self._eye_missing: dict[str, int] = {}  # sample -> optional eye columns its table lacks
        self._gaze_blank: dict[str, tuple[int, int]] = {}  # sample -> (rows without a gaze point, rows)

    # ------------------------------------------------------------------------------------------ spec
    def input_spec(self) -> dict[str, ModalitySpec]:
        spec = {"face": ModalitySpec("frames", 3, scale=1 / 255, length=self.face_frames),
                "eye": ModalitySpec("features", len(EYE_FEATURES), length=self.eye_steps),
                "gaze": ModalitySpec("features", 2, length=self.eye_steps),
                "fixation": ModalitySpec("frames", 1, scale=1 / 255, length=1)}
        return {m: spec[m] for m in self.modalities}

    def target_spec(self) -> dict[str, list[str]]:
        if not self._views:
            self.index()
        spec = {v: self.classes["7" if v in ("er", "fer") else "3"] for v in ("er", "er3", "fer", "fer3")
                if v in self._views}
        if "valence" in self._views and "arousal" in self._views:
            spec["va"] = ["valence", "arousal"]
        if "intensity" in self._views:
            spec["intensity"] = ["intensity"]
        return spec

    # ------------------------------------------------------------------------------------------ index
    def _discover(self) -> list[Recording]:
        root = Path(require_dir(self.root, "emer"))
        samples, self._views, problems = read_labels(root / self.label_file, self.label_columns, self.classes,
                                                     self.integer_labels)
        if problems and self.extraction.on_bad_input == "error":
            raise DataError(f"{len(problems)} label problem(s); first: {next(iter(problems.values()))} "
                            f"(data.on_bad_input=skip leaves such samples out)")
        self.counts["label rows with a problem"] = len(problems)
        for p in list(problems.values())[:5]:
            log.warning("emer: left out: %s", p)
        on_disk = {p.stem for p in (root / "eye").glob("*") if p.suffix in EYE_SUFFIXES} if (root / "eye").is_dir() \
            else set()
        on_disk |= {p.name for p in (root / "faces").iterdir() if p.is_dir()} if (root / "faces").is_dir() else set()
        labelled = {s.name for s in samples} | set(problems)
        self.counts["samples without a label row"] = len(on_disk - labelled)
        kept = [s for s in samples if s.name in on_disk]
        self.counts["label rows without data"] = len(samples) - len(kept)
        if not kept:
            raise DataError(f"emer: no labelled sample has files under {root / 'eye'} or {root / 'faces'}; check "
                            f"data.root and the layout in docs/datasets/emer.md")
        self._samples = {s.name: s for s in kept}
        set_path = root / self.set_file if self.set_file else None
        if set_path is not None and set_path.is_file():
            self._given_folds = self._subject_folds(read_set_file(set_path), set_path, on_disk | labelled)
        return [Recording(s.name, s.subject, 1) for s in kept]

    def _subject_folds(self, folds: dict[str, int], path: Path, known: set[str]) -> dict[str, int]:
        unknown = sorted(set(folds) - known)
        if unknown:
            raise DataError(f"{path}: {len(unknown)} sample(s) neither in the label sheet nor on disk, first "
                            f"'{unknown[0]}': remove them (a fold file naming other samples is another release's)")
        by_subject: dict[str, set[int]] = {}
        for s in self._samples.values():
            if s.name not in folds:
                raise DataError(f"{path}: sample '{s.name}' has no fold; add it or remove {path.name}")
            by_subject.setdefault(s.subject, set()).add(folds[s.name])
        mixed = {k: sorted(v) for k, v in by_subject.items() if len(v) > 1}
        if mixed:
            raise DataError(f"{path}: subject(s) {list(mixed)[:5]} fall in several folds {list(mixed.values())[:5]}: "
                            f"the folds must be cross-subject")
        return {k: v.pop() for k, v in by_subject.items()}

    def setup(self, stage: str | None = None) -> None:
        """Subject-grouped folds; the release's own (emer_set.txt) when it has them."""
        if self.recordings:
            return
        given = self.index() and self._given_folds
        used = sorted(set(given.values())) if given else []
        if used and used != list(range(len(used))):  # e.g. folds 1..5 and one stray 9: name it, not "9 folds"
            subject = max(given, key=given.get)
            raise DataError(f"{self.set_file}: the fold numbers are {[u + 1 for u in used]} (not 1..{len(used)}): "
                            f"subject '{subject}' is in fold {given[subject] + 1}; fix that line")
        if given and self.num_folds != max(given.values()) + 1:
            raise ConfigError(f"{self.set_file} has {max(given.values()) + 1} folds but {self.num_folds} were asked "
                              f"for: set cv.folds={max(given.values()) + 1}, or data.set_file=null for "
                              f"{self.num_folds} subject-grouped folds")
        super().setup(stage)
        if given:
            self.fold_of = dict(given)

    # ------------------------------------------------------------------------------------------ loading
    def _load(self, rec: Recording) -> Item:
        sample, root = self._samples[rec.id], Path(self.root)
        inputs, masks = {}, {}
        if "face" in self.modalities:
            inputs["face"], masks["face"] = self._faces(root, rec.id)
        if "eye" in self.modalities or "gaze" in self.modalities:
            eye, gaze, mask = self._eye(root, rec.id)
            for m, x in (("eye", eye), ("gaze", gaze)):
                if m in self.modalities:
                    inputs[m], masks[m] = x, mask
        if "fixation" in self.modalities:
            inputs["fixation"], masks["fixation"] = self._fixation(root, rec.id)
        targets, tmasks = {}, {}
        for view in self.target_spec():
            if view == "va":
                ok = "valence" in sample.values and "arousal" in sample.values
                targets[view] = np.array([sample.values.get("valence", 0.0), sample.values.get("arousal", 0.0)],
                                         np.float32)
            elif view == "intensity":
                ok = view in sample.values
                targets[view] = np.array([sample.values.get(view, 0.0)], np.float32)
            else:
                ok = view in sample.classes
                targets[view] = np.int64(sample.classes.get(view, 0))
            tmasks[view] = np.bool_(ok)
        return Item(inputs=inputs, input_masks=masks, targets=targets, target_masks=tmasks)

    def _faces(self, root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
        folder = self.data_root().check(root / "faces" / name)
        video = self._first(root / "videos", name, (".mp4", ".avi", ".mov", ".mkv"))
        sources = [p for p in (folder, video) if p is not None and p.exists()]
        if not sources:
            return np.zeros((self.face_frames, 3, self.face_size, self.face_size), np.uint8), \
                np.zeros(self.face_frames, bool)
        key = cache_key({"kind": "face", "k": self.face_frames, "size": self.face_size, "v": EXTRACTION_VERSION},
                        sources)

        def build() -> np.ndarray:
            if folder.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
                faces, unreadable = read_face_set(folder, self.face_frames, self.face_size)
                if unreadable:
                    log.warning("emer: %d unreadable face image(s) in %s", unreadable, folder)
                return faces
            if video is not None:
                frames = decode_frames(video, self.face_size, tolerance=self.extraction.media_tolerance)
                return frames[np.linspace(0, len(frames) - 1, self.face_frames).round().astype(int)]
            return np.zeros((self.face_frames, 3, self.face_size, self.face_size), np.uint8)

        faces = self.cache.get_or_build(name, "face", key, build)
        return faces, faces.reshape(self.face_frames, -1).max(1) > 0

    def _eye(self, root: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        path = self._first(root / "eye", name, EYE_SUFFIXES)
        if path is None:
            zero = np.zeros((self.eye_steps, len(EYE_FEATURES)), np.float32)
            return zero, np.zeros((self.eye_steps, 2), np.float32), np.zeros(self.eye_steps, bool)
        key = self._eye_key(path)

        def build() -> np.ndarray:
            table = read_eye_table(path, self.eye_columns)
            eye, gaze, mask, missing = eye_features(table, self.eye_steps, self.screen, self.seconds_per_unit)
            blank = np.count_nonzero(~(np.isfinite(table["gaze_x"]) & np.isfinite(table["gaze_y"])))
            extra = np.tile(np.array([[len(missing), blank, len(table["gaze_x"])]], np.float32), (len(mask), 1))
            return np.concatenate([eye, gaze, mask[:, None], extra], 1, dtype=np.float32)

        packed = self.cache.get_or_build(name, "eye", key, build)
        d = len(EYE_FEATURES)
        self._eye_missing[name] = int(packed[0, d + 3])
        self._gaze_blank[name] = (int(packed[0, d + 4]), int(packed[0, d + 5]))
        return np.asarray(packed[:, :d]), np.asarray(packed[:, d:d + 2]), np.asarray(packed[:, d + 2] > 0.5)

    def _first(self, folder: Path, name: str, suffixes: tuple[str, ...]) -> Path | None:
        """``folder/<name><suffix>`` for the first suffix that exists, checked to be inside the data root."""
        for suffix in suffixes:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return self.data_root().check(path)
        return None

    def _eye_key(self, path: Path) -> str:
        return cache_key({"kind": "eye", "steps": self.eye_steps, "columns": self.eye_columns, "screen": self.screen,
                          "unit": self.seconds_per_unit, "v": EXTRACTION_VERSION}, [path])

    def _fixation(self, root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image, UnidentifiedImageError

        path = self._first(root / "fixation", name, (".png", ".jpg", ".jpeg", ".bmp"))
        if path is None:
            return np.zeros((1, 1, self.fixation_size, self.fixation_size), np.uint8), np.zeros(1, bool)
        try:
            with Image.open(path) as img:
                grey = np.asarray(img.convert("L").resize((self.fixation_size,) * 2, Image.BILINEAR))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{path}: unreadable fixation map ({exc}); replace or delete it") from None
        return grey[None, None].copy(), np.ones(1, bool)

    # ------------------------------------------------------------------------------------------ report
    def dataset_report(self) -> dict[str, int]:
        """Left-out labels and samples (from discovery) and what the eye tables lack."""
        counts = Counter(self.counts)
        counts["eye tables missing an optional column"] = sum(n > 0 for n in self._eye_missing.values())
        counts["eye-table rows without a gaze point (empty or nan cells)"] = sum(b for b, _ in self._gaze_blank.values())
        return dict(sorted(counts.items()))
