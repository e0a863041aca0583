"""Frozen-backbone embeddings computed once per recording into the feature cache (``data.embed``).

A frozen token backbone (:class:`~mmer.model.backbones.pretrained.VideoClipEncoder`, ``SpectrogramResNet``) maps each
sub-clip of ``span`` label frames to one token, independently of the other sub-clips. So running it once over a
whole recording, on the grid of sub-clips that starts at frame 0, gives exactly the tokens it would give inside
the training step for any window that starts on that grid (``WindowedDataModule.align``): training on the cache
computes the same function, without re-running the backbone every step (tested in ``tests/test_embeddings.py``).

The cached array per recording is (n_tokens, D + 1) float32: the tokens and, in the last column, the token mask
(a token is valid if any of its frames is, as :func:`mmer.core.timeaxis.resample_mask` decides in the step).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mmer.core.errors import ConfigError


def describe(factory: Any) -> dict[str, Any]:
    """A JSON-able description of a backbone factory (a ``functools.partial`` from Hydra) for the cache key,
    including the size and mtime of a local weights file."""
    import os

    if not isinstance(factory, functools.partial):
        raise ConfigError(f"data.embed entries must be backbone configs with _partial_: true, got {type(factory)}")
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in factory.keywords.items()}
    weights = kwargs.get("weights")
    if weights and os.path.isfile(weights):
        st = os.stat(weights)
        kwargs["weights_stat"] = [st.st_size, st.st_mtime_ns]
    return {"target": f"{factory.func.__module__}.{factory.func.__qualname__}", **kwargs}


def build_frozen(factory: Callable[..., torch.nn.Module], modality: str, in_dim: int) -> torch.nn.Module:
    backbone = factory(in_dim=in_dim)
    if not getattr(backbone, "frozen", False) or any(p.requires_grad for p in backbone.parameters()):
        raise ConfigError(f"data.embed.{modality}: only a frozen backbone can be cached (freeze: true); a trainable "
                          f"one must run inside the step")
    if not hasattr(backbone, "frames_per_token"):
        raise ConfigError(f"data.embed.{modality}: {type(backbone).__name__} has no fixed sub-clip grid "
                          f"(frames_per_token); it cannot be cached per token")
    return backbone.eval()


@torch.no_grad()
def embed_recording(backbone: torch.nn.Module, x: np.ndarray, mask: np.ndarray | None, steps_per_token: int,
                    scale: float = 1.0, tokens_per_chunk: int = 16, device: str | None = None) -> np.ndarray:
    """Run a frozen token backbone over a whole recording.

    x: (S, ...) the modality's steps (frames or spectrogram rows); mask: (S,) bool or None; steps_per_token: input
    steps per output token. The recording is cut into chunks of ``tokens_per_chunk`` tokens (the tail zero-padded
    with mask False, as a padded window is) and each chunk is one batch row. Returns (n_tokens, D + 1) float32.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    backbone = backbone.to(device)
    steps = len(x)
    n_tokens = -(-steps // steps_per_token)
    mask = np.ones(steps, bool) if mask is None else np.asarray(mask, bool)
    chunk = tokens_per_chunk * steps_per_token
    out = []
    for lo in range(0, n_tokens * steps_per_token, chunk):
        xs = np.asarray(x[lo:lo + chunk], np.float32)
        if scale != 1.0:
            xs = xs * np.float32(scale)
        ms = mask[lo:lo + chunk]
        pad = chunk - len(xs) if lo + chunk > steps else 0
        xt = torch.from_numpy(np.concatenate([xs, np.zeros((pad, *xs.shape[1:]), np.float32)]) if pad else xs)
        mt = torch.from_numpy(np.concatenate([ms, np.zeros(pad, bool)]) if pad else ms)
        tokens = backbone(xt[None].to(device), mt[None].to(device))[0].float().cpu()
        token_mask = mt.reshape(-1, steps_per_token).any(1, keepdim=True).float()
        out.append(torch.cat([tokens, token_mask[: len(tokens)]], 1))
    return torch.cat(out)[:n_tokens].numpy()
