"""What a dataset is, independent of where it lies: the fingerprint that a run's hash includes instead of
``data.root``, so that a copy of the data on scratch space (or another machine) reuses the finished folds.

fingerprint = sha256 over the recordings in id order of (id, group, partition, frames, official_val) and of every
target's values and masks as the data module loaded them. Two copies of a dataset with the same recordings and the
same labels give the same fingerprint wherever they are; a changed label, a recording added or left out (or skipped
as bad input), another partition or fold grouping gives another. Input media are not hashed (the feature cache
keys them by name, size and modification time).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


def data_fingerprint(dm: Any) -> str:
    """The fingerprint (16 hex digits) of a set-up data module (after ``setup``: its targets are loaded then)."""
    digest = hashlib.sha256()
    for rec in sorted(dm.recordings, key=lambda r: r.id):
        digest.update(repr((rec.id, rec.group, rec.partition, rec.num_frames, rec.official_val)).encode())
        targets, masks = dm.targets_of(rec)
        for name in sorted(targets):
            for array in (targets[name], masks[name]):
                a = np.ascontiguousarray(np.asarray(array))
                digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
                digest.update(a.tobytes())
    return digest.hexdigest()[:16]
