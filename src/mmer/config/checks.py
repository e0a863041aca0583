"""Pre-flight checks of a composed config: settings that would only fail inside training (after a run folder
exists) are refused first, each naming the key and the fix."""

from __future__ import annotations

import os
from typing import Any

import torch

from mmer.config.devices import on_gpu, requested_devices
from mmer.core.errors import ConfigError


def check_settings(cfg: Any) -> None:
    """Settings whose type and range fit (:mod:`mmer.config.schema`) but that cannot run together on this
    machine: refused before anything is built, each naming the key and the fix."""
    check_layout(cfg.trainer)


#: strategies the CV runner runs: each process runs the whole command (Lightning's script launcher, torchrun, srun)
RUNNABLE_STRATEGIES = ("auto", "single_device", "ddp", "ddp_find_unused_parameters_false",
                       "ddp_find_unused_parameters_true")


def check_layout(trainer: Any) -> None:
    """``trainer.strategy`` / ``devices`` / ``num_nodes`` that cannot run, refused before anything is built: an
    unknown or unsupported strategy, and more devices than this machine has (GPUs, or CPU cores for CPU
    processes)."""
    from lightning.pytorch.strategies import StrategyRegistry

    strategy = str(trainer.get("strategy", "auto"))
    if strategy not in RUNNABLE_STRATEGIES:
        known = strategy in StrategyRegistry.available_strategies()
        raise ConfigError(f"trainer.strategy={strategy}: " + (
            "the CV runner needs every process to run the whole command (spawned workers would train without "
            "the fold bookkeeping); use trainer=ddp" if known else
            f"not a strategy Lightning knows; choose one of {', '.join(RUNNABLE_STRATEGIES)} (trainer=ddp)"))
    try:
        wanted = requested_devices(trainer.get("devices", 1))
    except ValueError:
        raise ConfigError(f"trainer.devices={trainer.devices}: give a number, a list of device indices or auto") from None
    if wanted is not None and wanted < 1:
        raise ConfigError(f"trainer.devices={trainer.devices}: need at least one device")
    nodes = int(trainer.get("num_nodes", 1))
    if nodes < 1:
        raise ConfigError(f"trainer.num_nodes={nodes}: need at least one node")
    if wanted is None or nodes > 1:  # on several nodes each has its own devices; this machine cannot count them
        return
    accelerator = str(trainer.get("accelerator", "auto"))
    gpu = on_gpu(trainer)
    have = torch.cuda.device_count() if gpu else (os.cpu_count() or 1)
    if gpu and have == 0:  # "this machine has 0 GPUs: set devices<=0" would send the user the wrong way
        raise ConfigError(f"trainer.accelerator={accelerator}: torch sees no GPU on this machine (torch.cuda."
                          "is_available() is False: no GPU, or a CPU-only torch build); use trainer.accelerator=auto "
                          "(or cpu) here, or run where a GPU is")
    what = "GPUs" if gpu else "CPU cores"
    if wanted > have:
        raise ConfigError(f"trainer.devices={trainer.devices} asks for {wanted} devices but this machine has {have} "
                          f"{what}{' (accelerator=' + accelerator + ')' if accelerator != 'auto' else ''}: set "
                          f"trainer.devices<={have}")
    if wanted > 1 and strategy in ("auto", "single_device"):
        raise ConfigError(f"trainer.devices={trainer.devices} with trainer.strategy={strategy}: several devices need "
                          "DDP; use trainer=ddp trainer.devices=N")
