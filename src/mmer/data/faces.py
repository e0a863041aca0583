"""Face crops for videos that come without them (``mmer predict`` on a new video): one detector whose weights ship
inside its PyPI wheel, so nothing is downloaded at run time.

The detector is MTCNN from ``facenet-pytorch``. Its wheel pins torch < 2.3, which conflicts with mmer's pinned
torch, so it cannot be an extra of mmer; it runs with the newer torch when installed without its dependencies, which
``make install`` does::

    pip install --no-deps facenet-pytorch==2.6.0

Without it, frames keep no face (their visual input is masked and flagged ``face_found=0``) and the other
modalities still predict. Crops are written in Aff-Wild2's ``cropped_aligned`` layout (``<folder>/<video>/00001.jpg``,
1-based frame numbers; a frame without a face has no file), the layout training read.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmer.data.media import iter_frames

log = logging.getLogger(__name__)
#: a detector: (H, W, 3) uint8 RGB frame -> (x1, y1, x2, y2) of the most confident face, or None
Detector = Callable[[np.ndarray], "tuple[float, float, float, float] | None"]


def mtcnn_detector() -> Detector | None:
    """facenet-pytorch's MTCNN on the CPU (the most probable face per frame), or None when it is not installed."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError:
        return None
    from PIL import Image

    net = MTCNN(keep_all=False, post_process=False, device="cpu")

    def detect(frame: np.ndarray):
        boxes, probs = net.detect(Image.fromarray(frame))
        if boxes is None or len(boxes) == 0:
            return None
        return tuple(float(v) for v in boxes[int(np.nanargmax(np.asarray(probs, float)))])

    return detect


def crop_face(frame: np.ndarray, box: tuple[float, float, float, float] | None, size: int, margin: float = 0.2):
    """The square around ``box`` (x1, y1, x2, y2) grown by ``margin`` of its side, or the frame's centred square when
    ``box`` is None, resized to ``size``: a PIL image."""
    from PIL import Image

    image = Image.fromarray(frame)
    if box is None:
        w, h = image.size
        side, cx, cy = min(w, h), w / 2, h / 2
    else:
        x1, y1, x2, y2 = box
        side, cx, cy = max(x2 - x1, y2 - y1) * (1 + margin), (x1 + x2) / 2, (y1 + y2) / 2
    crop = image.crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
    return crop.resize((size, size), Image.BILINEAR)


def write_face_crops(video: Path, folder: Path, detect: Detector, size: int = 112, margin: float = 0.2) -> int:
    """Detect a face in every frame of ``video`` and save square crops (the box grown by ``margin`` of its side)
    resized to ``size`` as ``folder/00001.jpg ...``; returns the frames with a face. Written to a temporary folder
    first, so an interrupted run leaves no partial folder that could pass for a complete one."""
    tmp = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    found = 0
    for index, frame in iter_frames(video):
        box = detect(frame)
        if box is None:
            continue
        crop_face(frame, box, size, margin).save(tmp / f"{index + 1:05d}.jpg", quality=95)
        found += 1
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return found
