"""Face crops for videos that come without them (``mmer predict`` on a new video, RAVDESS's video release): one
detector whose weights ship inside its PyPI wheel, so nothing is downloaded at run time.

The detector is MTCNN from ``facenet-pytorch``. Its wheel pins torch < 2.3, which conflicts with mmer's pinned
torch, so it cannot be an extra of mmer; it runs with the newer torch when installed without its dependencies, which
``make install`` does::

    pip install --no-deps facenet-pytorch==2.6.0

**Crops.** As Aff-Wild2's ``cropped_aligned``: the detector's box, grown by ``margin`` of its longer side to a square,
turned about the box centre so that the two eyes (the detector's landmarks) lie level, resampled to ``size`` x
``size`` (:func:`align_face`). Written as ``<folder>/00001.jpg ...`` (1-based frame numbers); a frame without a face
has no file and is masked where it is read (``face_found=0``), never filled with another frame's face. Each folder
also gets ``faces.csv``: per frame its time, box, eyes, score and whether the face was detected, interpolated or
not found.

**Speed** (:class:`Tracking`). The straightforward way detects every frame at full resolution, one at a time. Here
the detector sees frames downscaled so that their short side is ``detect_side`` (a 720p frame at half size), in
batches, and only every ``stride``-th frame (and each batch's last): between two such key frames whose faces
overlap (IoU >= ``reuse_iou``: the face moved little) the box and the eyes are interpolated linearly; anywhere else
every frame in between is detected. ``benchmarks`` workload 7 measures crops per second against the straightforward
way and the boxes' agreement with it (mean IoU).

Without facenet-pytorch, frames keep no face (their visual input is masked and flagged ``face_found=0``) and the
other modalities still predict.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import version as _version
from pathlib import Path
from typing import Any

import numpy as np

from mmer.core.errors import DataError
from mmer.data.media import MEDIA_TOLERANCE, frame_times, iter_frames, video_info

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Face:
    """One face in one frame, in that frame's pixels: ``box`` (x1, y1, x2, y2), ``eyes`` ((x, y) of the eye on the
    image's left, then the other) or None when the detector gives no landmarks, ``score`` in [0, 1]."""

    box: tuple[float, float, float, float]
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None
    score: float = 1.0

    def scaled(self, k: float) -> Face:
        """The same face in a frame ``k`` times as large."""
        eyes = None if self.eyes is None else tuple((x * k, y * k) for x, y in self.eyes)
        return Face(tuple(v * k for v in self.box), eyes, self.score)

    def towards(self, other: Face, t: float) -> Face:
        """The face a fraction ``t`` of the way to ``other`` (linear in box, eyes and score)."""
        box = tuple(a + t * (b - a) for a, b in zip(self.box, other.box))
        eyes = None
        if self.eyes is not None and other.eyes is not None:
            eyes = tuple((ax + t * (bx - ax), ay + t * (by - ay)) for (ax, ay), (bx, by) in zip(self.eyes, other.eyes))
        return Face(box, eyes, self.score + t * (other.score - self.score))


#: a detector: frames (N, H, W, 3) uint8 RGB of one size -> per frame the most probable face, or None. A detector
#: may carry ``settings``, a JSON-able dict of what changes its output (see :func:`detector_identity`)
Detector = Callable[[np.ndarray], "list[Face | None]"]


def detector_identity(detect: Detector | None) -> Any:
    """What tells one detector's faces from another's, for records of crops made with it: its ``settings``
    (e.g. ``{"name": "mtcnn", "min_face": 24, ...}``) when it carries them, else its qualified name."""
    if detect is None:
        return None
    settings = getattr(detect, "settings", None)
    if settings is not None:
        return settings
    return f"{getattr(detect, '__module__', '')}.{getattr(detect, '__qualname__', type(detect).__qualname__)}"


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2); 0 for boxes without area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mtcnn_detector(min_face: int = 20) -> Detector | None:
    """facenet-pytorch's MTCNN on the CPU: per frame the most probable face with its eye landmarks; None when
    facenet-pytorch is not installed. ``min_face``: the smallest face side searched, in the detector's pixels."""
    try:
        from facenet_pytorch import MTCNN
    except ImportError:
        return None

    net = MTCNN(keep_all=True, post_process=False, min_face_size=min_face, device="cpu")

    def detect(frames: np.ndarray) -> list[Face | None]:
        if frames.ndim != 4:
            raise ValueError(f"a detector takes a batch of frames (N, H, W, 3), not {frames.shape}")
        boxes, probs, points = net.detect(np.ascontiguousarray(frames), landmarks=True)
        faces: list[Face | None] = []
        for box, prob, point in zip(boxes, probs, points):
            if box is None or len(box) == 0:
                faces.append(None)
                continue
            best = int(np.nanargmax(np.asarray(prob, float)))
            left, right = sorted(tuple(map(float, p)) for p in point[best][:2])
            faces.append(Face(tuple(map(float, box[best])), (left, right), float(prob[best])))
        return faces

    detect.settings = {"name": "mtcnn", "min_face": min_face, "keep": "most probable",
                       "facenet_pytorch": _version("facenet-pytorch")}
    return detect


def face_square(face: Face | None, width: int, height: int, margin: float) -> tuple[float, float, float, float]:
    """(centre x, centre y, side, angle in radians) of a face's crop: the box's longer side grown by ``margin``,
    turned so the eyes lie level; with no face, the frame's centred square, unturned."""
    if face is None:
        return width / 2, height / 2, float(min(width, height)), 0.0
    x1, y1, x2, y2 = face.box
    angle = 0.0
    if face.eyes is not None:
        (lx, ly), (rx, ry) = face.eyes
        angle = math.atan2(ry - ly, rx - lx)
    return (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * (1 + margin), angle


def align_face(frame: np.ndarray, face: Face | None, size: int = 112, margin: float = 0.2) -> np.ndarray:
    """The aligned crop (module doc) of ``frame`` (H, W, 3) uint8 -> (size, size, 3) uint8; ``face`` None gives the
    frame's centred square. Output pixel (u, v) samples the frame at ``c + R(angle) (u - size/2, v - size/2) side /
    size`` (c: the square's centre), bilinear; outside the frame is black."""
    from PIL import Image

    h, w = frame.shape[:2]
    cx, cy, side, angle = face_square(face, w, h, margin)
    k, cos, sin = side / size, math.cos(angle), math.sin(angle)
    half = size / 2
    coeffs = (k * cos, -k * sin, cx - k * (cos * half - sin * half),
              k * sin, k * cos, cy - k * (sin * half + cos * half))
    image = Image.fromarray(frame).transform((size, size), Image.AFFINE, coeffs, resample=Image.BILINEAR)
    return np.asarray(image)


def crop_face(frame: np.ndarray, face: Face | None, size: int, margin: float = 0.2):
    """:func:`align_face` as a PIL image."""
    from PIL import Image

    return Image.fromarray(align_face(frame, face, size, margin))


def spaced_faces(video: Path, count: int, size: int, detect: Detector | None,
                 tolerance: float = MEDIA_TOLERANCE) -> np.ndarray:
    """``count`` frames evenly spaced over ``video`` as aligned face crops (count, 3, size, size) uint8: black
    where ``detect`` finds no face (the caller masks them); ``detect`` None: each frame's centred square."""
    total = video_info(video)[1]
    pick = set(np.linspace(0, max(total - 1, 0), count).round().astype(int).tolist())
    frames = [f for i, f in iter_frames(video, tolerance) if i in pick]
    if not frames:
        raise DataError(f"{video}: the video decoded to no frames")
    frames = [frames[i] for i in np.linspace(0, len(frames) - 1, count).round().astype(int)]
    faces = detect_faces(detect, frames) if detect else [None] * len(frames)
    crops = np.zeros((len(frames), 3, size, size), np.uint8)
    for k, (frame, face) in enumerate(zip(frames, faces)):
        if face is not None or detect is None:
            crops[k] = align_face(frame, face, size).transpose(2, 0, 1)
    return crops


@dataclasses.dataclass(frozen=True)
class Tracking:
    """How faces are found along a video (module doc). ``stride=1, detect_side=None, batch=1`` is the straightforward
    way: every frame detected at full resolution, one at a time."""

    detect_side: int | None = 360   # the detector sees frames with this short side (None: full resolution)
    batch: int = 8                  # key frames per detector call
    stride: int = 5                 # a key frame every `stride` frames
    reuse_iou: float = 0.6          # interpolate between key frames whose faces overlap this much

    def __post_init__(self):
        if self.stride < 1 or self.batch < 1 or not 0 <= self.reuse_iou <= 1:
            raise ValueError(f"{self}: stride and batch must be >= 1 and reuse_iou in [0, 1]")


STRAIGHTFORWARD = Tracking(detect_side=None, batch=1, stride=1)


@dataclasses.dataclass(frozen=True)
class TrackedFrame:
    """One frame with its face and how the face was found: ``detected``, ``interpolated`` or ``none``."""

    index: int
    frame: np.ndarray
    face: Face | None
    source: str


def detect_faces(detect: Detector, frames: list[np.ndarray], side: int | None = 360) -> list[Face | None]:
    """``detect`` on frames downscaled (every k-th pixel) so that their short side is about ``side``; faces in the
    original frames' pixels."""
    if not frames:
        return []
    k = 1 if side is None else max(1, round(min(frames[0].shape[:2]) / side))
    faces = detect(np.stack([f[::k, ::k] for f in frames]))
    return [None if f is None else f.scaled(k) for f in faces]


def track_faces(frames: Iterable[np.ndarray], detect: Detector, tracking: Tracking = Tracking()) -> Iterator[TrackedFrame]:
    """Every frame of ``frames`` (each (H, W, 3) uint8, one size) with its face, in order (module doc)."""
    chunk: list[np.ndarray] = []
    start = 0
    span = tracking.batch * tracking.stride
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == span:
            yield from _track_chunk(chunk, start, detect, tracking)
            start, chunk = start + len(chunk), []
    if chunk:
        yield from _track_chunk(chunk, start, detect, tracking)


def _track_chunk(chunk: list[np.ndarray], start: int, detect: Detector, t: Tracking) -> list[TrackedFrame]:
    keys = sorted({*range(0, len(chunk), t.stride), len(chunk) - 1})
    faces: dict[int, Face | None] = dict(zip(keys, detect_faces(detect, [chunk[k] for k in keys], t.detect_side)))
    source = {k: "detected" for k in keys}
    redo = []
    for a, b in zip(keys, keys[1:]):
        fa, fb = faces[a], faces[b]
        if fa is not None and fb is not None and iou(fa.box, fb.box) >= t.reuse_iou:
            for k in range(a + 1, b):
                faces[k], source[k] = fa.towards(fb, (k - a) / (b - a)), "interpolated"
        else:
            redo += range(a + 1, b)
    for first in range(0, len(redo), t.batch):
        part = redo[first:first + t.batch]
        for k, face in zip(part, detect_faces(detect, [chunk[k] for k in part], t.detect_side)):
            faces[k], source[k] = face, "detected"
    return [TrackedFrame(start + k, frame, faces[k], source[k] if faces[k] is not None else "none")
            for k, frame in enumerate(chunk)]


@dataclasses.dataclass(frozen=True)
class CropReport:
    """What :func:`write_face_crops` did to one video."""

    frames: int
    detected: int
    interpolated: int

    @property
    def found(self) -> int:
        return self.detected + self.interpolated

    def line(self, name: str) -> str:
        return (f"{name}: a face in {self.found} of {self.frames} frames ({self.detected} detected, "
                f"{self.interpolated} interpolated; {self.frames - self.found} masked)")


FACES_CSV = "faces.csv"


def read_crop_report(folder: Path) -> CropReport | None:
    """The :class:`CropReport` of a crop folder that :func:`write_face_crops` finished (from its ``faces.csv``: one
    row per frame, its last column how the face was found); None when there is none or it cannot be read."""
    try:
        rows = (folder / FACES_CSV).read_text().splitlines()[1:]
    except OSError:
        return None
    sources = [row.rsplit(",", 1)[-1] for row in rows if row]
    return CropReport(len(sources), sources.count("detected"), sources.count("interpolated"))


def write_face_crops(video: Path, folder: Path, detect: Detector, size: int = 112, margin: float = 0.2,
                     tracking: Tracking = Tracking(), tolerance: float | None = None) -> CropReport:
    """Aligned face crops of every frame of ``video`` (module doc) as ``folder/00001.jpg ...`` and ``faces.csv``.
    Written to a temporary folder first, so an interrupted run leaves no partial folder that could pass for a
    complete one. A video in which no frame has a face says so in one warning."""
    from PIL import Image


    tmp = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    times = frame_times(video)
    counts = {"detected": 0, "interpolated": 0, "none": 0}
    rows = ["frame,time_s,x1,y1,x2,y2,left_eye_x,left_eye_y,right_eye_x,right_eye_y,score,source"]
    frames = (f for _, f in iter_frames(video, MEDIA_TOLERANCE if tolerance is None else tolerance))
    for tracked in track_faces(frames, detect, tracking):
        counts[tracked.source] += 1
        face, n = tracked.face, tracked.index + 1
        time = f"{times[tracked.index]:.4f}" if tracked.index < len(times) else ""
        if face is None:
            rows.append(f"{n},{time}" + "," * 9 + ",none")
            continue
        Image.fromarray(align_face(tracked.frame, face, size, margin)).save(tmp / f"{n:05d}.jpg", quality=95)
        eyes = [c for eye in face.eyes for c in eye] if face.eyes else [math.nan] * 4
        rows.append(",".join([str(n), time, *(f"{v:.2f}" for v in (*face.box, *eyes)), f"{face.score:.4f}",
                              tracked.source]).replace("nan", ""))
    (tmp / FACES_CSV).write_text("\n".join(rows) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    report = CropReport(sum(counts.values()), counts["detected"], counts["interpolated"])
    if report.found == 0:
        log.warning("%s: no face in any of its %d frames; its visual input is masked throughout (face_found=0)",
                    video, report.frames)
    else:
        log.info(report.line(str(video)))
    return report


def contact_sheet(folder: Path, frames: int, path: Path, tiles: int = 48, columns: int = 8, tile: int = 96) -> Path:
    """A PNG of ``tiles`` crops of ``folder`` (the cropped_aligned layout) evenly spaced over its ``frames`` frames,
    each captioned with its frame number; a frame without a crop is a grey tile marked "no face". For a person to
    check at a glance that every crop holds the face."""
    from PIL import Image, ImageDraw

    picks = sorted(set(np.linspace(1, max(frames, 1), min(tiles, max(frames, 1))).round().astype(int).tolist()))
    rows = math.ceil(len(picks) / columns)
    sheet = Image.new("RGB", (columns * tile, rows * (tile + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, n in enumerate(picks):
        x, y = (k % columns) * tile, (k // columns) * (tile + 14)
        crop = folder / f"{n:05d}.jpg"
        if crop.is_file():
            with Image.open(crop) as img:
                sheet.paste(img.convert("RGB").resize((tile, tile)), (x, y))
            caption = f"{n}"
        else:
            draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill=(160, 160, 160))
            draw.text((x + 8, y + tile // 2 - 6), "no face", fill="black")
            caption = f"{n} (none)"
        draw.text((x + 2, y + tile + 1), caption, fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    sheet.save(tmp, format="PNG")
    tmp.replace(path)
    return path
