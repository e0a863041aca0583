"""Backbones for short speech clips (RAVDESS-style utterances): a 2D CNN over a log-mel spectrogram, computed from
the waveform (:class:`LogMelCNN`, with waveform augmentation) or read precomputed (:class:`SpectrogramCNN`), and an
MLP over clip functionals such as the 88 eGeMAPS ones (:class:`FunctionalsMLP`).

Shapes: waveform (B, S) or (B, S, 1) with mask (B, S); spectrogram features (B, T, F) with mask (B, T); the CNNs
return time tokens (B, T / 2^L, C) (L pooling blocks), zero where the clip is padding, which a sample head pools
(masked mean) and a fusion (JMT, concat) takes as a stream; the MLP returns (B, 1, out_dim).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmer.core.timeaxis import resample_mask
from mmer.model.backbones.augment import SpecAugment, WaveAugment
from mmer.model.backbones.base import Backbone, BackboneInput
from mmer.model.backbones.features import FoldStandardiser

UTTERANCE_NORMS = ("utterance", "none")


def utterance_norm(x: Tensor, mask: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-clip standardisation of (B, T, F) over its valid frames and all bins: ``(x - mu_b) / sigma_b`` (one
    level and spread per clip, so loudness and channel gain drop out); padded frames become 0."""
    m = mask.unsqueeze(-1).to(x.dtype)
    count = (m.sum((1, 2), keepdim=True) * x.shape[-1]).clamp_min(1)
    mean = (x * m).sum((1, 2), keepdim=True) / count
    var = (((x - mean) ** 2) * m).sum((1, 2), keepdim=True) / count
    return (x - mean) / torch.sqrt(var + eps) * m


class SpectrogramCNN(Backbone):
    """(B, T, F) spectrogram features -> per-clip norm -> SpecAugment (training) -> L blocks of Conv3x3 ->
    BatchNorm -> ReLU -> MaxPool2 over (time, bins) -> mean over bins -> Dropout -> (B, ceil(T / 2^L), C_L).

    in_dim: bins F (``n_mels``, or 3 n_mels with deltas: then the three are stacked as input channels).
    channels: per-block output channels. input_channels: how many stacked spectrograms ``in_dim`` holds (3 for
    log-mel with deltas). norm: ``utterance`` (:func:`utterance_norm`) or ``none``. spec_augment: keyword
    arguments of :class:`~mmer.model.backbones.augment.SpecAugment` (training only)."""

    INPUT = BackboneInput("(B, T, D)", what="spectrogram frames of D bands")
    MIXES_BATCH_IN_TRAINING = True

    def __init__(self, in_dim: int, channels: Sequence[int] = (16, 32, 64, 64), input_channels: int = 1,
                 dropout: float = 0.3, norm: str = "utterance", spec_augment: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if norm not in UTTERANCE_NORMS:
            raise ValueError(f"SpectrogramCNN norm={norm!r}: choose one of {list(UTTERANCE_NORMS)}")
        if in_dim % input_channels:
            raise ValueError(f"SpectrogramCNN: in_dim={in_dim} is not input_channels={input_channels} stacked spectrograms")
        self.input_channels, self.norm = input_channels, norm
        self.augment = SpecAugment(**dict(spec_augment or {}))
        layers, c_in = [], input_channels
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            c_in = c
        self.cnn = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = c_in

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        b, t, f = x.shape
        x = x.float()
        if self.norm == "utterance":
            x = utterance_norm(x, mask)
        x = self.augment(x, mask)
        x = x.view(b, t, self.input_channels, f // self.input_channels).permute(0, 2, 1, 3).contiguous()  # (B, C, T, F')
        tokens = self.cnn(x).mean(3).transpose(1, 2)  # (B, T', C)
        m = resample_mask(mask, tokens.shape[1]).unsqueeze(-1).to(tokens.dtype)
        return self.dropout(tokens) * m


class LogMelCNN(Backbone):
    """Waveform (B, S) -> WaveAugment (training) -> log-mel (25 ms window, ``hop_length``; with ``deltas`` two
    delta channels) -> :class:`SpectrogramCNN`. The spectrogram is computed in float32 outside autocast.

    sample_rate, n_mels, hop_length, deltas: the front end (match the data: RAVDESS 16 kHz). wave_augment:
    keyword arguments of :class:`~mmer.model.backbones.augment.WaveAugment`; the rest: :class:`SpectrogramCNN`'s."""

    INPUT = BackboneInput("(B, S)", what="the waveform, S samples")
    MIXES_BATCH_IN_TRAINING = True

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps * 160) * 0.1, {"in_dim": 1}

    def __init__(self, in_dim: int = 1, sample_rate: int = 16000, n_mels: int = 64, hop_length: int = 160,
                 deltas: bool = False, channels: Sequence[int] = (16, 32, 64, 64), dropout: float = 0.3,
                 norm: str = "utterance", wave_augment: Mapping[str, Any] | None = None,
                 spec_augment: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        import torchaudio

        if in_dim != 1:
            raise ValueError(f"LogMelCNN takes mono waveforms (in_dim=1), got in_dim={in_dim}")
        win = int(round(0.025 * sample_rate))
        self.hop_length, self.deltas = hop_length, deltas
        self.wave_augment = WaveAugment(**dict(wave_augment or {}))
        self.melspec = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=1 << (win - 1).bit_length(),
                                                            win_length=win, hop_length=hop_length, n_mels=n_mels)
        self.cnn = SpectrogramCNN(n_mels * (3 if deltas else 1), channels, 3 if deltas else 1, dropout, norm,
                                  spec_augment)
        self.out_dim = self.cnn.out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        import torchaudio

        if x.dim() == 3:
            x = x.squeeze(-1)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = self.wave_augment(x.float() * mask.float(), mask)
            spec = torch.log(self.melspec(x) + 1e-6)  # (B, n_mels, T) with T = S // hop + 1
            # a clip of n samples has the centred frames 0 .. n // hop; later frames repeat its last one, so that
            # deltas near the end are those of the clip alone
            valid = mask.sum(1, keepdim=True) // self.hop_length + 1
            steps = torch.arange(spec.shape[-1], device=x.device)[None]
            frames = steps < valid
            spec = spec.gather(2, torch.minimum(steps, valid - 1)[:, None, :].expand_as(spec))
            if self.deltas:
                d1 = torchaudio.functional.compute_deltas(spec)
                spec = torch.cat([spec, d1, torchaudio.functional.compute_deltas(d1)], 1)
        return self.cnn(spec.transpose(1, 2), frames)


class FunctionalsMLP(Backbone):
    """Clip functionals (B, 1, D) (or (B, K, D) vectors) -> fold z-score (the fold's training clips,
    :class:`~mmer.model.backbones.features.FoldStandardiser`) -> [Linear -> ReLU -> Dropout] per hidden size ->
    (B, K, hidden[-1]); masked rows 0. norm: ``fold_zscore``, ``layer`` or ``none``."""

    INPUT = BackboneInput("(B, T, D)", what="clip-level functionals (T = 1)")

    def __init__(self, in_dim: int, hidden: Sequence[int] = (128, 64), dropout: float = 0.3,
                 norm: str = "fold_zscore") -> None:
        super().__init__()
        norms = {"fold_zscore": lambda: FoldStandardiser(in_dim), "layer": lambda: nn.LayerNorm(in_dim),
                 "none": nn.Identity}
        if norm not in norms:
            raise ValueError(f"FunctionalsMLP norm={norm!r}: choose one of {list(norms)}")
        self.norm = norms[norm]()
        layers, d = [], in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        self.mlp = nn.Sequential(*layers)
        self.out_dim = d

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.mlp(self.norm(x.float())) * mask.unsqueeze(-1).to(x.dtype)
