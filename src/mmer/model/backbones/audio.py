"""Audio backbones on raw waveforms."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mmer.core.timeaxis import resample_mask
from mmer.core.weights import resolve_encoder_path
from mmer.model.backbones.base import Backbone, BackboneInput
from mmer.model.backbones.tcn import TCN


class MelCNN(Backbone):
    """Log-mel spectrogram (torchaudio) -> 2D CNN over (mel, time) -> frequency pooling -> TCN.

    x (B, S) or (B, S, 1) waveform; mask (B, S) valid samples. Output (B, S // hop_length + 1, out_dim).
    Padded samples are zeroed before the spectrogram. Frequencies are pooled away, time resolution is kept.
    """

    INPUT = BackboneInput("(B, S)", what="the waveform, S samples")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps * 160) * 0.1, {"in_dim": 1}

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


class SpeechEncoder(Backbone):
    """A pretrained speech encoder from transformers (wav2vec2, HuBERT, WavLM: ``AutoModel``) over the raw waveform.

    x (B, S) or (B, S, 1) mono waveform at ``sample_rate``, mask (B, S) valid samples -> resampled to the
    encoder's rate (16 kHz for these models) -> each item normalised to zero mean and unit variance over its valid
    samples (as their feature extractors do) -> last hidden states (B, T', hidden) at the encoder's frame rate
    (50 per second) -> Linear(hidden -> out_dim). Masked samples are zeroed and passed as the attention mask where
    the model takes one.

    Args: path: a local model folder (``save_pretrained`` output) or a Hugging Face id (``facebook/wav2vec2-base``),
    fetched once into the hub cache (:mod:`mmer.core.weights`); sample_rate: the data's; out_dim; freeze: no gradients
    into the encoder, kept in eval mode (no dropout); encoder_rate: the rate the encoder was trained at.
    """

    INPUT = BackboneInput("(B, S)", what="the waveform, S samples")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps * 160) * 0.1, {"in_dim": 1}

    def __init__(self, in_dim: int = 1, path: str = "facebook/wav2vec2-base", sample_rate: int = 16000,
                 out_dim: int = 128, freeze: bool = True, encoder_rate: int = 16000) -> None:
        super().__init__()
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        if in_dim != 1:
            raise ValueError(f"SpeechEncoder takes mono waveforms (in_dim=1), got in_dim={in_dim}; downmix first")
        hf_logging.set_verbosity_error()
        self.encoder = AutoModel.from_pretrained(str(resolve_encoder_path(path)), local_files_only=True)
        self.sample_rate, self.encoder_rate, self.freeze = sample_rate, encoder_rate, freeze
        self.proj = nn.Linear(self.encoder.config.hidden_size, out_dim)
        self.out_dim = out_dim
        if freeze:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True) -> SpeechEncoder:
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        import torchaudio

        if x.dim() == 3:
            x = x.squeeze(-1)
        m = mask.to(x.dtype)
        x = x.float() * m
        if self.sample_rate != self.encoder_rate:
            x = torchaudio.functional.resample(x, self.sample_rate, self.encoder_rate)
            m = (resample_mask(mask, x.shape[1])).to(x.dtype)
        count = m.sum(1, keepdim=True).clamp_min(1.0)
        mean = (x * m).sum(1, keepdim=True) / count
        std = (((x - mean) * m) ** 2).sum(1, keepdim=True).div(count).sqrt().clamp_min(1e-5)
        x = (x - mean) / std * m
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            hidden = self.encoder(x, attention_mask=m.long()).last_hidden_state  # (B, T', hidden)
        out_mask = resample_mask(mask, hidden.shape[1]).unsqueeze(-1).to(hidden.dtype)
        return self.proj(hidden) * out_mask
