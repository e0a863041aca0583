"""Built-in synthetic audio-visual dataset that needs fusion (the default of ``make train``).

Each video has smooth latent signals (sums of 3 random sinusoids, unit variance): visual-only u1, u2, p1, p2 and
audio-only w1, w2, q1, q2. Targets (per frame, in [-1, 1])::

    valence = tanh(0.7 (0.6 u1 + 0.3 w1 + 0.7 p1 q1))
    arousal = tanh(0.7 (0.6 w2 + 0.3 u2 + 0.7 p2 q2))

so part of each target is visible only in the visual stream, part only in the audio stream, and part (p q) only
in their interaction: E[p q | p] = 0, so neither modality alone can predict it. About 10% of frames are
unlabelled (mask False, like Aff-Wild2's -5) and about 5% of frames have no face (visual mask False).

Inputs, ``input="features"`` (fast): visual (T, 32) at 1 step/frame, audio (T*2, 24) at 2 steps/frame, each a
fixed random mixing of its latents through tanh plus noise. ``input="raw"``: visual (T, 1, 16, 16) face-like
frames whose mouth, eyes, brows and cheeks brighten with the latents; audio a mono waveform at 4 kHz (160
samples/frame at 25 fps) with four tones whose amplitudes follow the latents. Everything derives from ``seed``.
Videos are grouped by subject; ``test_subjects`` subjects form the held-out partition.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from mmer.data.records import Item, ModalitySpec, Recording
from mmer.data.windowed import WindowedDataModule

FPS = 25
SAMPLE_RATE = 4000
TONES_HZ = (250.0, 600.0, 1100.0, 1700.0)


def smooth_signal(rng: np.random.Generator, length: int, periods: tuple[float, float] = (40.0, 250.0)) -> np.ndarray:
    """Sum of 3 sinusoids with random periods (frames) and phases, scaled to zero mean and unit variance."""
    t = np.arange(length)
    sig = sum(np.sin(2 * np.pi * t / rng.uniform(*periods) + rng.uniform(0, 2 * np.pi)) for _ in range(3))
    return (sig - sig.mean()) / (sig.std() + 1e-8)


def masked_blocks(rng: np.random.Generator, length: int, fraction: float, block: int = 15) -> np.ndarray:
    """Bool mask, False on random blocks covering about ``fraction`` of the frames."""
    mask = np.ones(length, bool)
    for _ in range(int(round(fraction * length / block))):
        s = int(rng.integers(0, max(1, length - block)))
        mask[s:s + block] = False
    return mask


def render_faces(vis: np.ndarray, rng: np.random.Generator, size: int = 16, noise: float = 0.1) -> np.ndarray:
    """vis (T, 4) latents [u1, u2, p1, p2] -> (T, 1, size, size) face-like frames in [0, 1] plus noise."""
    t = len(vis)
    yy, xx = np.mgrid[:size, :size] / (size - 1)
    face = (((xx - 0.5) / 0.42) ** 2 + ((yy - 0.5) / 0.48) ** 2 <= 1).astype(np.float32) * 0.3
    frames = np.repeat(face[None], t, axis=0)
    level = 0.5 + 0.45 * np.tanh(vis)  # (T, 4)
    s = size / 16
    regions = {  # latent index -> list of (row0, row1, col0, col1) in 16x16 units
        0: [(11, 13, 5, 11)],  # mouth <- u1
        1: [(3, 4, 3, 6), (3, 4, 10, 13)],  # brows <- u2
        2: [(5, 7, 3, 6), (5, 7, 10, 13)],  # eyes <- p1
        3: [(8, 10, 2, 4), (8, 10, 12, 14)],  # cheeks <- p2
    }
    for k, boxes in regions.items():
        for r0, r1, c0, c1 in boxes:
            frames[:, int(r0 * s):int(r1 * s), int(c0 * s):int(c1 * s)] = level[:, k, None, None]
    frames += noise * rng.standard_normal(frames.shape).astype(np.float32)
    return frames[:, None].astype(np.float32)


def render_audio(aud: np.ndarray, rng: np.random.Generator, noise: float = 0.05) -> np.ndarray:
    """aud (T, 4) latents [w1, w2, q1, q2] -> mono waveform (T * SAMPLE_RATE / FPS,), one tone per latent."""
    spf = SAMPLE_RATE // FPS
    n = len(aud) * spf
    t = np.arange(n) / SAMPLE_RATE
    env = np.repeat(0.5 + 0.45 * np.tanh(aud), spf, axis=0)  # (n, 4)
    wave = sum(env[:, k] * np.sin(2 * np.pi * f * t) for k, f in enumerate(TONES_HZ)) / len(TONES_HZ)
    return (wave + noise * rng.standard_normal(n)).astype(np.float32)


class SyntheticAVDataModule(WindowedDataModule):
    """Args (besides :class:`~mmer.data.base.WindowedDataModule`'s):
    input: "features" or "raw". num_subjects / videos_per_subject / test_subjects: dataset size.
    min_frames, max_frames: video length range. unlabelled_fraction, face_missing_fraction: masked frames.
    visual_dim, audio_dim, audio_rate: feature sizes and audio steps per frame (features input).
    noise: observation noise of the features.
    """

    group_unit = "subject"

    def __init__(self, input: Literal["features", "raw"] = "features", num_subjects: int = 16,
                 videos_per_subject: int = 2, test_subjects: int = 4, min_frames: int = 250, max_frames: int = 700,
                 unlabelled_fraction: float = 0.1, face_missing_fraction: float = 0.05, visual_dim: int = 32,
                 audio_dim: int = 24, audio_rate: int = 2, noise: float = 0.2, **base) -> None:
        super().__init__(**base)
        if input not in ("features", "raw"):
            raise ValueError(f"data.input='{input}': choose 'features' or 'raw'")
        if not 0 < test_subjects < num_subjects:
            raise ValueError(f"data.test_subjects={test_subjects} must be in 1..num_subjects-1={num_subjects - 1}")
        self.input = input
        self.num_subjects, self.videos_per_subject, self.test_subjects = num_subjects, videos_per_subject, test_subjects
        self.min_frames, self.max_frames = min_frames, max_frames
        self.unlabelled_fraction, self.face_missing_fraction = unlabelled_fraction, face_missing_fraction
        self.visual_dim, self.audio_dim, self.audio_rate, self.noise = visual_dim, audio_dim, audio_rate, noise
        self._items: dict[str, Item] = {}

    def input_spec(self) -> dict[str, ModalitySpec]:
        if self.input == "raw":
            return {"visual": ModalitySpec("frames", 1, 1), "audio": ModalitySpec("waveform", 1, SAMPLE_RATE // FPS)}
        return {"visual": ModalitySpec("features", self.visual_dim, 1),
                "audio": ModalitySpec("features", self.audio_dim, self.audio_rate)}

    def target_spec(self) -> dict[str, list[str]]:
        return {"va": ["valence", "arousal"]}

    def index(self) -> list[Recording]:
        rng = np.random.default_rng(self.seed)
        mix_v = rng.standard_normal((4, self.visual_dim)) / 2
        mix_a = rng.standard_normal((4, self.audio_dim)) / 2
        subjects = [f"s{i:02d}" for i in range(self.num_subjects)]
        held_out = set(rng.choice(subjects, self.test_subjects, replace=False).tolist())
        recordings = []
        for subject in subjects:
            for v in range(self.videos_per_subject):
                vid = f"{subject}_v{v}"
                length = int(rng.integers(self.min_frames, self.max_frames + 1))
                self._items[vid] = self._make_video(np.random.default_rng(rng.integers(2**32)), length, mix_v, mix_a)
                recordings.append(Recording(vid, subject, length, "test" if subject in held_out else "trainval"))
        return recordings

    def load(self, rec: Recording) -> Item:
        return self._items[rec.id]

    def loaded_items(self) -> list[Item]:
        return list(self._items.values())

    def _make_video(self, rng: np.random.Generator, length: int, mix_v: np.ndarray, mix_a: np.ndarray) -> Item:
        lat = {k: smooth_signal(rng, length) for k in ("u1", "u2", "p1", "p2", "w1", "w2", "q1", "q2")}
        valence = np.tanh(0.7 * (0.6 * lat["u1"] + 0.3 * lat["w1"] + 0.7 * lat["p1"] * lat["q1"]))
        arousal = np.tanh(0.7 * (0.6 * lat["w2"] + 0.3 * lat["u2"] + 0.7 * lat["p2"] * lat["q2"]))
        vis = np.stack([lat[k] for k in ("u1", "u2", "p1", "p2")], 1)
        aud = np.stack([lat[k] for k in ("w1", "w2", "q1", "q2")], 1)
        face = masked_blocks(rng, length, self.face_missing_fraction)
        if self.input == "raw":
            visual = render_faces(vis, rng) * face[:, None, None, None]
            audio = render_audio(aud, rng)
            audio_mask = np.ones(len(audio), bool)
        else:
            visual = np.tanh(vis @ mix_v) + self.noise * rng.standard_normal((length, self.visual_dim))
            visual = (visual * face[:, None]).astype(np.float32)
            aud_up = np.repeat(aud, self.audio_rate, axis=0)
            audio = (np.tanh(aud_up @ mix_a) + self.noise * rng.standard_normal(aud_up.shape[:1] + (self.audio_dim,)))
            audio = audio.astype(np.float32)
            audio_mask = np.ones(len(audio), bool)
        labelled = masked_blocks(rng, length, self.unlabelled_fraction)
        va = np.stack([valence, arousal], 1).astype(np.float32)
        va[~labelled] = -5.0  # stored like Aff-Wild2; the mask below keeps it out of every loss and metric
        return Item(inputs={"visual": visual, "audio": audio}, targets={"va": va}, target_masks={"va": labelled},
                    input_masks={"visual": face, "audio": audio_mask})
