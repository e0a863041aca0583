"""Windows over a recording and their inverse, stitching window outputs back to one row per frame
(docs/reference/definitions.md, "Windows").

These functions are public: call them on your own prediction files.
"""

from __future__ import annotations

import numpy as np


def window_starts(length: int, window: int = 300, hop: int = 200, align: int = 1) -> list[int]:
    """Start frames of the windows covering a video of ``length`` frames.

    L > window: 0, hop, 2*hop, ... while start + window < L, then one last window [L - window, L) aligned to the
    end. L <= window: a single window [0, L) (the caller pads it to ``window`` with a mask).
    Examples: L=777 -> [0, 200, 400, 477]; L=700 -> [0, 200, 400]; L=301 -> [0, 1].

    ``align`` > 1 (a grid of sub-clips, e.g. cached backbone tokens of 32 frames) rounds the last start up to a
    multiple of ``align`` (that window then runs past the end and is padded); window and hop must be multiples of it.
    L=777, window=512, hop=256, align=32 -> [0, 256, 288].
    """
    if length < 1 or window < 1 or hop < 1 or align < 1:
        raise ValueError(f"window_starts needs positive length/window/hop/align, got {length}/{window}/{hop}/{align}")
    if window % align or hop % align:
        raise ValueError(f"window={window} and hop={hop} must be multiples of align={align}")
    if length <= window:
        return [0]
    starts = []
    s = 0
    while s + window < length:
        starts.append(s)
        s += hop
    starts.append(-(-(length - window) // align) * align)
    return sorted(set(starts))


def stitch_windows(outputs: np.ndarray, starts: list[int], length: int) -> np.ndarray:
    """Per-frame predictions from overlapping window outputs.

    outputs: (W, window, D) or (W, window); starts: W start frames; returns (length, D) (or (length,)), each frame
    the uniform mean of every window output covering it. Padding beyond ``length`` is dropped.
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    squeeze = outputs.ndim == 2
    if squeeze:
        outputs = outputs[..., None]
    if len(starts) != outputs.shape[0]:
        raise ValueError(f"stitch_windows: {outputs.shape[0]} window outputs but {len(starts)} starts")
    total = np.zeros((length, outputs.shape[2]))
    count = np.zeros((length, 1))
    for out, s in zip(outputs, starts):
        n = min(out.shape[0], length - s)
        total[s:s + n] += out[:n]
        count[s:s + n] += 1
    if (count == 0).any():
        missing = int((count == 0).sum())
        raise ValueError(f"stitch_windows: {missing} of {length} frames are covered by no window")
    result = total / count
    return result[:, 0] if squeeze else result
