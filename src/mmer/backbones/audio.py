"""Audio backbones on raw waveforms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mmer.backbones.tcn import TCN
from mmer.timeaxis import resample_mask


class MelCNN(nn.Module):
    """Log-mel spectrogram (torchaudio) -> 2D CNN over (mel, time) -> frequency pooling -> TCN.

    x (B, S) or (B, S, 1) waveform; mask (B, S) valid samples. Output (B, S // hop_length + 1, out_dim).
    Padded samples are zeroed before the spectrogram. Frequencies are pooled away, time resolution is kept.
    """

    def __init__(self, in_dim: int = 1, sample_rate: int = 16000, n_mels: int = 32, n_fft: int = 400,
                 hop_length: int = 160, cnn_channels: Sequence[int] = (16, 32), tcn_channels: Sequence[int] = (64,),
                 kernel: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        import torchaudio

        if in_dim != 1:
            raise ValueError(f"MelCNN takes mono waveforms (in_dim=1), got in_dim={in_dim}; downmix first")
        self.melspec = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, n_fft=n_fft,
                                                            hop_length=hop_length, n_mels=n_mels)
        layers, c_in = [], 1
        for c in cnn_channels:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.GroupNorm(1, c), nn.ReLU(), nn.MaxPool2d((2, 1))]
            c_in = c
        self.cnn = nn.Sequential(*layers)
        self.tcn = TCN(c_in, tcn_channels, kernel, dropout)
        self.out_dim = self.tcn.out_dim

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if x.dim() == 3:
            x = x.squeeze(-1)
        x = x * mask.to(x.dtype)
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = torch.log(self.melspec(x.float()) + 1e-6)  # (B, n_mels, T')
        feats = self.cnn(spec.unsqueeze(1)).amax(dim=2).transpose(1, 2)  # (B, T', C)
        m = resample_mask(mask, feats.shape[1]).unsqueeze(-1).to(feats.dtype)
        return self.tcn(feats * m) * m
