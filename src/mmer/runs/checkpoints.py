"""A trained model outside its CV run: self-describing checkpoints, read and rebuilt.

Every checkpoint mmer writes carries, under the key ``"mmer"`` and in plain types only (it loads with
``weights_only=True``), what rebuilds the model without the run folder::

    {"format": 1, "version": "0.1.0", "commit": "<git sha or null>",
     "config": <the resolved run config: model, data, cv, ...>,
     "input_spec": {modality: {kind, dim, rate, scale, length, span}},   # what the data gave the backbones
     "target_spec": {target: [dimension, class or label names]}}

``MultimodalModule.load_from_checkpoint(path)`` and :func:`load_module` rebuild the module from that alone;
:meth:`mmer.runs.folder.RunFolder.ensemble` gives the fold ensemble of a run folder (``mmer evaluate``, ``mmer
export``, ``mmer explain``, ``mmer predict``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins import TorchCheckpointIO

from mmer.config.build import build_module
from mmer.config.trust import check_targets
from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write
from mmer.data.records import ModalitySpec
from mmer.model.description import DESCRIPTION_KEY, FORMAT
from mmer.runs.names import current_names


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty (a zero-byte file)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_checkpoint(path: str | Path, described: bool = True) -> dict[str, Any]:
    """A checkpoint's contents, loaded ``weights_only`` (tensors, numbers, strings: never code), with its model
    description checked (``described=False``: a run folder's own checkpoint, rebuilt from its config.yaml, may
    predate descriptions). Every failure is one line naming the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # a real pickle that would import and build objects
            raise ConfigError(f"{path}: not a plain checkpoint (it holds objects other than tensors, numbers and "
                              "strings, i.e. code); mmer does not unpickle code") from None
        raise ConfigError(f"{path}: not a readable PyTorch checkpoint ({first_line(exc)})") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable PyTorch checkpoint ({first_line(exc)})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ConfigError(f"{path}: not a Lightning checkpoint (no state_dict)")
    if not described:
        return ckpt
    description = ckpt.get(DESCRIPTION_KEY)
    if not isinstance(description, dict):
        raise ConfigError(f"{path}: carries no mmer model description (written by another program, or by mmer before "
                          f"0.1.0's self-describing checkpoints): rebuild it from its run folder with `mmer evaluate "
                          f"RUN_DIR` or retrain")
    if description.get("format") != FORMAT:
        raise ConfigError(f"{path}: model description format {description.get('format')!r}, this mmer reads "
                          f"{FORMAT} (written by mmer {description.get('version')}); use that version")
    return ckpt


def load_module(path: str | Path, map_location: str | None = None) -> Any:
    """The :class:`~mmer.model.module.MultimodalModule` of a checkpoint, rebuilt from its description alone (in eval
    mode, on ``map_location`` or the CPU). Its config's ``_target_`` entries must lie in the trusted packages."""
    from omegaconf import OmegaConf

    ckpt = read_checkpoint(path)
    description = ckpt[DESCRIPTION_KEY]
    cfg = OmegaConf.create(current_names(description["config"]))
    check_targets(cfg, f"{path} (its model description)")
    input_spec = {m: ModalitySpec(**spec) for m, spec in description["input_spec"].items()}
    module = build_module(cfg, input_spec, description["target_spec"])
    module.load_state_dict(ckpt["state_dict"])
    return module.to(map_location or "cpu").eval()


def prediction_trainer(cfg: Any, progress: bool = False) -> Any:
    """A Lightning trainer that only predicts (one device, no logger, no checkpoints): ``mmer evaluate`` /
    ``mmer predict`` running a run's fold models."""
    import lightning as L

    return L.Trainer(accelerator=cfg.trainer.get("accelerator", "auto"), devices=1, logger=False,
                     enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through :func:`mmer.core.io.atomic_write`: ``best.ckpt`` and ``last.ckpt`` are
    written to a temporary name and renamed when complete, so a full disk or a kill mid-save leaves the previous
    checkpoint (or none), never a truncated one, and a full disk ends in one line naming the file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        import torch

        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))
