"""Which saved configs mmer builds objects from: a ``_target_`` imports and runs its code."""

from __future__ import annotations

from typing import Any

from mmer.core.errors import ConfigError

#: packages whose classes a config read from a run folder may build (``mmer explain``): nothing else is imported
TRUSTED_PACKAGES = ("mmer", "torch", "torchvision", "torchaudio", "transformers", "lightning")


def check_targets(cfg: Any, source: str) -> None:
    """Refuse a config (read from ``source``, e.g. a run folder's config.yaml) that would build an object outside
    :data:`TRUSTED_PACKAGES`: instantiating a ``_target_`` imports and runs its code."""
    from omegaconf import OmegaConf

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            target = node.get("_target_")
            if target is not None and str(target).split(".")[0] not in TRUSTED_PACKAGES:
                raise ConfigError(f"{source}: {where or 'the config'}._target_={target} is outside the packages mmer "
                                  f"builds from a run folder ({', '.join(TRUSTED_PACKAGES)}); refusing to import it. "
                                  "If you wrote it yourself, train with that config through `mmer cv` instead")
            for key, value in node.items():
                walk(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(OmegaConf.to_container(cfg, resolve=False), "")
