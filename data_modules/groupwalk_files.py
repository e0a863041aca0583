"""GroupWalk files: the agent CSV, OpenPose / per-agent keypoints, E-Gait gaits, and the geometry on boxes and poses.

GroupWalk publishes no annotation format in our sources, so mmer defines one (``annotations.csv``, one row per agent
per annotated frame)::

    video,agent,frame,x1,y1,x2,y2,label[,location][,votes_angry,votes_happy,votes_neutral,votes_sad]
                                        [,face_x1,face_y1,face_x2,face_y2]

- ``frame``: 0-based video frame index; box corners in pixels of the video frame (x right, y down).
- ``label``: angry | happy | neutral | sad (any case). An agent's label is its most frequent row label.
- ``location``: optional scene tag (``street``, ``park``, ...), used by ``mmer explain``.
- ``votes_<class>``: optional annotator vote counts, kept as the agent's annotator agreement.
- ``face_*``: optional face box of that frame (empty cells: no face visible); without these columns the face is
  taken from the upper part of the agent box.

Skeletons are converted to one joint set, COCO-18 order (nose, neck, r-shoulder, r-elbow, r-wrist, l-shoulder,
l-elbow, l-wrist, r-hip, r-knee, r-ankle, l-hip, l-knee, l-ankle, r-eye, l-eye, r-ear, l-ear), each joint
(x, y, confidence); the mid-hip is BODY_25's joint 8, or the mean of the two hips.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.paths import plain_name
from mmer.data.readers import read_csv, read_text

CLASSES = ("angry", "happy", "neutral", "sad")
REQUIRED = ("video", "agent", "frame", "x1", "y1", "x2", "y2", "label")
FACE_COLUMNS = ("face_x1", "face_y1", "face_x2", "face_y2")
JOINTS = 18
BODY25_TO_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
NOSE, NECK, R_HIP, L_HIP, R_EYE, L_EYE = 0, 1, 8, 11, 14, 15
# E-Gait / STEP 16-joint order: root, spine, neck, head, l-shoulder, l-elbow, l-hand, r-shoulder, r-elbow, r-hand,
# l-hip, l-knee, l-foot, r-hip, r-knee, r-foot. COCO-18 joint -> E-Gait joint (-1: none; eyes and ears are missing)
EGAIT_TO_COCO18 = (3, 2, 7, 8, 9, 4, 5, 6, 13, 14, 15, 10, 11, 12, -1, -1, -1, -1)


@dataclass
class AgentTrack:
    """One agent of one video: its annotated frames (sorted), boxes (N, 4) x1 y1 x2 y2, optional face boxes (N, 4)
    with NaN rows where no face is visible, label, scene tag and annotator votes."""

    video: str
    agent: str
    frames: np.ndarray
    boxes: np.ndarray
    label: str
    location: str | None = None
    votes: dict[str, float] = field(default_factory=dict)
    faces: np.ndarray | None = None
    label_conflicts: int = 0


def read_annotations(path: Path, on_bad_input: str = "error") -> tuple[list[AgentTrack], dict[str, list[str]]]:
    """``annotations.csv`` -> (tracks with a known label, {reason: [video/agent, ...]} of agents left out).

    A missing column, a non-numeric box, a frame number that is not a whole number >= 0 or a vote count < 0 stops
    with an error naming the file and row; an unknown label leaves that agent out (reported, never guessed); two
    rows for one agent and frame stop with both rows named (``on_bad_input="skip"``: that agent is left out)."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"{path}: annotation file not found; GroupWalk needs annotations.csv with columns "
                        f"{','.join(REQUIRED)} (see docs/datasets/groupwalk.md)")
    df = read_csv(path, "GroupWalk annotation CSV", dtype={"video": str, "agent": str, "label": str, "location": str})
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}. Expected "
                        f"{','.join(REQUIRED)}[,location][,votes_<class>...][,face_x1,face_y1,face_x2,face_y2]")
    vote_cols = [f"votes_{c}" for c in CLASSES if f"votes_{c}" in df.columns]
    for c in ("frame", "x1", "y1", "x2", "y2", *vote_cols):
        values = pd.to_numeric(df[c], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(np.float64))
        if c.startswith("votes_"):  # an empty vote cell is no vote
            bad = (bad & df[c].notna().to_numpy()) | (values.to_numpy(np.float64) < 0)
        elif c == "frame":
            bad |= (values.fillna(-1).to_numpy(np.float64) < 0) | (values.fillna(0) % 1 != 0).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            need = {"frame": "a whole number >= 0"}.get(c, "a count >= 0" if c.startswith("votes_") else "a number")
            raise DataError(f"{path} row {i + 2}: column '{c}' is '{df[c].iloc[i]}', not {need} ({int(bad.sum())} "
                            f"such row(s)); fix or remove those rows")
        df[c] = values
    has_faces = all(c in df.columns for c in FACE_COLUMNS)
    tracks, left_out = [], {}
    twice = df.duplicated(["video", "agent", "frame"], keep=False)
    for (video, agent), g in df.groupby(["video", "agent"], sort=True):
        where = f"{path} row {int(g.index[0]) + 2}"
        plain_name(str(video), f"{where}, column 'video'")  # they name videos/<video>.mp4, keypoints/<video>/<agent>
        plain_name(str(agent), f"{where}, column 'agent'")
        if twice[g.index].any():  # two boxes (or labels) for one agent and frame: neither can be trusted
            rows = (g.index[twice[g.index].to_numpy()] + 2).tolist()
            if on_bad_input == "error":
                raise DataError(f"{path} rows {rows[0]} and {rows[1]}: agent '{agent}' of video '{video}' has two rows "
                                f"for frame {int(df['frame'][rows[0] - 2])}; keep one row per agent and frame "
                                f"(data.on_bad_input=skip leaves such agents out)")
            left_out.setdefault("two rows for one frame", []).append(f"{video}/{agent}")
            continue
        g = g.sort_values("frame")
        labels = Counter(str(v).strip().lower() for v in g["label"])
        label, _ = labels.most_common(1)[0]
        if label not in CLASSES:
            left_out.setdefault(f"unknown label '{label}'", []).append(f"{video}/{agent}")
            continue
        location = None
        if "location" in g and g["location"].notna().any():
            location = str(g["location"].dropna().mode().iloc[0]).strip()
        faces = g[list(FACE_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64) if has_faces else None
        tracks.append(AgentTrack(
            video=str(video), agent=str(agent), frames=g["frame"].to_numpy(np.int64),
            boxes=g[["x1", "y1", "x2", "y2"]].to_numpy(np.float64), label=label, location=location,
            votes={c.removeprefix("votes_"): float(g[c].fillna(0).sum()) for c in vote_cols}, faces=faces,
            label_conflicts=sum(n for lab, n in labels.items() if lab != label)))
    return tracks, left_out


# ------------------------------------------------------------------------------------------------ skeletons
def to_coco18(people: np.ndarray) -> np.ndarray:
    """(P, J, 3) keypoints with J = 25 (BODY_25) or 18 (COCO) -> (P, 18, 3) in COCO-18 order."""
    people = np.asarray(people, np.float64)
    if people.ndim != 3 or people.shape[2] != 3 or people.shape[1] not in (18, 25):
        raise DataError(f"keypoints of shape {people.shape}: expected (people, 25 or 18 joints, x/y/confidence)")
    return people[:, list(BODY25_TO_COCO18)] if people.shape[1] == 25 else people


def mid_hip(pose: np.ndarray) -> np.ndarray | None:
    """(18, 3) COCO-18 pose -> (x, y) of the mid-hip (mean of the confident hips), None if neither hip is seen."""
    hips = [pose[j, :2] for j in (R_HIP, L_HIP) if pose[j, 2] > 0]
    return np.mean(hips, axis=0) if hips else None


def normalise_pose(pose: np.ndarray, min_confidence: float = 0.05) -> np.ndarray | None:
    """Body-centred pose: (18, 3) pixels -> (18, 3) with x, y centred on the mid-hip and divided by the torso
    length |neck - mid-hip|; joints below ``min_confidence`` become (0, 0, 0). None when the torso is not visible
    (no neck or no hip): such a frame is masked, never scaled by a guess."""
    pose = np.where(pose[:, 2:3] >= min_confidence, pose, 0.0)
    centre = mid_hip(pose)
    if centre is None or pose[NECK, 2] <= 0:
        return None
    torso = float(np.linalg.norm(pose[NECK, :2] - centre))
    if torso < 1e-6:
        return None
    out = pose.copy()
    seen = pose[:, 2] > 0
    out[seen, :2] = (pose[seen, :2] - centre) / torso
    return out.astype(np.float32)


def read_openpose_frame(path: Path) -> np.ndarray:
    """One OpenPose ``*_keypoints.json`` -> (P, 18, 3) (P may be 0). BODY_25 or COCO-18 is told by the length."""
    try:
        data = json.loads(read_text(path, "OpenPose keypoint file"))
        people = [np.asarray(p["pose_keypoints_2d"], np.float64) for p in data.get("people", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # AttributeError: JSON not an object
        raise DataError(f"{path}: not a readable OpenPose keypoint file ({exc}); re-run OpenPose on that frame or "
                        f"delete the file (the frame then counts as having no pose)") from None
    people = [p for p in people if p.size]
    if not people:
        return np.zeros((0, JOINTS, 3))
    sizes = {p.size for p in people}
    if len(sizes) != 1 or sizes.pop() not in (75, 54):
        raise DataError(f"{path}: pose_keypoints_2d has {sorted(p.size for p in people)} values; expected 75 "
                        f"(BODY_25) or 54 (COCO-18) per person")
    return to_coco18(np.stack([p.reshape(-1, 3) for p in people]))


_FRAME_NUMBER = re.compile(r"(\d+)(?:_keypoints)?\.json$")


def openpose_files(folder: Path) -> dict[int, Path]:
    """{frame index: file} of an OpenPose output folder (``<name>_000000000012_keypoints.json``: the last number
    before ``_keypoints.json`` is the frame)."""
    files = {}
    for f in folder.glob("*.json"):
        m = _FRAME_NUMBER.search(f.name)
        if m:
            files[int(m.group(1))] = f
    return files


def keypoint_box(pose: np.ndarray) -> np.ndarray | None:
    """Bounding box (x1, y1, x2, y2) of a pose's confident joints, None if it has none."""
    seen = pose[:, 2] > 0
    if not seen.any():
        return None
    xy = pose[seen, :2]
    return np.concatenate([xy.min(0), xy.max(0)])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes (0 when they do not overlap or one is empty)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_people(boxes: Sequence[np.ndarray], people: np.ndarray, min_iou: float = 0.3) -> list[int | None]:
    """OpenPose does not track: give each agent box the person whose keypoint box overlaps it most, greedily by
    IoU (highest pairs first, each person used once), if that IoU >= ``min_iou``. Returns a person index or None
    per box."""
    pairs = []
    for i, box in enumerate(boxes):
        for j, pose in enumerate(people):
            kb = keypoint_box(pose)
            score = iou(box, kb) if kb is not None else 0.0
            if score >= min_iou:
                pairs.append((score, i, j))
    matched: list[int | None] = [None] * len(boxes)
    used = set()
    for _, i, j in sorted(pairs, reverse=True):
        if matched[i] is None and j not in used:
            matched[i], used = j, used | {j}
    return matched


def read_agent_keypoints(path: Path) -> np.ndarray:
    """A per-agent keypoint array file (``.npy``, (F, 25 or 18, 3), row f = video frame f, an all-zero row = not
    detected) -> (F, 18, 3)."""
    try:
        arr = np.load(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the keypoint array ({exc}); expected a .npy of shape (frames, 25 or 18, "
                        f"3)") from None
    return to_coco18(arr)


# ------------------------------------------------------------------------------------------------ boxes and crops
def clip_box(box: np.ndarray, width: int, height: int) -> tuple[np.ndarray | None, bool]:
    """Clip a box to the frame -> (clipped box or None if nothing of it is inside, whether it was clipped)."""
    c = np.array([np.clip(box[0], 0, width), np.clip(box[1], 0, height), np.clip(box[2], 0, width),
                  np.clip(box[3], 0, height)])
    if c[2] - c[0] < 1 or c[3] - c[1] < 1:
        return None, True
    return c, bool(np.any(c != box))


def face_box(box: np.ndarray, pose: np.ndarray | None = None, fraction: float = 0.2) -> np.ndarray:
    """The face square of an agent box: side ``fraction`` x box height (at most the box width), centred on the nose
    when the pose shows it, else horizontally centred at the top of the box."""
    w, h = box[2] - box[0], box[3] - box[1]
    side = min(w, fraction * h)
    if pose is not None and pose[NOSE, 2] > 0:
        cx, cy = pose[NOSE, 0], pose[NOSE, 1]
    else:
        cx, cy = (box[0] + box[2]) / 2, box[1] + side / 2
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def face_visible(pose: np.ndarray | None) -> bool:
    """Without user face boxes: a face is visible unless the matched pose shows neither the nose nor an eye (an
    agent walking away from the camera). No pose at that frame: assumed visible."""
    return pose is None or bool(pose[[NOSE, R_EYE, L_EYE], 2].max() > 0)


def crop_resize(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 frame, box in pixels (may reach outside: padded black) -> (3, size, size) uint8."""
    from PIL import Image

    x1, y1, x2, y2 = (int(round(v)) for v in box)
    img = Image.fromarray(frame).crop((x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)))
    return np.asarray(img.resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)


def masked_context(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The scene without the agent: the frame with the (clipped) agent box set to 0, resized -> (3, size, size)."""
    from PIL import Image

    out = frame.copy()
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    out[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = 0
    return np.asarray(Image.fromarray(out).resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)


# ------------------------------------------------------------------------------------------------ E-Gait
def read_egait(features: Path, labels: Path | None = None) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """E-Gait style ``.h5`` files: ``features`` holds one dataset per gait, (T, 48) = 16 joints x (x, y, z) per
    frame (or (T, 16, 3)); ``labels`` one integer per gait under the same key. -> ({key: (T, 16, 3)}, {key: label}).
    A missing, damaged or non-HDF5 file, a gait of another shape or with non-finite coordinates, and a label that
    is not a class number stop with the file named."""
    try:
        import h5py
    except ImportError:
        raise DataError("E-Gait .h5 files need h5py: pip install h5py") from None
    gaits, classes = {}, {}
    for key, arr in _h5_datasets(h5py, features):
        if arr.ndim == 2 and arr.shape[1] == 48:
            arr = arr.reshape(len(arr), 16, 3)
        if arr.ndim != 3 or arr.shape[1:] != (16, 3) or not len(arr):
            raise DataError(f"{features}: gait '{key}' has shape {arr.shape}; expected (frames, 48) or "
                            f"(frames, 16, 3)")
        if not np.isfinite(arr).all():
            raise DataError(f"{features}: gait '{key}' has {int((~np.isfinite(arr)).sum())} non-finite joint "
                            f"coordinates; re-export it or remove that gait")
        gaits[key] = arr
    if labels is not None:
        found = dict(_h5_datasets(h5py, labels))
        missing = [k for k in gaits if k not in found]
        if missing:
            raise DataError(f"{labels}: no label for gait(s) {missing[:5]} ({len(missing)} in all)")
        for k in gaits:
            value = found[k].reshape(-1)
            if value.size == 0 or not np.isfinite(value[0]) or value[0] != int(value[0]):
                raise DataError(f"{labels}: the label of gait '{k}' is {value[:1].tolist()}, not a class number")
            classes[k] = int(value[0])
    return gaits, classes


def _h5_datasets(h5py, path: Path) -> list[tuple[str, np.ndarray]]:
    """(key, float64 array) of every top-level dataset of an HDF5 file, in key order; a missing, damaged or
    non-HDF5 file, or an entry that is not numbers, is a DataError naming the file (h5py reports damage as
    OSError, RuntimeError, KeyError or ValueError, depending on where it lies)."""
    if not path.is_file():
        raise DataError(f"{path}: not found; E-Gait needs features.h5 and labels.h5 (data.features / data.labels)")
    key = None
    try:
        with h5py.File(path, "r") as fh:
            out = []
            for key in sorted(fh.keys()):
                out.append((key, np.asarray(fh[key], np.float64)))
            return out
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
        where = f"gait '{key}'" if key is not None else "the file"
        raise DataError(f"{path}: {where} cannot be read as HDF5 numbers ({exc}); re-download it") from None


def egait_to_coco18(gait: np.ndarray) -> np.ndarray:
    """(T, 16, 3) 3D joints -> (T, 18, 3) COCO-18 (x, y, confidence): the image-plane x, y of the mapped joints
    (y flipped: E-Gait's y points up, images' down) with confidence 1; eyes and ears confidence 0. The hips give the
    mid-hip; E-Gait's neck is the neck."""
    out = np.zeros((len(gait), JOINTS, 3))
    for coco, src in enumerate(EGAIT_TO_COCO18):
        if src >= 0:
            out[:, coco, 0], out[:, coco, 1], out[:, coco, 2] = gait[:, src, 0], -gait[:, src, 1], 1.0
    return out
