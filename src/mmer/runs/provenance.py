"""A run's identity (the hash of what it computes) and its provenance record (commit, versions, platform)."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from typing import Any

from mmer.core.versions import git_commit
from mmer.runs.names import hashed_names

# Settings that do not change results: excluded from the run hash so that e.g. more workers, another device or a
# copy of the dataset elsewhere reuse finished folds. Where the data lies (data_dir, data.root, data.cache_dir) is
# replaced by the dataset's fingerprint (mmer.data.identity). The checkpoint's selection is cv.monitor /
# cv.mode (hashed there); where it writes is the runner's. Precision and everything else stay in the hash.
NON_SEMANTIC = (("logger",), ("paths",), ("cv", "plot_videos"), ("cv", "only_folds"), ("cv", "keep_checkpoints"),
                ("cv", "wait_for_lock"), ("data_dir",), ("data", "root"), ("data", "cache_dir"),
                ("data", "num_workers"), ("data", "pin_memory"), ("trainer", "enable_progress_bar"),
                ("trainer", "enable_model_summary"), ("trainer", "log_every_n_steps"), ("trainer", "accelerator"),
                ("trainer", "devices"), ("trainer", "strategy"), ("trainer", "num_nodes"), ("callbacks", "checkpoint"),
                ("callbacks", "lr_monitor"))
# Switches added after runs existed, hashed only when on: at their off value a run keeps the identity it had before
# the switch was there (its finished folds are found, not retrained).
OFF_UNLESS_SET = ((("model", "mixup"), 0.0),)
PACKAGES = ("torch", "torchvision", "torchaudio", "lightning", "torchmetrics", "transformers", "hydra-core", "numpy",
            "wandb", "mmer")


def config_hash(container: dict[str, Any]) -> str:
    """sha256 (12 hex digits) of :func:`semantic_config`, keys sorted."""
    return hashlib.sha256(json.dumps(semantic_config(container), sort_keys=True).encode()).hexdigest()[:12]


def semantic_config(container: dict[str, Any]) -> dict[str, Any]:
    """The resolved config without :data:`NON_SEMANTIC` keys (and without sections that only they filled, or that
    are null), and without :data:`OFF_UNLESS_SET` switches at their off value: what a run computes."""
    data = hashed_names(json.loads(json.dumps(container)))
    for path in NON_SEMANTIC:
        _parent(data, path).pop(path[-1], None)
    for path, off in OFF_UNLESS_SET:
        parent = _parent(data, path)
        if parent.get(path[-1], off) == off:
            parent.pop(path[-1], None)
    for name, section in list(data.get("callbacks", {}).items()):
        if section is None:  # a callback switched off is no callback
            data["callbacks"].pop(name)
    if data.get("callbacks") == {}:
        data.pop("callbacks")
    return data


def _parent(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The dict holding ``path``'s last key in nested ``data`` ({} where the path is absent or not a dict)."""
    node: Any = data
    for key in path[:-1]:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def provenance(seed: int, run_hash: str) -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"config_hash": run_hash, "seed": seed, "git_commit": git_commit(), "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions}
