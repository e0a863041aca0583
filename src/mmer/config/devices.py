"""Device arithmetic of a trainer config: how many devices it asks for, whether it is on GPUs, processes per step."""

from __future__ import annotations

from typing import Any

import torch


def requested_devices(devices: Any) -> int | None:
    """How many devices a ``trainer.devices`` value asks for (None: 'auto' / -1, Lightning's choice)."""
    if isinstance(devices, str):
        devices = devices.strip()
        if devices in ("auto", "-1"):
            return None
        devices = [d for d in devices.split(",") if d.strip()] if "," in devices else int(devices)
    if isinstance(devices, int):
        return None if devices == -1 else devices
    return len(list(devices))


def world_size(trainer: Any) -> int:
    """Processes of one optimizer step: ``devices x num_nodes`` (``auto`` / -1: every GPU here, else 1). Part of a
    run's identity when above 1, since ``data.batch_size`` is per device: 2 processes train another model than 1."""
    count = requested_devices(trainer.get("devices", 1))
    if count is None:
        count = max(1, torch.cuda.device_count()) if on_gpu(trainer) else 1
    return count * int(trainer.get("num_nodes", 1))


def on_gpu(trainer: Any) -> bool:
    """Whether ``trainer.accelerator`` puts the job on GPUs (``auto``: where one exists)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
