"""Torchvision trunks used as token encoders, with local pretrained weights and one freeze switch.

``weights`` is a path to a local file (a state dict as saved by ``torch.save(model.state_dict())``, or a
checkpoint holding one under ``state_dict``), or a torchvision weights name (``DEFAULT``, ``IMAGENET1K_V1``,
``KINETICS400_V1``, ``imagenet``): fetched once into torch.hub's cache, never in tests (:mod:`mmer.core.weights`);
without either the trunk starts from random initialisation and a warning says so. ``freeze=True`` stops gradients into the trunk and keeps its
BatchNorm statistics fixed (the trunk stays in eval mode even while the rest of the model trains), so a frozen
trunk computes one fixed function: the same whether it runs inside the training step or once, up front, into a
feature cache (see :mod:`mmer.embeddings`).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from torch import Tensor, nn

from mmer.core.errors import ConfigError, RandomInitWarning
from mmer.core.weights import is_weights_name, torchvision_weights
from mmer.model.backbones.base import Backbone, BackboneInput

log = logging.getLogger(__name__)
VIDEO_ARCHS = ("r2plus1d_18", "r3d_18", "mc3_18")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KINETICS_MEAN, KINETICS_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)


def load_local_weights(module: nn.Module, path: str | None, what: str) -> None:
    """Load a local state dict into ``module`` (classifier keys ``fc.*`` may be absent or extra). ``path=None``
    keeps the random initialisation and warns."""
    if not path:  # attributed to the backbone that asked; the CV runner says it for the first fold only
        warnings.warn(f"{what}: no pretrained weights given (weights=null); starting from random initialisation. "
                      f"Pass a local file, e.g. model.backbones.<modality>.weights=/path/to/{what}.pth",
                      RandomInitWarning, stacklevel=2)
        return

    file = torchvision_weights(what, path) if is_weights_name(path) else Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{what}: weights file '{file}' does not exist; give a local .pth state dict, a "
                          f"torchvision weights name (DEFAULT, IMAGENET1K_V1, ...) or weights=null for random "
                          f"initialisation")
    state = torch.load(file, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = module.state_dict()
    state = _backbone_part(state, set(own))
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if "conv1.weight" in state and "conv1.weight" in own and state["conv1.weight"].shape != own["conv1.weight"].shape:
        state["conv1.weight"] = state["conv1.weight"].sum(1, keepdim=True)  # RGB stem -> one-channel spectrogram
    missing = [k for k in own if k not in state and not k.startswith("fc.")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ConfigError(f"{what}: '{file}' does not fit this architecture: missing {missing[:5]}, unexpected "
                          f"{unexpected[:5]} ({len(missing)} / {len(unexpected)} keys)")
    module.load_state_dict(state, strict=False)
    log.info("%s: loaded pretrained weights from %s", what, file)


def _backbone_part(state: dict, own: set[str]) -> dict:
    """A whole mmer checkpoint (``backbones.<modality>.*``, ``fusion.*``, ...): the backbone whose keys are exactly
    this module's; any other state dict is returned as it is."""
    if own <= set(state):
        return state
    prefixes = sorted({".".join(k.split(".")[:2]) + "." for k in state if k.startswith("backbones.")})
    for prefix in prefixes:
        part = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if set(part) == own:
            return part
    return state


class FreezableTrunk(Backbone):
    """Base for backbones with a torchvision ``trunk`` (the torchvision model's children named ``trunk_names``,
    in order) that one switch freezes."""

    trunk: nn.Sequential
    trunk_names: tuple[str, ...]

    def export_weights(self, path: str | Path) -> Path:
        """Save the trunk under torchvision's key names: a file ``weights=`` accepts (e.g. a fine-tuned trunk, to
        reuse frozen)."""
        state = {f"{name}.{k}": v for name, child in zip(self.trunk_names, self.trunk)
                 for k, v in child.state_dict().items()}
        torch.save(state, path)
        return Path(path)

    def frames_per_token(self, rate: int) -> int:
        """Label frames covered by one output token, for an input with ``rate`` steps per label frame."""
        raise NotImplementedError

    def _set_frozen(self, freeze: bool) -> None:
        self.frozen = freeze
        for p in self.trunk.parameters():
            p.requires_grad_(not freeze)
        if freeze:
            self.trunk.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.trunk.eval()
        return self


class VideoClipEncoder(FreezableTrunk):
    """Sub-clip tokens from face frames with a torchvision 3D CNN (R(2+1)D-18, R3D-18 or MC3-18).

    x (B, T, C, H, W) in [0, 1] -> every ``frame_stride``-th frame -> clips of ``clip_len`` frames (the last clip
    zero-padded) -> Kinetics normalisation -> trunk -> max over space, mean over time -> (B, n, 512),
    n = ceil(ceil(T / frame_stride) / clip_len). JMT's Aff-Wild2 setting: frame_stride 4, clip_len 8, so a token
    covers 32 frames and a 512-frame window gives 16 tokens. One-channel frames are repeated to RGB.
    """

    INPUT = BackboneInput("(B, T, 3, H, W)", what="RGB frames")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.rand(batch, steps, 3, 32, 32), {"in_dim": 3, "clip_len": 2, "frame_stride": 2}

    out_dim = 512
    trunk_names = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, in_dim: int = 3, arch: str = "r2plus1d_18", clip_len: int = 8, frame_stride: int = 4,
                 weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        from torchvision.models import video

        if arch not in VIDEO_ARCHS:
            raise ConfigError(f"VideoClipEncoder: arch={arch!r}; choose one of {list(VIDEO_ARCHS)}")
        if in_dim not in (1, 3):
            raise ConfigError(f"VideoClipEncoder needs 1- or 3-channel frames, got in_dim={in_dim}")
        self.clip_len, self.frame_stride = clip_len, frame_stride
        net = getattr(video, arch)(weights=None)
        load_local_weights(net, weights, arch)
        self.trunk = nn.Sequential(*(getattr(net, n) for n in self.trunk_names))
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1), persistent=False)
        self._set_frozen(freeze)

    def frames_per_token(self, rate: int) -> int:
        return self.clip_len * self.frame_stride // rate

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x[:, :: self.frame_stride] * mask[:, :: self.frame_stride, None, None, None].to(x.dtype)
        if x.shape[2] == 1:
            x = x.expand(-1, -1, 3, -1, -1)
        b, t = x.shape[:2]
        n = -(-t // self.clip_len)
        if n * self.clip_len != t:
            x = torch.cat([x, x.new_zeros(b, n * self.clip_len - t, *x.shape[2:])], 1)
        clips = rearrange(x, "b (n l) c h w -> (b n) c l h w", l=self.clip_len)
        feats = self.trunk((clips - self.mean) / self.std)  # (b n, 512, l', h', w')
        tokens = feats.amax(dim=(-2, -1)).mean(-1)
        return rearrange(tokens, "(b n) d -> b n d", b=b)


class SpectrogramResNet(FreezableTrunk):
    """Sub-clip tokens from a log-mel spectrogram with a torchvision ResNet-18 (one input channel).

    x (B, R, n_mels) spectrogram rows -> chunks of ``rows_per_token`` rows (the last one zero-padded) -> each chunk as
    a (1, rows, n_mels) image -> ResNet-18 -> global average pool -> (B, ceil(R / rows_per_token), 512). With 4 rows
    per video frame (10 ms hop at 25 fps), 128 rows = one 32-frame JMT sub-clip. ImageNet RGB weights are adapted
    by summing the stem over its input channels.
    """

    INPUT = BackboneInput("(B, R, M)", what="spectrogram rows of M bands")

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.randn(batch, steps * 4, 64), {"in_dim": 64, "rows_per_token": 32}

    out_dim = 512
    trunk_names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, in_dim: int = 64, rows_per_token: int = 128, weights: str | None = None,
                 freeze: bool = False) -> None:
        super().__init__()
        from torchvision.models import resnet18

        self.rows_per_token = rows_per_token
        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        load_local_weights(net, weights, "resnet18")
        self.trunk = nn.Sequential(*(getattr(net, n) for n in self.trunk_names), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self._set_frozen(freeze)

    def frames_per_token(self, rate: int) -> int:
        if self.rows_per_token % rate:
            raise ConfigError(f"SpectrogramResNet: rows_per_token={self.rows_per_token} is not a whole number of "
                              f"frames at {rate} rows per frame")
        return self.rows_per_token // rate

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x * mask.unsqueeze(-1).to(x.dtype)
        b, r = x.shape[:2]
        n = -(-r // self.rows_per_token)
        if n * self.rows_per_token != r:
            x = torch.cat([x, x.new_zeros(b, n * self.rows_per_token - r, x.shape[2])], 1)
        chunks = rearrange(x, "b (n r) m -> (b n) 1 r m", r=self.rows_per_token)
        return rearrange(self.trunk(chunks), "(b n) d -> b n d", b=b)


class FrameResNet(FreezableTrunk):
    """Per-frame tokens from a torchvision ResNet-18 (EMERT's face encoder).

    x (B, K, C, H, W) frames in [0, 1], mask (B, K) -> ImageNet normalisation -> ResNet-18 trunk -> global average
    pool (512) -> Linear(512 -> out_dim) -> (B, K, out_dim); frames with mask False are not computed and give 0.
    One-channel frames are repeated to RGB. ``weights``: a local torchvision ResNet-18 state dict (random
    initialisation otherwise, with a warning); ``freeze`` keeps the trunk fixed.
    """

    INPUT = BackboneInput("(B, K, C, H, W)", what="K frames of one sample")
    MIXES_BATCH_IN_TRAINING = True

    @classmethod
    def example(cls, batch: int = 3, steps: int = 24) -> tuple[Tensor, dict[str, Any]]:
        return torch.rand(batch, 4, 3, 32, 32), {"in_dim": 3}

    trunk_names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")

    def __init__(self, in_dim: int = 3, out_dim: int = 128, weights: str | None = None, freeze: bool = False) -> None:
        super().__init__()
        from torchvision.models import resnet18

        if in_dim not in (1, 3):
            raise ConfigError(f"FrameResNet needs 1- or 3-channel frames, got in_dim={in_dim}")
        net = resnet18(weights=None)
        load_local_weights(net, weights, "resnet18")
        self.trunk = nn.Sequential(*(getattr(net, n) for n in self.trunk_names))
        self.proj = nn.Linear(512, out_dim)
        self.out_dim = out_dim
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._set_frozen(freeze)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        out = x.new_zeros(*mask.shape, self.out_dim)
        if mask.any():
            frames = x[mask]
            if frames.shape[1] == 1:
                frames = frames.expand(-1, 3, -1, -1)
            f = self.trunk((frames - self.mean) / self.std).flatten(1)
            out = out.to(f.dtype)
            out[mask] = self.proj(f)
        return out
