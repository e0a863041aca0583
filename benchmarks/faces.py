"""7. Face crops from real video, decode to cache (:mod:`mmer.data.faces`): ours (MTCNN on frames downscaled to a
360-pixel short side, key frames every 5th in batches of 8, boxes interpolated between key frames whose faces overlap)
beside the straightforward way (every frame at full resolution through MTCNN, one at a time), on the same clips in
the same run. Both decode every frame, write the same aligned JPEG crops and ``faces.csv``; only how faces are found
differs. Reported: crops per second (frames through the pipeline / wall time), the share of frames with a face for
each, and the agreement of ours with the straightforward boxes (mean and 5th-percentile IoU over frames where both
found one).

It needs real faces (MTCNN finds none in synthetic video): ``--videos DIR`` (for example a RAVDESS ``Actor_XX``
folder of audio-visual mp4s). ``--size`` picks how many clips: tiny 1, small 3, full all.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.harness import emit, log, skipped
from mmer.data.faces import FACES_CSV, STRAIGHTFORWARD, Tracking, iou, mtcnn_detector, write_face_crops

CLIPS = {"tiny": 1, "small": 3, "full": None}
OURS = Tracking()


def face_crops(size: str, device: torch.device, videos: str | None = None) -> dict:
    if device.type != "cpu":
        return skipped("face_crops", device, "the face detector runs on the CPU (mmer.data.faces)")
    clips = sorted(Path(videos).glob("*.mp4")) if videos else []
    if not clips:
        return skipped("face_crops", device, "give --videos DIR, a folder of real mp4 clips with faces (e.g. a RAVDESS "
                                             "Actor_XX folder): MTCNN finds no face in synthetic video")
    ours_detect, ref_detect = mtcnn_detector(min_face=24), mtcnn_detector()
    if ours_detect is None:
        return skipped("face_crops", device, "facenet-pytorch is not installed (make install installs it)")
    clips = clips[:CLIPS[size]]
    seconds = {"ours": 0.0, "reference": 0.0}
    frames, found, ious = 0, {"ours": 0, "reference": 0}, []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            tables = {}
            for way, detect, tracking in (("reference", ref_detect, STRAIGHTFORWARD), ("ours", ours_detect, OURS)):
                folder = Path(tmp) / way / clip.stem
                t0 = time.perf_counter()
                report = write_face_crops(clip, folder, detect, size=112, tracking=tracking)
                seconds[way] += time.perf_counter() - t0
                found[way] += report.found
                tables[way] = pd.read_csv(folder / FACES_CSV)
            frames += report.frames
            both = (tables["ours"]["source"] != "none") & (tables["reference"]["source"] != "none")
            box = ["x1", "y1", "x2", "y2"]
            ious += [iou(a, b) for a, b in zip(tables["ours"].loc[both, box].to_numpy(),
                                               tables["reference"].loc[both, box].to_numpy())]
            log(f"bench: {clip.name}: {report.frames} frames, reference {seconds['reference']:.1f} s so far, "
                f"ours {seconds['ours']:.1f} s")
    return emit("face_crops", device, "crops/s (decode to cache)", frames / seconds["ours"],
                frames / seconds["reference"],
                {"clips": [c.name for c in clips], "frames": frames, "crop": "112x112 aligned on the eyes, JPEG",
                 "ours": f"MTCNN(min_face=24) on frames with a {OURS.detect_side}-pixel short side, key frames every "
                         f"{OURS.stride}, batches of {OURS.batch}, interpolation where IoU >= {OURS.reuse_iou}",
                 "reference_way": "MTCNN(min_face=20) on every frame at full resolution, one at a time",
                 "torch_threads": torch.get_num_threads()},
                target=3.0, face_found={k: round(v / frames, 4) for k, v in found.items()},
                box_iou_with_reference={"mean": round(float(np.mean(ious)), 4),
                                        "p05": round(float(np.percentile(ious, 5)), 4), "frames": len(ious)})
