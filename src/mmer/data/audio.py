"""The audio front end every data module uses: log-mel spectrograms, MFCCs with deltas and openSMILE descriptors
of a mono waveform. The callers choose the frames (Aff-Wild2: one hop per video frame; MELD / IEMOCAP: 10 ms rows
of an utterance; RAVDESS: 25 ms windows at the clip's hop); the arithmetic is here once:

- log-mel: ``log(mel + 1e-6)`` of a Hann-windowed STFT (``n_fft``, ``win_length`` default ``n_fft``, ``hop``),
  ``n_mels`` bands: (T, n_mels), T = floor(S / hop) + 1 (centred frames);
- deltas: torchaudio's 5-point regression, first and second differences appended: (T, 3 D);
- MFCC: ``n_mfcc`` coefficients of a 40-band log-mel on the same frames, with deltas: (T, 3 n_mfcc);
- openSMILE (imported here only: the GPU image may lack it): eGeMAPS v02 low-level descriptors (T_e, 25) on
  20 ms frames every 10 ms, or a set's functionals of the whole signal (1, D).
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from mmer.core.errors import DataError
from mmer.data.records import check_values

#: the largest absolute sample a recording may hold: full scale is 1.0, and float files may overshoot it a little,
#: never by 40 dB (such a file holds unscaled or corrupt floats)
MAX_AMPLITUDE = 100.0


def check_waveform(path: object, wave: np.ndarray) -> np.ndarray:
    """``wave`` as it is, or a :class:`~mmer.core.errors.DataError` naming ``path`` when no microphone recorded it:
    NaN or infinite samples, or samples beyond :data:`MAX_AMPLITUDE`."""
    check_values(wave, str(path), MAX_AMPLITUDE, what="audio samples",
                 fix="full scale is 1.0, so the file holds unscaled or corrupt floats; re-export it as 16-bit PCM, "
                     "or as floats in [-1, 1]")
    return wave


SILENCE = 1e-4  # -80 dBFS: below the noise floor of any microphone, so a peak under it is digital silence


def is_silent(wave: np.ndarray) -> bool:
    """Whether a waveform (full scale 1.0) is digital silence: empty, or its peak below :data:`SILENCE`."""
    return not len(wave) or float(np.abs(wave).max()) < SILENCE


def speech_window(sample_rate: int) -> tuple[int, int]:
    """(win_length, n_fft) of a 25 ms window: ``round(0.025 sr)`` samples, FFT of the next power of two."""
    win = int(round(0.025 * sample_rate))
    return win, 1 << (win - 1).bit_length()


def with_deltas(spec: torch.Tensor) -> torch.Tensor:
    """(D, T) -> (3 D, T): the features, their first and their second differences."""
    d1 = torchaudio.functional.compute_deltas(spec)
    return torch.cat([spec, d1, torchaudio.functional.compute_deltas(d1)])


def _tensor(wave: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(wave, np.float32))  # a writable copy (caches hand out read-only maps)


def log_mel(wave: np.ndarray, sample_rate: int, hop: int, n_mels: int, n_fft: int, win_length: int | None = None,
            deltas: bool = False) -> np.ndarray:
    """(T, n_mels) float32 log-mel of a mono waveform (S,) (module doc); (T, 3 n_mels) with ``deltas``."""
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft, win_length=win_length,
                                               hop_length=hop, n_mels=n_mels)
    spec = torch.log(mel(_tensor(wave)) + 1e-6)
    return (with_deltas(spec) if deltas else spec).T.contiguous().numpy().astype(np.float32)


def mfcc(wave: np.ndarray, sample_rate: int, hop: int, n_fft: int, win_length: int | None = None,
         n_mfcc: int = 13) -> np.ndarray:
    """(T, 3 n_mfcc) float32: MFCCs of a 40-band log-mel with deltas and delta-deltas (LFAN's 39 values)."""
    melkwargs = {"n_fft": n_fft, "hop_length": hop, "n_mels": 40}
    if win_length is not None:
        melkwargs["win_length"] = win_length
    coefficients = torchaudio.transforms.MFCC(sample_rate=sample_rate, n_mfcc=n_mfcc, melkwargs=melkwargs)
    return with_deltas(coefficients(_tensor(wave))).T.contiguous().numpy().astype(np.float32)


def opensmile_features(wave: np.ndarray, sample_rate: int, level: str = "LowLevelDescriptors",
                       feature_set: str = "eGeMAPSv02") -> np.ndarray:
    """openSMILE's ``feature_set`` at ``level`` (``LowLevelDescriptors``: (T_e, D) every 10 ms; ``Functionals``:
    (1, D) of the whole signal), float32. Needs the ``opensmile`` package."""
    try:
        import opensmile
    except ImportError:
        raise DataError("openSMILE features (egemaps, egemaps_lld, compare) need the opensmile package: pip install "
                        "opensmile (or leave them out of data.modalities)") from None
    smile = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                            feature_level=getattr(opensmile.FeatureLevel, level))
    out = smile.process_signal(np.asarray(wave, np.float32), sample_rate).to_numpy(np.float32)
    if len(out) == 0:
        raise DataError(f"eGeMAPS: a signal of {len(wave)} samples is too short for one 20 ms frame")
    return out
