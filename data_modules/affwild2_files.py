"""Aff-Wild2 on disk (docs/reference/datasets.md): finding the release's folders and parsing its annotation files.

Releases differ in folder names (raw videos in ``batch1/``, ``batch2/``, ``videos/`` or ``raw_videos/``; challenge
folders under a release-named parent such as ``Third ABAW Annotations/``), so everything is found by name,
recursively under the root, and never by a fixed path.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.readers import read_text

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi")
UNLABELLED = -5.0
SPLITS = {"Train_Set": "train", "Validation_Set": "validation"}
_SIDE = re.compile(r"_(left|right)$")


def raw_video_id(video: str) -> str:
    """``<video>_left`` / ``<video>_right`` annotate two people in one raw video: both map to ``<video>``."""
    return _SIDE.sub("", video)


CROPS = "cropped_aligned"


def walk(root: Path, exclude: Path | None = None):
    """(folder, sub-folder names, file names) under ``root`` in sorted order, like ``os.walk``, but never inside a
    ``cropped_aligned`` folder (millions of JPEGs in a real release) or ``exclude`` (the feature cache)."""
    import os

    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d != CROPS and here / d != exclude)
        yield here, dirs, sorted(files)


def find_challenge(root: Path, challenge: str = "VA_Estimation_Challenge") -> dict[str, Path]:
    """{"train": dir, "validation": dir} of a challenge's annotation folders, found by name under ``root``."""
    found: dict[str, Path] = {}
    folders = [here / challenge for here, dirs, _ in walk(root) if challenge in dirs]
    for folder in folders:
        for name, split in SPLITS.items():
            if (folder / name).is_dir():
                if split in found:
                    raise DataError(f"two {challenge}/{name} folders under {root}: {found[split]} and "
                                    f"{folder / name}; keep one release per DATA_DIR")
                found[split] = folder / name
    return found


def find_videos(root: Path, exclude: Path | None = None) -> dict[str, Path]:
    """Raw videos by file stem (``.mp4`` / ``.avi``), anywhere under ``root`` (except ``exclude``)."""
    videos: dict[str, Path] = {}
    paths = [here / f for here, _, files in walk(root, exclude) for f in files]
    for path in paths:
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if path.stem in videos:
            raise DataError(f"video '{path.stem}' exists twice: {videos[path.stem]} and {path}; remove one")
        videos[path.stem] = path
    return videos


def find_crops(root: Path) -> Path | None:
    """The ``cropped_aligned`` folder (one sub-folder of 1-based ``NNNNN.jpg`` per video), found by name."""
    hits = [here / CROPS for here, _, _ in walk(root) if (here / CROPS).is_dir()]
    return hits[0] if hits else None


def read_va_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a VA annotation file: header ``valence,arousal``, then one ``v,a`` line per video frame.

    Returns (values (N, 2) float32, labelled (N,) bool). A frame with -5 is unlabelled: kept on the time axis
    (frame indices stay true) and masked out of every loss and metric. Errors name the file and the line.
    """
    lines = read_text(path, "annotation file").splitlines()
    if not lines:
        raise DataError(f"{path}: empty annotation file")
    header = [h.strip().lower() for h in lines[0].split(",")]
    if header != ["valence", "arousal"]:
        raise DataError(f"{path}:1: expected the header 'valence,arousal', found '{lines[0].strip()}'")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            v, a = (float(p) for p in parts)
        except ValueError:
            raise DataError(f"{path}:{lineno}: expected two comma-separated numbers, found '{line.strip()}'") from None
        for value in (v, a):
            if value != UNLABELLED and not -1.0 <= value <= 1.0:
                raise DataError(f"{path}:{lineno}: value {value} is outside [-1, 1] and is not the -5 marker")
        rows.append((v, a))
    if not rows:
        raise DataError(f"{path}: no annotation lines after the header")
    values = np.asarray(rows, np.float32)
    labelled = (values != UNLABELLED).all(axis=1)
    return values, labelled


EXPR_CLASSES = ["Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"]
AU_NAMES = ["AU1", "AU2", "AU4", "AU6", "AU7", "AU10", "AU12", "AU15", "AU23", "AU24", "AU25", "AU26"]


def _lines(path: Path, header: list[str]) -> list[tuple[int, str]]:
    """(line number, text) of the data lines of an annotation file whose first line must be ``header``."""
    lines = read_text(path, "annotation file").splitlines()
    if not lines:
        raise DataError(f"{path}: empty annotation file")
    found = [h.strip().lower() for h in lines[0].split(",")]
    if found != [h.lower() for h in header]:
        raise DataError(f"{path}:1: expected the header '{','.join(header)}', found '{lines[0].strip()}'")
    rows = [(n, line) for n, line in enumerate(lines[1:], start=2) if line.strip()]
    if not rows:
        raise DataError(f"{path}: no annotation lines after the header")
    return rows


def read_expr_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """EXPR track: header ``Neutral,Anger,...,Other``, then one class index 0..7 per frame, -1 = unlabelled.
    Returns (classes (N,) int64, labelled (N,) bool)."""
    values = []
    for lineno, line in _lines(path, EXPR_CLASSES):
        try:
            value = int(line.strip())
        except ValueError:
            raise DataError(f"{path}:{lineno}: expected one integer class index, found '{line.strip()}'") from None
        if not -1 <= value < len(EXPR_CLASSES):
            raise DataError(f"{path}:{lineno}: class {value} is outside 0..{len(EXPR_CLASSES) - 1} and is not -1")
        values.append(value)
    classes = np.asarray(values, np.int64)
    return np.maximum(classes, 0), classes >= 0


def read_au_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """AU track: header ``AU1,AU2,...,AU26`` (12 units), then one line of 0/1 per frame; a -1 marks an unlabelled
    frame. Returns (units (N, 12) float32, labelled (N,) bool)."""
    rows = []
    for lineno, line in _lines(path, AU_NAMES):
        try:
            row = [int(v) for v in line.split(",")]
        except ValueError:
            raise DataError(f"{path}:{lineno}: expected {len(AU_NAMES)} comma-separated 0/1 values, found "
                            f"'{line.strip()}'") from None
        if len(row) != len(AU_NAMES) or not set(row) <= {-1, 0, 1}:
            raise DataError(f"{path}:{lineno}: expected {len(AU_NAMES)} values in {{0, 1}} (or -1), found "
                            f"'{line.strip()}'")
        rows.append(row)
    units = np.asarray(rows, np.float32)
    labelled = (units >= 0).all(axis=1)
    return np.where(units < 0, 0.0, units).astype(np.float32), labelled
