"""Pluggable scene scorers for ``mmer explain``: a location classifier (Places365 style) and an adjective-noun-pair
(ANP) detector. mmer ships no weights and downloads none: the user gives a TorchScript file and its label list.

Contract of a scorer file (``torch.jit.save`` of any model, with its own preprocessing inside):
input a float tensor (N, 3, size, size), RGB in [0, 1]; output (N, L) scores, one per line of the labels file. The
location is the softmax's top label; ANPs are the labels whose sigmoid score is at least ``threshold`` (at most
``top``), highest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mmer.core.errors import ConfigError


@dataclass
class SceneScorer:
    model: torch.jit.ScriptModule
    labels: list[str]
    size: int = 224

    @classmethod
    def load(cls, model: str | Path, labels: str | Path, size: int = 224) -> SceneScorer:
        for path, what in ((model, "TorchScript model"), (labels, "label list (one label per line)")):
            if not Path(path).is_file():
                raise ConfigError(f"{path}: no such file; give a local {what}")
        names = [line.strip() for line in Path(labels).read_text().splitlines() if line.strip()]
        try:
            scripted = torch.jit.load(str(model), map_location="cpu").eval()
        except RuntimeError as exc:
            raise ConfigError(f"{model}: not a TorchScript file ({exc}); export the model with torch.jit.script or "
                              f"torch.jit.trace and torch.jit.save") from None
        return cls(scripted, names, size)

    @torch.no_grad()
    def scores(self, image: np.ndarray) -> np.ndarray:
        """(3, H, W) uint8 -> (L,) raw scores."""
        x = torch.from_numpy(np.asarray(image, np.float32) / 255.0).unsqueeze(0)
        x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        out = self.model(x).reshape(-1)
        if out.numel() != len(self.labels):
            raise ConfigError(f"the scorer returned {out.numel()} scores for {len(self.labels)} labels: the label "
                              f"list does not belong to this model")
        return out.float().numpy()

    def location(self, image: np.ndarray) -> tuple[str, float]:
        s = self.scores(image)
        p = np.exp(s - s.max())
        p /= p.sum()
        return self.labels[int(p.argmax())], float(p.max())

    def pairs(self, image: np.ndarray, threshold: float = 0.5, top: int = 3) -> list[tuple[str, float]]:
        p = 1 / (1 + np.exp(-self.scores(image)))
        order = [int(i) for i in np.argsort(-p) if p[i] >= threshold][:top]
        return [(self.labels[i], float(p[i])) for i in order]
