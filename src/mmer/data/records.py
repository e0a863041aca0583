"""What a data module indexes and loads: a modality's spec, a recording, a loaded item; and the checks every
index must pass (partitions, the data root)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from mmer.core.errors import DataError

#: no feature, signal or embedding comes near this magnitude (the largest met: ComParE functionals, about 3e9); a
#: value beyond it is a corrupt cell or a unit error (a float WAV of amplitude 1e29, a pupil of 1e30 mm)
ABSURD = 1e15


def check_values(x: np.ndarray, where: str, limit: float = ABSURD, *, what: str = "input values",
                 fix: str = "the source file holds a wrong unit or a corrupt value; re-extract, fix or drop it") -> None:
    """Float values finite and at most ``limit`` in magnitude (integer frames and tokens pass), else a
    :class:`~mmer.core.errors.DataError` naming ``where``: a NaN or a 1e30 would otherwise surface as a NaN loss on
    an anonymous batch. Every data module's inputs at setup (``limit`` :data:`ABSURD`) and every decoded waveform
    (:func:`mmer.data.audio.check_waveform`) pass through it."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(f"{where}: {int(bad.sum())} of {x.size} {what} are NaN or infinite; {fix}")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > limit:
        raise DataError(f"{where}: {what} reach {peak:.3g}, beyond |x| <= {limit:g}; {fix}")


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


def require_dir(root: str | None, dataset: str) -> str:
    """Return ``root`` if it is an existing directory, else stop with a message naming the path and the fix."""
    if not root:
        raise DataError(f"{dataset}: no data directory given: run `make train DATASET={dataset} DATA_DIR=/path/to/"
                        f"{dataset}` or pass data.root=/path/to/{dataset}")
    if not os.path.isdir(root):
        raise DataError(f"{dataset}: data directory '{root}' does not exist: point DATA_DIR (or data.root) at your "
                        f"copy of {dataset}")
    return root
