"""Training-only augmentation inside a backbone: it runs in ``train()`` mode and is the identity in ``eval()``, so
validation, test, ``mmer evaluate`` and ``mmer predict`` never see it. Random draws come from torch's generator,
which the CV runner seeds per fold (``seed_everything``), so a run is repeatable.

- :class:`WaveAugment` on waveforms (B, S) with mask (B, S): a circular time shift of each clip's valid samples by
  up to ``shift`` of its length, a gain of ±``gain_db`` and white noise at an SNR drawn from ``snr_db``;
- :class:`SpecAugment` on spectrogram-like features (B, T, F) with mask (B, T) (Park et al., 2019): ``freq_masks``
  bands of up to ``freq_width`` bins and ``time_masks`` spans of up to ``time_width`` of each clip's valid frames,
  set to 0 (the mean after per-utterance normalisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class WaveAugment(nn.Module):
    """shift: largest circular shift as a fraction of each clip's valid length (0: none); gain_db: largest gain in
    either direction (0: none); snr_db: (low, high) of the noise's signal-to-noise ratio in dB, drawn uniformly
    (None: no noise); p_noise: the share of clips that get noise."""

    def __init__(self, shift: float = 0.0, gain_db: float = 0.0, snr_db: Sequence[float] | None = None,
                 p_noise: float = 0.5) -> None:
        super().__init__()
        if not 0 <= shift < 1 or gain_db < 0 or not 0 <= p_noise <= 1:
            raise ValueError(f"WaveAugment: shift={shift} must be in [0, 1), gain_db={gain_db} >= 0, p_noise in [0, 1]")
        self.shift, self.gain_db, self.p_noise = shift, gain_db, p_noise
        self.snr_db = tuple(snr_db) if snr_db is not None else None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if not self.training:
            return x
        b, s = x.shape
        valid = mask.to(x.dtype)
        lengths = mask.sum(1).clamp_min(1)
        if self.shift > 0:
            offsets = (torch.rand(b, device=x.device) * self.shift * lengths).long()
            pos = torch.arange(s, device=x.device).expand(b, s)
            source = torch.where(mask, (pos - offsets[:, None]) % lengths[:, None], pos)
            x = torch.gather(x, 1, source)
        if self.gain_db > 0:
            gain = (torch.rand(b, 1, device=x.device) * 2 - 1) * self.gain_db
            x = x * torch.pow(10.0, gain / 20)
        if self.snr_db is not None:
            lo, hi = self.snr_db
            snr = lo + torch.rand(b, 1, device=x.device) * (hi - lo)
            power = (x ** 2 * valid).sum(1, keepdim=True) / lengths[:, None]
            noise = torch.randn_like(x) * torch.sqrt(power / torch.pow(10.0, snr / 10))
            noise = noise * (torch.rand(b, 1, device=x.device) < self.p_noise).to(x.dtype)
            x = x + noise
        return x * valid


class SpecAugment(nn.Module):
    """freq_masks x up to freq_width bins and time_masks x up to time_width (fraction of each clip's valid frames)
    of (B, T, F) features, zeroed in training; the identity in eval mode or with no masks."""

    def __init__(self, freq_masks: int = 0, freq_width: int = 8, time_masks: int = 0, time_width: float = 0.1) -> None:
        super().__init__()
        if min(freq_masks, freq_width, time_masks) < 0 or not 0 <= time_width < 1:
            raise ValueError(f"SpecAugment: counts and widths must be >= 0 and time_width < 1, got {freq_masks}, "
                             f"{freq_width}, {time_masks}, {time_width}")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width = time_masks, time_width

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if not self.training or not (self.freq_masks or self.time_masks):
            return x
        b, t, f = x.shape
        keep = torch.ones(b, t, f, dtype=torch.bool, device=x.device)
        bins = torch.arange(f, device=x.device)
        for _ in range(self.freq_masks):
            width = torch.randint(0, self.freq_width + 1, (b, 1), device=x.device)
            start = (torch.rand(b, 1, device=x.device) * (f - width + 1)).long()
            keep &= ~((bins >= start) & (bins < start + width))[:, None, :]
        steps = torch.arange(t, device=x.device)
        lengths = mask.sum(1, keepdim=True)
        for _ in range(self.time_masks):
            width = (torch.rand(b, 1, device=x.device) * self.time_width * lengths).long()
            start = (torch.rand(b, 1, device=x.device) * (lengths - width + 1)).long()
            keep &= ~((steps >= start) & (steps < start + width))[:, :, None]
        return x * keep.to(x.dtype)
