"""Tiny datasets in the owners' on-disk layouts, for tests and for trying a pipeline without the licensed data.

``mmer make-fixture affwild2 DIR`` writes (``../shared/DATASETS.md``)::

    DIR/cropped_aligned/<video>/00001.jpg ...        112x112 face crops, a few missing
    DIR/batch1/<video>.mp4, DIR/batch2/<video>.avi   raw videos with a stereo 44.1 kHz soundtrack
    DIR/Third ABAW Annotations/VA_Estimation_Challenge/{Train_Set,Validation_Set}/<video>.txt

including a two-person video (``pair_left`` / ``pair_right`` annotate one raw ``pair`` video) and runs of -5.
The face brightness follows valence and the audio loudness follows arousal, so a model can learn something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FPS = 30
AUDIO_RATE = 44100
AFFWILD2_VIDEOS = {  # video id -> (split, frames, container)
    "vid_a": ("Train_Set", 330, ".mp4"), "vid_b": ("Train_Set", 260, ".mp4"), "pair": ("Train_Set", 310, ".mp4"),
    "vid_c": ("Train_Set", 280, ".avi"), "vid_d": ("Validation_Set", 320, ".mp4"),
    "vid_e": ("Validation_Set", 240, ".mp4"), "vid_f": ("Train_Set", 250, ".mp4"),
    "vid_g": ("Train_Set", 240, ".mp4"), "vid_h": ("Train_Set", 260, ".mp4"),  # 7 train groups: 6 folds fit
}


def _smooth(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    x = sum(np.sin(2 * np.pi * t / rng.uniform(20, 90) + rng.uniform(0, 6.3)) for _ in range(2))
    return np.clip(x / 2, -1, 1)


def write_video(path: Path, frames: np.ndarray, wave: np.ndarray) -> None:
    """frames (N, H, W, 3) uint8 at FPS; wave (S,) float32 mono at AUDIO_RATE, written as stereo."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    avi = path.suffix == ".avi"
    with av.open(str(path), mode="w") as c:
        vs = c.add_stream("mpeg4", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        a = c.add_stream("pcm_s16le" if avi else "aac", rate=AUDIO_RATE)
        a.layout = "stereo"
        for img in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for s in range(0, len(wave), 1024):
            chunk = wave[s:s + 1024]
            stereo = np.stack([chunk, chunk])
            if avi:
                arr, fmt = (stereo.T.reshape(1, -1) * 32767).astype(np.int16), "s16"
            else:
                arr, fmt = stereo.astype(np.float32), "fltp"
            frame = av.AudioFrame.from_ndarray(arr, format=fmt, layout="stereo")
            frame.sample_rate, frame.pts = AUDIO_RATE, s
            for p in a.encode(frame):
                c.mux(p)
        for stream in (vs, a):
            for p in stream.encode(None):
                c.mux(p)


def make_affwild2_fixture(root: str | Path, seed: int = 0, crop_size: int = 112) -> Path:
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    ann = root / "Third ABAW Annotations" / "VA_Estimation_Challenge"
    for video, (split, n, suffix) in AFFWILD2_VIDEOS.items():
        valence, arousal = _smooth(rng, n), _smooth(rng, n)
        faces = (96 + 80 * valence)[:, None, None, None] * np.ones((n, crop_size, crop_size, 3))
        faces = np.clip(faces + rng.normal(0, 8, faces.shape), 0, 255).astype(np.uint8)
        t = np.arange(int(n / FPS * AUDIO_RATE)) / AUDIO_RATE
        loud = np.interp(t * FPS, np.arange(n), 0.05 + 0.2 * (arousal + 1))
        wave = (loud * np.sin(2 * np.pi * 300 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
        small = faces[:, ::4, ::4] if crop_size >= 64 else faces
        write_video(root / ("batch2" if suffix == ".avi" else "batch1") / f"{video}{suffix}", small, wave)
        people = {"pair_left": 0, "pair_right": 1} if video == "pair" else {video: 0}
        for person, offset in people.items():
            crop_dir = root / "cropped_aligned" / person
            crop_dir.mkdir(parents=True, exist_ok=True)
            missing = set(rng.choice(n, size=3, replace=False).tolist())  # no face detected on these frames
            for k in range(n):
                if k not in missing:
                    Image.fromarray(np.roll(faces[k], offset, axis=0)).save(crop_dir / f"{k + 1:05d}.jpg")
            labelled = np.ones(n, bool)
            start = int(rng.integers(0, n - 12))
            labelled[start:start + 10] = False  # a run of -5
            lines = ["valence,arousal"] + [f"{v:.3f},{a:.3f}" if ok else "-5,-5"
                                           for v, a, ok in zip(valence, arousal, labelled)]
            (ann / split).mkdir(parents=True, exist_ok=True)
            (ann / split / f"{person}.txt").write_text("\n".join(lines) + "\n")
    return root


FIXTURES = {"affwild2": make_affwild2_fixture}
