"""Clip-level speech features (RAVDESS and any short utterance): log-mel with deltas, MFCCs, eGeMAPS LLDs and
functionals, all computed on the clip's own samples (no padding in the statistics) at one hop.

- log-mel: 25 ms Hann window (``win = 0.025 sr``, FFT of the next power of two), ``hop`` samples, ``n_mels`` bands,
  ``log(mel + 1e-6)``; with ``deltas`` the first and second differences (torchaudio's 5-point regression) follow:
  (T, 3 n_mels). T = floor(S / hop) + 1 (centred frames).
- MFCC: 13 coefficients of a 40-band log-mel on the same frames, with deltas and delta-deltas: (T, 39).
- eGeMAPS v02 (openSMILE): the 25 LLDs on 10 ms frames (T_e, 25) and the 88 functionals of the whole clip (1, 88);
  ComParE 2016 (openSMILE): the 6,373 functionals of the whole clip (1, 6373).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.audio import check_waveform, log_mel, mfcc, opensmile_features, speech_window
from mmer.data.media import SLACK_SECONDS, check_complete, decode_audio, video_info, wav_header_seconds


def clip_seconds(path: Path) -> float:
    """A clip's duration from its header: a WAV's frames / rate (soundfile), else the container's (PyAV)."""
    if path.suffix.lower() == ".wav":
        import soundfile

        try:
            info = soundfile.info(str(path))
        except RuntimeError as exc:
            raise DataError(f"{path}: not a readable WAV file ({exc})") from None
        return info.frames / info.samplerate

    fps, frames = video_info(path)
    return frames / fps


def read_speech(path: Path, sample_rate: int, tolerance: float) -> np.ndarray:
    """A clip's mono float32 waveform at ``sample_rate``. WAVs are read with soundfile and their channels averaged
    (FFmpeg's mono downmix would sum them at -3 dB, making the release's five stereo files 3 dB louder than the
    mono ones) and resampled with torchaudio if needed; the samples must last what the header promises (within the
    tolerance). Other files (an mp4's soundtrack) go through :func:`~mmer.data.media.decode_audio`."""

    if path.suffix.lower() != ".wav":
        return decode_audio(path, sample_rate, tolerance)
    import soundfile

    try:
        wave, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(f"{path}: not a readable WAV file ({exc}); re-download it") from None
    if not len(wave):
        raise DataError(f"{path}: the WAV file holds no samples")
    check_complete(path, "recording", len(wave) / rate, wav_header_seconds(path), "seconds", SLACK_SECONDS, tolerance)
    wave = check_waveform(path, wave.mean(1))
    if rate != sample_rate:
        import torch
        import torchaudio

        wave = torchaudio.functional.resample(torch.from_numpy(wave), rate, sample_rate).numpy()
    return np.ascontiguousarray(wave, np.float32)


def frame_features(kind: str, wave: np.ndarray, sample_rate: int, hop: int, n_mels: int = 64,
                   deltas: bool = False) -> np.ndarray:
    """``kind`` = ``logmel`` (T, n_mels or 3 n_mels), ``mfcc`` (T, 39) or ``egemaps_lld`` (T_e, 25) of a mono
    float32 waveform (S,) on 25 ms windows (:mod:`mmer.data.audio`); float32."""
    if kind == "egemaps_lld":
        return opensmile_features(wave, sample_rate)
    win, n_fft = speech_window(sample_rate)
    if kind == "logmel":
        return log_mel(wave, sample_rate, hop, n_mels, n_fft, win, deltas)
    if kind == "mfcc":
        return mfcc(wave, sample_rate, hop, n_fft, win)
    raise ValueError(f"unknown frame feature {kind!r}")


#: functional sets of openSMILE: modality -> (feature set, size)
FUNCTIONALS = {"egemaps": ("eGeMAPSv02", 88), "compare": ("ComParE_2016", 6373)}


def functionals(kind: str, wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The clip's openSMILE functionals: ``egemaps`` (the 88 of eGeMAPS v02) or ``compare`` (the 6,373 of the
    ComParE 2016 set: LLD statistics of energy, spectra, MFCCs, voicing): (1, D) float32."""
    feature_set, size = FUNCTIONALS[kind]
    return opensmile_features(wave, sample_rate, "Functionals", feature_set).reshape(1, size)
