"""Decoding media for feature extraction: face-crop folders, video metadata and audio (PyAV, imported lazily).

Every error names the file and what to do; nothing here guesses silently. A file cut short often still opens and
decodes without a word from FFmpeg (an AVI or a fast-start MP4 keeps its header), so what was decoded is compared
with what the file promises: its header's frame count and durations, a WAV's data-chunk size, and, where the
caller knows it, the annotation's length. A shortfall of more than ``max(slack, tolerance x promise)`` (slack: 2
video frames or 0.1 s of sound; tolerance: ``data.media_tolerance``, 2 % by default) is a :class:`DataError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.audio import SILENCE, check_waveform, is_silent, log_mel, mfcc, opensmile_features

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


MEDIA_TOLERANCE = 0.02  # the fraction of a promised length that may be missing (data.media_tolerance)
SLACK_FRAMES = 2
SLACK_SECONDS = 0.1


def check_complete(path: Path, what: str, got: float, promised: float | None, unit: str, slack: float,
                   tolerance: float | None = MEDIA_TOLERANCE, source: str = "the file's header") -> None:
    """Raise a :class:`DataError` when ``got < promised - max(slack, tolerance * promised)`` (no promise: no check;
    ``tolerance=None``: the slack alone, for spans that must be covered exactly)."""
    if promised is None or not promised > 0:
        return
    if got < promised - max(slack, (tolerance or 0.0) * promised):
        hint = "" if tolerance is None else (f" (or raise data.media_tolerance={tolerance:g}, the fraction that may "
                                             f"be missing)")
        raise DataError(f"{path}: the {what} is truncated: {got:.6g} of the {promised:.6g} {unit} that {source} "
                        f"promises were decoded; re-download or re-encode it{hint}")


def frame_rate(stream) -> float:
    """A video stream's frames per second as its header states them (0 when it states none)."""
    return float(stream.average_rate or stream.base_rate or 0)


def promised_frames(stream) -> float | None:
    """The number of frames a video stream's header promises: its frame count, else duration x rate (None when
    the container says neither)."""
    if stream.frames:
        return float(stream.frames)
    rate = frame_rate(stream)
    if stream.duration and stream.time_base and rate > 0:
        return float(stream.duration * stream.time_base) * rate
    return None


def promised_audio_seconds(path: Path, container) -> float | None:
    """The soundtrack length a file promises, in seconds: the audio stream's duration, a WAV's data-chunk size
    (FFmpeg measures a cut WAV by its size, not its header), and the video stream's length (a soundtrack spans its
    video); the longest of those known."""
    promises = []
    audio = container.streams.audio[0]
    if audio.duration and audio.time_base:
        promises.append(float(audio.duration * audio.time_base))
    if path.suffix.lower() == ".wav":
        promises.append(wav_header_seconds(path))
    if container.streams.video:
        video = container.streams.video[0]
        rate = frame_rate(video)
        if video.frames and rate > 0:
            promises.append(video.frames / rate)
    promises = [p for p in promises if p]
    return max(promises) if promises else None


def wav_header_seconds(path: Path) -> float | None:
    """Seconds of sound a RIFF/WAVE header promises (data-chunk bytes / byte rate); None for a streamed WAV (size
    0 or 0xFFFFFFFF) or a header this does not understand."""
    import struct

    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        chunk, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if chunk == b"fmt " and pos + 20 <= len(head):
            byte_rate = struct.unpack("<I", head[pos + 16:pos + 20])[0]
        elif chunk == b"data":
            return size / byte_rate if byte_rate and 0 < size < 0xFFFFFFFF else None
        pos += 8 + size + (size & 1)
    return None


def _open(path: Path, wanted: str = "video"):
    """The container of ``path``; a file FFmpeg cannot open is named with what the caller wanted from it (a WAV
    read for its audio is not reported as a video)."""
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        what = "WAV file" if Path(path).suffix.lower() == ".wav" else wanted
        raise DataError(f"{path}: cannot open the {what} ({exc}); re-download or re-encode it") from None


def has_audio(path: Path) -> bool:
    """Whether a media file has an audio stream."""
    with _open(path, "media file") as container:
        return bool(container.streams.audio)


def no_sound(video: Path, wave: Callable[[], np.ndarray]) -> bool:
    """Whether a video has nothing to hear: no soundtrack, or one of digital silence throughout (``wave()``: its
    decoded soundtrack; said once, so that its audio is masked as missing rather than fed as the log of nothing)."""
    if not has_audio(video):
        return True
    if is_silent(wave()):
        log.warning("%s: its soundtrack is silent throughout (peak below %g of full scale): audio masked, "
                    "predicted from the faces", video, SILENCE)
        return True
    return False


def video_info(path: Path) -> tuple[float, int]:
    """(frames per second, number of video frames) of a video file; frames are counted by decoding if the
    container does not say."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        stream = container.streams.video[0]
        fps = frame_rate(stream)
        count = stream.frames
        if not count:
            try:
                count = sum(1 for _ in container.decode(stream))
            except av.error.FFmpegError as exc:
                raise DataError(f"{path}: video is unreadable or truncated ({exc})") from None
    if fps <= 0:
        raise DataError(f"{path}: the video stream has no frame rate")
    return fps, int(count)


def decode_frames(path: Path, size: int, crop: str = "center", tolerance: float = MEDIA_TOLERANCE) -> np.ndarray:
    """Every frame of a video's first stream as (N, 3, size, size) uint8 RGB: ``crop="center"`` takes the
    centred square of side min(H, W) first (a frontal face video keeps its aspect ratio), ``"none"`` squeezes the
    whole frame. A file that fails to decode part-way, or decodes to fewer frames than its header promises, is an
    error, never a silently shorter sample."""
    import av
    from PIL import Image

    if crop not in ("center", "none"):
        raise DataError(f"crop={crop!r}: choose 'center' or 'none'")
    frames = []
    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        promised = promised_frames(container.streams.video[0])
        try:
            for frame in container.decode(container.streams.video[0]):
                img = Image.fromarray(upright(frame))
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
    check_complete(path, "video", len(frames), promised, "frames", SLACK_FRAMES, tolerance)
    return np.stack(frames)


def upright(frame) -> np.ndarray:
    """A decoded PyAV frame as (H, W, 3) uint8 RGB the way a player shows it: turned by the rotation its display
    matrix states (a phone's portrait video is stored landscape with a 90 degree turn in its metadata)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # counterclockwise degrees
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def iter_frames(path: Path, tolerance: float = MEDIA_TOLERANCE):
    """Yield (index, (H, W, 3) uint8 RGB frame) of a video's first stream at its own resolution, upright
    (:func:`upright`), one at a time (a long full-HD video never sits in memory). A file that fails part-way, or
    runs out before the frame count its header promises (checked once the caller asks past the last decoded frame),
    is an error naming it."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        promised = promised_frames(container.streams.video[0])
        index = 0
        try:
            for frame in container.decode(container.streams.video[0]):
                yield index, upright(frame)
                index += 1
        except av.error.FFmpegError as exc:
            raise DataError(f"{path}: video is unreadable or truncated after {index} frames ({exc}); re-encode or "
                            f"re-download it") from None
        check_complete(path, "video", index, promised, "frames", SLACK_FRAMES, tolerance)


def frame_times(path: Path) -> np.ndarray:
    """(N,) seconds from the first frame of each frame of a video's first stream, in display order, from the
    packets' time stamps (no decoding). A variable-frame-rate video (a phone's) has uneven steps; ``(k - 1) / fps``
    would drift from them. Empty when the stream has no time stamps."""
    with _open(path) as container:
        if not container.streams.video:
            raise DataError(f"{path}: no video stream")
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)
    if not pts or stream.time_base is None:
        return np.zeros(0)
    return (np.asarray(pts, np.float64) - pts[0]) * float(stream.time_base)


def variable_rate(times: np.ndarray, fps: float, tolerance: float = 0.1) -> bool:
    """Whether frame ``times`` (s) step unevenly: some step differs from ``1 / fps`` by more than ``tolerance`` of it."""
    if len(times) < 3 or fps <= 0:
        return False
    return bool(np.abs(np.diff(times) * fps - 1).max() > tolerance)


def decode_audio(path: Path, sample_rate: int = 16000, tolerance: float = MEDIA_TOLERANCE,
                 covers: tuple[float, str] | None = None) -> np.ndarray:
    """Mono float32 waveform at ``sample_rate`` from the first audio stream of a video or sound file (FFmpeg's
    resampler). It must last what the file promises (:func:`promised_audio_seconds`) and, with ``covers=(seconds,
    what)``, what the caller's annotation needs (``(n / fps, "annotation's 900 frames")``), within the tolerance."""
    import av

    with _open(path, "audio file") as container:
        if not container.streams.audio:
            raise DataError(f"{path}: no audio stream; audio features need the raw video with its soundtrack")
        stream = container.streams.audio[0]
        promised = promised_audio_seconds(path, container)
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
    wave = check_waveform(path, np.concatenate(chunks).astype(np.float32))
    check_complete(path, "soundtrack", len(wave) / sample_rate, promised, "seconds", SLACK_SECONDS, tolerance)
    if covers is not None:
        check_complete(path, "soundtrack", len(wave) / sample_rate, covers[0], "seconds", SLACK_SECONDS, tolerance,
                       source=covers[1])
    return wave


def _rows_per_frame(spec: np.ndarray, sample_rate: int, fps: float, hop: int, num_frames: int) -> np.ndarray:
    """Pick spectrogram rows (rows, D) for video frames: frame k takes row round(k (sample_rate / fps) / hop);
    rows past the audio's end repeat the last row. Returns (num_frames, D) float32."""
    rows = np.minimum(np.round(np.arange(num_frames) * (sample_rate / fps) / hop).astype(int), len(spec) - 1)
    return spec[rows].astype(np.float32)


def logmel_per_frame(wave: np.ndarray, sample_rate: int, fps: float, num_frames: int, n_mels: int = 64,
                     n_fft: int = 1024) -> np.ndarray:
    """Log-mel spectrogram rows aligned to video frames (hop = sample_rate / fps samples). (num_frames, n_mels)."""
    hop = max(1, int(round(sample_rate / fps)))
    return _rows_per_frame(log_mel(wave, sample_rate, hop, n_mels, n_fft), sample_rate, fps, hop, num_frames)


def mfcc_per_frame(wave: np.ndarray, sample_rate: int, fps: float, num_frames: int, n_mfcc: int = 13,
                   n_fft: int = 1024) -> np.ndarray:
    """MFCCs with deltas and delta-deltas (3 n_mfcc = 39 values, as LFAN's follower) aligned to video frames."""
    hop = max(1, int(round(sample_rate / fps)))
    return _rows_per_frame(mfcc(wave, sample_rate, hop, n_fft, n_mfcc=n_mfcc), sample_rate, fps, hop, num_frames)


def egemaps_per_frame(wave: np.ndarray, sample_rate: int, fps: float, num_frames: int) -> np.ndarray:
    """The 25 eGeMAPS v02 low-level descriptors (openSMILE, 20 ms frames every 10 ms: loudness, F0 semitones,
    jitter, shimmer, HNR, formants, alpha ratio, ...) aligned to video frames. (num_frames, 25) float32."""
    lld = opensmile_features(wave, sample_rate)
    return _rows_per_frame(lld, sample_rate, fps, int(round(0.01 * sample_rate)), num_frames)
