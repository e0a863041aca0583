"""``mmer make-fixture groupwalk DIR``: a tiny GroupWalk dataset in mmer's documented layout
(:mod:`data_modules.groupwalk`), with the faults real pose output has.

Four 48-frame videos (160 x 120, 10 fps) of three walking agents each, 12 agents, 3 per class. Every cue follows the
agent's emotion, so each module can learn something alone: the head colour (face), the walking speed, stride and arm
swing (gait), the head drop and arm spread (posture). Two videos are tagged ``street``, two ``park``.

Faults on purpose: videos v01/v03 have BODY_25 OpenPose output, v02/v04 COCO-18; people are listed in a shuffled
order each frame (OpenPose does not track) and a bystander without an agent box walks in v01; the OpenPose file of
v01 frame 5 is missing; ankles sometimes have zero confidence; agent ``a2`` of v02 walks away from the camera (no
nose or eyes: no visible face); agent ``a1`` of v03 starts half outside the frame (its box is clipped).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data_modules.groupwalk_files import BODY25_TO_COCO18, CLASSES

WIDTH, HEIGHT, FRAMES, FPS = 160, 120, 48, 10
HEAD_COLOUR = {"angry": (220, 40, 40), "happy": (230, 210, 40), "neutral": (140, 140, 140), "sad": (40, 70, 220)}
SPEED = {"angry": 2.2, "happy": 1.6, "neutral": 1.0, "sad": 0.5}  # pixels per frame
SWING = {"angry": 0.16, "happy": 0.12, "neutral": 0.08, "sad": 0.04}  # stride, fraction of the body height
SPREAD = {"angry": 1.5, "happy": 1.2, "neutral": 1.0, "sad": 0.8}  # arm spread
DROP = {"angry": 0.0, "happy": -0.01, "neutral": 0.01, "sad": 0.05}  # head drop, fraction of the body height
VIDEOS = {"v01": ("street", 50), "v02": ("street", 70), "v03": ("park", 110), "v04": ("park", 130)}


def _skeleton(box: np.ndarray, emotion: str, phase: float, away: bool) -> np.ndarray:
    """COCO-18 (18, 3) pixels of an agent walking inside ``box``."""
    x1, y1, x2, y2 = box
    h, cx = y2 - y1, (x1 + x2) / 2
    s, sw, d = SPREAD[emotion], SWING[emotion] * np.sin(phase), DROP[emotion]
    j = np.array([
        (cx, y1 + (0.08 + d) * h), (cx, y1 + 0.2 * h), (cx - 0.1 * s * h, y1 + 0.22 * h),
        (cx - 0.14 * s * h - sw * h, y1 + 0.36 * h), (cx - 0.15 * s * h - 1.5 * sw * h, y1 + 0.48 * h),
        (cx + 0.1 * s * h, y1 + 0.22 * h), (cx + 0.14 * s * h + sw * h, y1 + 0.36 * h),
        (cx + 0.15 * s * h + 1.5 * sw * h, y1 + 0.48 * h), (cx - 0.06 * h, y1 + 0.55 * h),
        (cx - 0.06 * h + sw * h, y1 + 0.76 * h), (cx - 0.06 * h + 2 * sw * h, y1 + 0.97 * h),
        (cx + 0.06 * h, y1 + 0.55 * h), (cx + 0.06 * h - sw * h, y1 + 0.76 * h),
        (cx + 0.06 * h - 2 * sw * h, y1 + 0.97 * h), (cx - 0.02 * h, y1 + (0.06 + d) * h),
        (cx + 0.02 * h, y1 + (0.06 + d) * h), (cx - 0.04 * h, y1 + (0.07 + d) * h),
        (cx + 0.04 * h, y1 + (0.07 + d) * h)])
    conf = np.full((18, 1), 0.9)
    if away:
        conf[[0, 14, 15]] = 0.0  # no nose, no eyes: the back of the head
    return np.concatenate([j, conf], 1)


def _body25(pose: np.ndarray) -> np.ndarray:
    out = np.zeros((25, 3))
    out[list(BODY25_TO_COCO18)] = pose
    out[8] = [*(pose[8, :2] + pose[11, :2]) / 2, 0.9]  # MidHip
    for foot, ankle in ((19, 13), (20, 13), (21, 13), (22, 10), (23, 10), (24, 10)):
        out[foot] = pose[ankle] + [1.0, 1.0, 0.0]
    return out


def _draw(img: np.ndarray, box: np.ndarray, colour) -> None:
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    img[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = colour


def make_groupwalk_fixture(root: str | Path, seed: int = 0) -> Path:
    from mmer.fixtures import write_video

    root = Path(root)
    rng = np.random.default_rng(seed)
    rows = ["video,agent,frame,x1,y1,x2,y2,label,location," + ",".join(f"votes_{c}" for c in CLASSES)]
    emotions = [CLASSES[i % 4] for i in range(12)]
    for v, (video, (location, background)) in enumerate(VIDEOS.items()):
        agents = []
        for a in range(3):
            emotion = emotions[3 * v + a]
            height = 60 + 8 * a
            start = -20.0 if (video, a) == ("v03", 1) else 10.0 + 45 * a
            agents.append((f"a{a}", emotion, height, start, 25 + 12 * a + int(rng.integers(0, 6))))
        frames = np.empty((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
        pose_dir = root / "openpose" / video
        pose_dir.mkdir(parents=True, exist_ok=True)
        for f in range(FRAMES):
            img = np.full((HEIGHT, WIDTH, 3), background, np.float64)
            img += rng.normal(0, 6, img.shape)
            people = []
            for agent, emotion, height, start, top in agents:
                x = start + SPEED[emotion] * f
                x = (x + 20) % (WIDTH + 20) - 20 if x > WIDTH - 10 else x
                width = 0.45 * height
                box = np.array([x, top, x + width, top + height], np.float64)
                away = (video, agent) == ("v02", "a2")
                pose = _skeleton(box, emotion, 2 * np.pi * f * (0.08 + SPEED[emotion] * 0.05), away)
                _draw(img, box, (60, 90, 60))
                head = np.array([pose[0, 0] - 0.1 * height, box[1], pose[0, 0] + 0.1 * height, box[1] + 0.2 * height])
                _draw(img, head, (90, 60, 40) if away else HEAD_COLOUR[emotion])
                if rng.random() < 0.2:
                    pose[[10, 13], 2] = 0.0  # ankles not detected
                people.append(pose)
                votes = [3 if c == emotion else int(rng.integers(0, 2)) for c in CLASSES]
                rows.append(f"{video},{agent},{f},{box[0]:.1f},{box[1]:.1f},{box[2]:.1f},{box[3]:.1f},{emotion},"
                            f"{location}," + ",".join(map(str, votes)))
            if video == "v01" and f >= 20:  # a bystander with no agent box
                people.append(_skeleton(np.array([120.0, 2.0, 135.0, 30.0]), "neutral", 0.0, False))
            frames[f] = np.clip(img, 0, 255).astype(np.uint8)
            if video == "v01" and f == 5:
                continue  # OpenPose wrote nothing for this frame
            order = rng.permutation(len(people))
            body25 = video in ("v01", "v03")
            listed = [(_body25(people[i]) if body25 else people[i]).reshape(-1).round(2).tolist() for i in order]
            (pose_dir / f"{video}_{f:012d}_keypoints.json").write_text(json.dumps(
                {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p} for p in listed]}))
        write_video(root / "videos" / f"{video}.mp4", frames, None, fps=FPS)
    (root / "annotations.csv").write_text("\n".join(rows) + "\n")
    return root


def make_egait_fixture(root: str | Path, seed: int = 0, gaits: int = 20, frames: int = 40) -> Path:
    """``mmer make-fixture egait DIR``: ``features.h5`` ((frames, 48) per gait, 16 joints x 3D, E-Gait order) and
    ``labels.h5`` (0 angry, 1 neutral, 2 happy, 3 sad); the stride and pace follow the label."""
    import h5py

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = ("angry", "neutral", "happy", "sad")
    base = np.array([[0, 0, 0], [0, .3, 0], [0, .55, 0], [0, .7, 0], [-.2, .5, 0], [-.25, .25, 0], [-.25, 0, 0],
                     [.2, .5, 0], [.25, .25, 0], [.25, 0, 0], [-.1, 0, 0], [-.1, -.45, 0], [-.1, -.9, 0],
                     [.1, 0, 0], [.1, -.45, 0], [.1, -.9, 0]])
    with h5py.File(root / "features.h5", "w") as fx, h5py.File(root / "labels.h5", "w") as fy:
        for g in range(gaits):
            label = g % 4
            t = np.arange(frames)[:, None]
            swing = SWING[names[label]] * 2 * np.sin(2 * np.pi * t * (0.05 + 0.03 * SPEED[names[label]]))
            seq = np.repeat(base[None], frames, 0) + rng.normal(0, 0.01, (frames, 16, 3))
            seq[:, [11, 12], 0] += swing  # left leg
            seq[:, [14, 15], 0] -= swing  # right leg
            fx.create_dataset(f"{g:03d}", data=seq.reshape(frames, 48))
            fy.create_dataset(f"{g:03d}", data=np.array([label]))
    return root
