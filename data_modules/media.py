"""Decoding media for feature extraction: face-crop folders, video metadata and audio (PyAV, imported lazily).

Every error names the file and what to do; nothing here guesses silently.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mmer.errors import DataError

log = logging.getLogger(__name__)


def read_face_crops(folder: Path | None, num_frames: int, size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Face crops ``folder/NNNNN.jpg`` (1-based) -> (frames (N, 3, size, size) uint8, present (N,) bool, unreadable).

    A missing crop (no face detected) is a black frame with ``present`` False; so is an unreadable JPEG, which is
    also counted and returned so that the caller can report it.
    """
    from PIL import Image, UnidentifiedImageError

    frames = np.zeros((num_frames, 3, size, size), np.uint8)
    present = np.zeros(num_frames, bool)
    unreadable = 0
    if folder is None or not folder.is_dir():
        return frames, present, unreadable
    for k in range(num_frames):
        path = folder / f"{k + 1:05d}.jpg"
        if not path.is_file():
            continue
        try:
            with Image.open(path) as img:
                arr = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR))
        except (OSError, UnidentifiedImageError):
            unreadable += 1
            continue
        frames[k] = arr.transpose(2, 0, 1)
        present[k] = True
    return frames, present, unreadable


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def read_face_set(folder: Path | None, count: int, size: int) -> tuple[np.ndarray, int]:
    """Up to ``count`` face crops of one utterance: the image files of ``folder`` in name order, evenly picked when
    there are more -> ((count, 3, size, size) uint8 with all-zero unused slots, unreadable files). A missing folder
    (no face found) gives all zeros."""
    from PIL import Image, UnidentifiedImageError

    faces = np.zeros((count, 3, size, size), np.uint8)
    if folder is None or not folder.is_dir():
        return faces, 0
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if len(files) > count:
        files = [files[i] for i in np.linspace(0, len(files) - 1, count).round().astype(int)]
    slot = unreadable = 0
    for f in files:
        try:
            with Image.open(f) as img:
                faces[slot] = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)
            slot += 1
        except (OSError, UnidentifiedImageError):
            unreadable += 1
    black = faces[:slot].reshape(slot, -1).max(1) == 0
    faces[:slot][black] = 1  # an all-black crop stays distinct from an empty slot (all zeros = no face)
    return faces, unreadable


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise DataError(f"{path}: cannot open the video ({exc}); re-download or re-encode it") from None


def video_info(path: Path) -> tuple[float, int]:
    """(frames per second, number of video frames) of a video file; frames are counted by decoding if the
    container does not say."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.base_rate or 0)
        count = stream.frames
        if not count:
            try:
                count = sum(1 for _ in container.decode(stream))
            except av.error.FFmpegError as exc:
                raise DataError(f"{path}: video is unreadable or truncated ({exc})") from None
    if fps <= 0:
        raise DataError(f"{path}: the video stream has no frame rate")
    return fps, int(count)


def decode_frames(path: Path, size: int, crop: str = "center") -> np.ndarray:
    """Every frame of a video's first stream as (N, 3, size, size) uint8 RGB: ``crop="center"`` takes the
    centred square of side min(H, W) first (a frontal face video keeps its aspect ratio), ``"none"`` squeezes the
    whole frame. A file that fails to decode part-way is an error, never a silently shorter sample."""
    import av
    from PIL import Image

    if crop not in ("center", "none"):
        raise DataError(f"crop={crop!r}: choose 'center' or 'none'")
    frames = []
    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        try:
            for frame in container.decode(container.streams.video[0]):
                img = frame.to_image()
                if crop == "center":
                    w, h = img.size
                    side = min(w, h)
                    img = img.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
                frames.append(np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR)).transpose(2, 0, 1))
        except av.error.FFmpegError as exc:
            raise DataError(f"{path}: video is unreadable or truncated after {len(frames)} frames ({exc}); "
                            f"re-encode or re-download it") from None
    if not frames:
        raise DataError(f"{path}: the video decoded to no frames")
    return np.stack(frames)


def iter_frames(path: Path):
    """Yield (index, (H, W, 3) uint8 RGB frame) of a video's first stream at its own resolution, one at a time (a
    long full-HD video never sits in memory). A file that fails part-way is an error naming it."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        index = 0
        try:
            for frame in container.decode(container.streams.video[0]):
                yield index, frame.to_ndarray(format="rgb24")
                index += 1
        except av.error.FFmpegError as exc:
            raise DataError(f"{path}: video is unreadable or truncated after {index} frames ({exc}); re-encode or "
                            f"re-download it") from None


def decode_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 waveform at ``sample_rate`` from the first audio stream of a video (FFmpeg's resampler)."""
    import av

    with _open(path) as container:
        if not container.streams.audio:
            raise DataError(f"{path}: no audio stream; audio features need the raw video with its soundtrack")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        except av.error.FFmpegError as exc:
            raise DataError(f"{path}: audio is unreadable or truncated ({exc})") from None
    if not chunks:
        raise DataError(f"{path}: the audio stream decoded to no samples")
    return np.concatenate(chunks).astype(np.float32)


def _rows_per_frame(spec: np.ndarray, sample_rate: int, fps: float, hop: int, num_frames: int) -> np.ndarray:
    """Pick spectrogram rows (rows, D) for video frames: frame k takes row round(k (sample_rate / fps) / hop);
    rows past the audio's end repeat the last row. Returns (num_frames, D) float32."""
    rows = np.minimum(np.round(np.arange(num_frames) * (sample_rate / fps) / hop).astype(int), len(spec) - 1)
    return spec[rows].astype(np.float32)


def logmel_per_frame(wave: np.ndarray, sample_rate: int, fps: float, num_frames: int, n_mels: int = 64,
                     n_fft: int = 1024) -> np.ndarray:
    """Log-mel spectrogram rows aligned to video frames (hop = sample_rate / fps samples). (num_frames, n_mels)."""
    import torch
    import torchaudio

    hop = max(1, int(round(sample_rate / fps)))
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels)
    spec = torch.log(mel(torch.from_numpy(wave)) + 1e-6).T.numpy()
    return _rows_per_frame(spec, sample_rate, fps, hop, num_frames)


def mfcc_per_frame(wave: np.ndarray, sample_rate: int, fps: float, num_frames: int, n_mfcc: int = 13,
                   n_fft: int = 1024) -> np.ndarray:
    """MFCCs with deltas and delta-deltas (3 n_mfcc = 39 values, as LFAN's follower) aligned to video frames."""
    import torch
    import torchaudio

    hop = max(1, int(round(sample_rate / fps)))
    mfcc = torchaudio.transforms.MFCC(sample_rate=sample_rate, n_mfcc=n_mfcc,
                                      melkwargs={"n_fft": n_fft, "hop_length": hop, "n_mels": 40})(torch.from_numpy(wave))
    d1 = torchaudio.functional.compute_deltas(mfcc)
    d2 = torchaudio.functional.compute_deltas(d1)
    spec = torch.cat([mfcc, d1, d2]).T.numpy()
    return _rows_per_frame(spec, sample_rate, fps, hop, num_frames)


def egemaps_per_frame(wave: np.ndarray, sample_rate: int, fps: float, num_frames: int) -> np.ndarray:
    """The 25 eGeMAPS v02 low-level descriptors (openSMILE, 20 ms frames every 10 ms: loudness, F0 semitones,
    jitter, shimmer, HNR, formants, alpha ratio, ...) aligned to video frames. (num_frames, 25) float32.

    Needs the ``opensmile`` package (a dependency of mmer; imported here only, so the GPU image can skip it)."""
    try:
        import opensmile
    except ImportError:
        raise DataError("eGeMAPS features need the opensmile package: pip install opensmile (or set "
                        "data.egemaps=false)") from None
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    lld = smile.process_signal(wave, sample_rate).to_numpy(np.float32)
    if len(lld) == 0:
        raise DataError(f"eGeMAPS: the soundtrack ({len(wave)} samples) is too short for one 20 ms frame")
    return _rows_per_frame(lld, sample_rate, fps, int(round(0.01 * sample_rate)), num_frames)
