"""GroupWalk (EmotiCon): people walking, one emotion per agent (angry, happy, neutral, sad); EMERSK's dataset.

Layout under ``root`` (``DATA_DIR``); the CSV format is mmer's own (:mod:`mmer.data_modules.groupwalk_files`)::

    annotations.csv                        one row per agent per annotated frame
    videos/<video>.mp4 (or .avi/.mkv/.mov)
    openpose/<video>/*_<frame>_keypoints.json   OpenPose output per frame (BODY_25 or COCO-18), untracked
    keypoints/<video>/<agent>.npy          optional, instead of OpenPose: (frames, 25 or 18, 3) per agent

A sample is a segment of ``segment_frames`` consecutive annotated frames of one agent (a track shorter than half a
segment is dropped, the tail of a longer one kept if it is at least half a segment). Modalities of a sample:

- ``face``: (K, 3, face_size, face_size) uint8 at K = ``frames_per_sample`` evenly spaced frames of the segment,
  from the user's face boxes if the CSV has them, else the upper part of the agent box (centred on the nose when the
  pose shows it); a frame with no visible face is masked (K mask).
- ``context``: (K, 3, context_size, context_size) uint8: the whole frame with the agent's box blacked out.
- ``posture`` and ``gait``: the same (T, 54) body-normalised keypoints (COCO-18 x (x, y, confidence), centred on
  the mid-hip, divided by the torso length) per annotated frame; frames without a matched pose are masked. The
  posture module reads single-frame statistics of them, the gait module the sequence.

Folds are grouped by agent (``group_by: agent``; ``video`` keeps every agent of a video on one side, so no scene is
seen in training and validation both). Nothing crashes mid-epoch on bad input: missing OpenPose files,
zero-confidence joints, agents with no pose at all, boxes outside the frame and unknown labels are masked or left
out at extraction, counted, and reported (log, ``data/*`` in the run summary); an unreadable video stops with its
name (or is skipped with ``on_bad_input: skip``).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.cache import cache_key
from mmer.data.extraction import ExtractedDataset, Extraction
from mmer.data.media import MEDIA_TOLERANCE, iter_frames
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.samples import SampleDataModule
from mmer.data_modules.groupwalk_files import (
    CLASSES,
    JOINTS,
    AgentTrack,
    clip_box,
    crop_resize,
    face_box,
    face_visible,
    masked_context,
    match_people,
    normalise_pose,
    openpose_files,
    read_agent_keypoints,
    read_annotations,
    read_openpose_frame,
)

log = logging.getLogger(__name__)
EXTRACTION_VERSION = 2  # 2: truncated videos are refused (caches of 1 may hold them)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
COUNTERS = ("frames without an OpenPose file", "agent frames with no matching pose", "frames with no visible torso",
            "agents with no pose at all", "boxes clipped to the frame", "boxes outside the frame",
            "sampled frames without a visible face", "annotated frames beyond the video's end")


@dataclass(frozen=True)
class Segment:
    track: AgentTrack
    rows: tuple[int, int]  # [lo, hi) rows of the track


class GroupWalkDataModule(ExtractedDataset, SampleDataModule):
    """Args (besides :class:`~mmer.data.base.FoldedDataModule`'s):
    root: the GroupWalk copy (``DATA_DIR``). cache_dir: default ``<root>/.mmer_cache``.
    segment_frames: annotated frames per sample (T). frames_per_sample: face / context frames per sample (K).
    face_size, context_size: crop sides in pixels. face_fraction: face side as a fraction of the box height.
    min_iou: least IoU between an agent box and a pose's keypoint box to match them. min_confidence: joints below it
    count as not detected. group_by: ``agent`` or ``video`` (fold groups). on_bad_input: ``error`` or ``skip``.
    media_tolerance: the fraction of a video's frames (as its header promises them) that may fail to decode before
    the frames a sample needs.
    """

    def __init__(self, root: str | None = None, cache_dir: str | None = None, segment_frames: int = 32,
                 frames_per_sample: int = 4, face_size: int = 48, context_size: int = 96, face_fraction: float = 0.2,
                 min_iou: float = 0.3, min_confidence: float = 0.05, group_by: Literal["agent", "video"] = "agent",
                 on_bad_input: Literal["error", "skip"] = "error", media_tolerance: float = MEDIA_TOLERANCE,
                 **folded) -> None:
        super().__init__(**folded)
        if group_by not in ("agent", "video"):
            raise ConfigError(f"data.group_by={group_by!r}: choose 'agent' or 'video'")
        if segment_frames < 2 or frames_per_sample < 1:
            raise ConfigError(f"data.segment_frames={segment_frames} (>= 2) and data.frames_per_sample="
                              f"{frames_per_sample} (>= 1)")
        self.root, self.cache_dir = root, cache_dir
        self.segment_frames, self.frames_per_sample = segment_frames, frames_per_sample
        self.face_size, self.context_size, self.face_fraction = face_size, context_size, face_fraction
        self.min_iou, self.min_confidence, self.group_by = min_iou, min_confidence, group_by
        self.group_unit = "video" if group_by == "video" else "agent track (video / agent)"
        self.extraction = Extraction("groupwalk", "sample", on_bad_input, media_tolerance)
        self._recordings: list[Recording] = []
        self._segments: dict[str, Segment] = {}
        self._by_video: dict[str, list[str]] = defaultdict(list)  # video -> its sample ids, in array order
        self._position: dict[str, int] = {}  # sample id -> its row in the video's arrays
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self._failed: dict[str, DataError] = {}  # a bad video fails once, not once per sample
        self.left_out: dict[str, list[str]] = {}
        self.no_pose: list[str] = []

    # ------------------------------------------------------------------------------------------ spec and index
    def input_spec(self) -> dict[str, ModalitySpec]:
        k, t = self.frames_per_sample, self.segment_frames
        pose = ModalitySpec("features", JOINTS * 3, length=t)
        return {"face": ModalitySpec("frames", 3, scale=1 / 255, length=k), "posture": pose, "gait": pose,
                "context": ModalitySpec("frames", 3, scale=1 / 255, length=k)}

    def target_spec(self) -> dict[str, list[str]]:
        return {"emotion": list(CLASSES)}

    def _discover(self) -> list[Recording]:
        root = Path(require_dir(self.root, "groupwalk"))
        tracks, self.left_out = read_annotations(root / "annotations.csv", self.extraction.on_bad_input)
        for reason, agents in self.left_out.items():
            log.warning("groupwalk: %d agent(s) left out, %s: %s", len(agents), reason, ", ".join(agents[:10]))
        conflicts = sum(t.label_conflicts for t in tracks)
        if conflicts:
            log.warning("groupwalk: %d annotation rows disagree with their agent's majority label", conflicts)
        recordings = []
        half = self.segment_frames // 2
        for track in tracks:
            n = len(track.frames)
            for lo in range(0, n, self.segment_frames):
                hi = min(lo + self.segment_frames, n)
                if hi - lo < max(half, 1):  # a short track, or the short tail of a long one
                    continue
                rec_id = f"{track.video}__{track.agent}__{int(track.frames[lo]):06d}"
                self._segments[rec_id] = Segment(track, (lo, hi))
                self._position[rec_id] = len(self._by_video[track.video])
                self._by_video[track.video].append(rec_id)
                group = track.video if self.group_by == "video" else f"{track.video}/{track.agent}"
                recordings.append(Recording(rec_id, group, 1))
        if not recordings:
            raise DataError(f"groupwalk: no sample of at least {half} annotated frames in {root / 'annotations.csv'}")
        log.info("groupwalk: %d samples of %d agents in %d videos", len(recordings), len(tracks), len(self._by_video))
        return recordings

    def explain_context(self, rec_id: str) -> dict:
        """What ``mmer explain`` says about a sample: video, agent, frame span, scene tag and annotator votes."""
        seg = self._segments[rec_id]
        frames = seg.track.frames[seg.rows[0]:seg.rows[1]]
        return {"video": seg.track.video, "agent": seg.track.agent, "start_frame": int(frames[0]),
                "end_frame": int(frames[-1]), "location": seg.track.location, "votes": seg.track.votes or None}

    def scene_image(self, rec_id: str) -> np.ndarray:
        """The middle context frame (agent masked out), (3, S, S) uint8: what a scene classifier looks at."""
        arrays = self._video_arrays(self._segments[rec_id].track.video)
        return np.asarray(arrays["context"][self._position[rec_id], self.frames_per_sample // 2])

    # ------------------------------------------------------------------------------------------ loading
    def _load(self, rec: Recording) -> Item:
        seg = self._segments[rec.id]
        arrays = self._video_arrays(seg.track.video)
        i = self._position[rec.id]
        k, t = self.frames_per_sample, self.segment_frames
        masks = arrays["masks"][i]
        pose = np.asarray(arrays["pose"][i]).reshape(t, JOINTS * 3)
        inputs = {"face": arrays["face"][i], "context": arrays["context"][i], "posture": pose, "gait": pose}
        input_masks = {"face": masks[:k], "context": masks[k:2 * k], "posture": masks[2 * k:], "gait": masks[2 * k:]}
        return Item(inputs=inputs, input_masks=input_masks,
                    targets={"emotion": np.int64(CLASSES.index(seg.track.label))},
                    target_masks={"emotion": np.bool_(True)})

    def dataset_report(self) -> dict[str, int]:
        """Counts of masked or left-out input over the videos extracted so far (:data:`COUNTERS`, plus agents left
        out for an unknown label)."""
        total = Counter()
        for arrays in self._arrays.values():
            total.update(dict(zip(COUNTERS, (int(v) for v in arrays["counts"]))))
        total["agents left out"] = sum(len(v) for v in self.left_out.values())
        return {k: total[k] for k in (*COUNTERS, "agents left out")}

    def _video_path(self, video: str) -> Path:
        for suffix in VIDEO_SUFFIXES:
            path = Path(self.root) / "videos" / f"{video}{suffix}"
            if path.is_file():
                return self.data_root().check(path)
        raise DataError(f"groupwalk: no video file for '{video}' under {Path(self.root) / 'videos'} (looked for "
                        f"{', '.join(VIDEO_SUFFIXES)}); restore it or drop its rows from annotations.csv")

    def _video_arrays(self, video: str) -> dict[str, np.ndarray]:
        if video in self._failed:
            raise self._failed[video]
        if video not in self._arrays:
            try:
                self._arrays[video] = self._build_video(video)
            except DataError as exc:
                self._failed[video] = exc
                raise
            missing = [f"{video}/{a}" for a in self._agents_without_pose(video)]
            if missing:
                log.warning("groupwalk: no pose at all for %s (their posture and gait are masked)", ", ".join(missing))
            self.no_pose += missing
        return self._arrays[video]

    def _build_video(self, video: str) -> dict[str, np.ndarray]:
        root = Path(self.root)
        path = self._video_path(video)
        sources = [path, root / "annotations.csv", root / "openpose" / video, root / "keypoints" / video]
        settings = {"segment": self.segment_frames, "k": self.frames_per_sample, "face": self.face_size,
                    "context": self.context_size, "fraction": self.face_fraction, "iou": self.min_iou,
                    "conf": self.min_confidence, "v": EXTRACTION_VERSION}
        key = cache_key(settings, [s for s in sources if s.exists()])
        built: dict[str, np.ndarray] = {}

        def part(kind: str) -> np.ndarray:
            def build() -> np.ndarray:
                if not built:
                    built.update(self._extract(video, path))
                return built[kind]
            return self.cache.get_or_build(video, kind, key, build)

        return {kind: part(kind) for kind in ("face", "context", "pose", "masks", "counts")}

    def _agents_without_pose(self, video: str) -> list[str]:
        masks = self._arrays[video]["masks"][:, 2 * self.frames_per_sample:]
        agents = defaultdict(bool)
        for i, rec_id in enumerate(self._by_video[video]):
            agents[self._segments[rec_id].track.agent] |= bool(masks[i].any())
        return sorted(a for a, seen in agents.items() if not seen)

    # ------------------------------------------------------------------------------------------ extraction
    def _track_poses(self, video: str, tracks: list[AgentTrack], counts: Counter) -> dict[str, list]:
        """Per agent, the raw (18, 3) pose of each annotated row, or None: from ``keypoints/<video>/<agent>.npy``
        when present, else OpenPose JSON matched to the agent boxes by IoU."""
        root = Path(self.root)
        poses: dict[str, list] = {t.agent: [None] * len(t.frames) for t in tracks}
        arrays = {t.agent: self.data_root().check(root / "keypoints" / video / f"{t.agent}.npy") for t in tracks}
        by_frame = defaultdict(list)  # frame -> [(agent, row, box)] of agents without a keypoint array
        for t in tracks:
            if arrays[t.agent].is_file():
                arr = read_agent_keypoints(arrays[t.agent])
                for r, f in enumerate(t.frames):
                    if f < len(arr) and arr[f, :, 2].max() > 0:
                        poses[t.agent][r] = arr[f]
            else:
                for r, f in enumerate(t.frames):
                    by_frame[int(f)].append((t.agent, r, t.boxes[r]))
        if by_frame:
            folder = self.data_root().check(root / "openpose" / video)
            files = openpose_files(folder) if folder.is_dir() else {}
            for f, agents in sorted(by_frame.items()):
                if f not in files:
                    counts["frames without an OpenPose file"] += 1
                    continue
                people = read_openpose_frame(files[f])
                for (agent, r, _), j in zip(agents, match_people([b for _, _, b in agents], people, self.min_iou)):
                    if j is None:
                        counts["agent frames with no matching pose"] += 1
                    else:
                        poses[agent][r] = people[j]
        return poses

    def _extract(self, video: str, path: Path) -> dict[str, np.ndarray]:
        ids = self._by_video[video]
        segs = [self._segments[i] for i in ids]
        tracks = list({id(s.track): s.track for s in segs}.values())
        n, k, t = len(ids), self.frames_per_sample, self.segment_frames
        face = np.zeros((n, k, 3, self.face_size, self.face_size), np.uint8)
        context = np.zeros((n, k, 3, self.context_size, self.context_size), np.uint8)
        pose = np.zeros((n, t, JOINTS, 3), np.float32)
        masks = np.zeros((n, 2 * k + t), bool)
        counts: Counter = Counter()
        raw = self._track_poses(video, tracks, counts)
        counts["agents with no pose at all"] = sum(all(p is None for p in raw[tr.agent]) for tr in tracks)
        need = defaultdict(list)  # video frame -> [(sample, slot, segment, row)]
        for s, seg in enumerate(segs):
            lo, hi = seg.rows
            for step, r in enumerate(range(lo, hi)):
                p = raw[seg.track.agent][r]
                norm = normalise_pose(p, self.min_confidence) if p is not None else None
                if p is not None and norm is None:
                    counts["frames with no visible torso"] += 1
                if norm is not None:
                    pose[s, step], masks[s, 2 * k + step] = norm, True
            for slot, r in enumerate(np.linspace(lo, hi - 1, k).round().astype(int)):
                need[int(seg.track.frames[r])].append((s, slot, seg, int(r)))
        last = max(need) if need else -1
        for index, frame in iter_frames(path, self.extraction.media_tolerance):
            for s, slot, seg, r in need.pop(index, []):
                self._crop(frame, seg, r, raw[seg.track.agent][r], (s, slot), face, context, masks, counts)
            if index >= last:
                break
        counts["annotated frames beyond the video's end"] += sum(len(v) for v in need.values())
        return {"face": face, "context": context, "pose": pose, "masks": masks,
                "counts": np.array([counts[c] for c in COUNTERS], np.int64)}

    def _crop(self, frame: np.ndarray, seg: Segment, row: int, pose: np.ndarray | None, where: tuple[int, int],
              face: np.ndarray, context: np.ndarray, masks: np.ndarray, counts: Counter) -> None:
        """Fill one (sample, slot) face crop and masked context from a decoded frame, with their masks."""
        s, slot = where
        k = self.frames_per_sample
        height, width = frame.shape[:2]
        box, clipped = clip_box(seg.track.boxes[row], width, height)
        if box is None:
            counts["boxes outside the frame"] += 1
            return
        counts["boxes clipped to the frame"] += int(clipped)
        context[s, slot], masks[s, k + slot] = masked_context(frame, box, self.context_size), True
        faces = seg.track.faces
        if faces is not None:
            fbox = faces[row]
            visible = bool(np.isfinite(fbox).all())
        else:
            fbox, visible = face_box(box, pose, self.face_fraction), face_visible(pose)
        if visible:
            face[s, slot], masks[s, slot] = crop_resize(frame, fbox, self.face_size), True
        else:
            counts["sampled frames without a visible face"] += 1
