"""Composing experiment configs (Hydra compose API) and building objects from them.

Hydra is imported lazily so that the model code runs where Hydra is not installed (e.g. the GPU image).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmer.core.errors import ConfigError, MmerError

if TYPE_CHECKING:
    from mmer.data.base import FoldedDataModule

REPO_ROOT = Path(__file__).resolve().parents[3]


def config_dir() -> Path:
    """The Hydra config root: ``$MMER_CONFIG_DIR``, else ``<repo>/experiments`` (a clone or an editable install),
    else the copy inside an installed wheel (``mmer.experiments``)."""
    if "MMER_CONFIG_DIR" in os.environ:
        path = Path(os.environ["MMER_CONFIG_DIR"])
        if not (path / "config.yaml").is_file():
            raise ConfigError(f"MMER_CONFIG_DIR={path} has no config.yaml: point it at an experiments/ folder")
        return path
    for path in (REPO_ROOT / "experiments", Path(__file__).resolve().parents[1] / "experiments"):
        if (path / "config.yaml").is_file():
            return path
    raise ConfigError(f"no experiments/config.yaml beside {REPO_ROOT} and none inside the installed mmer: "
                      f"reinstall mmer or set MMER_CONFIG_DIR to an experiments/ folder")


def available(group: str) -> list[str]:
    """Names of the configs of a group, e.g. ``available("model/fusion")``."""
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def default_experiment(dataset: str) -> str:
    from omegaconf import OmegaConf

    table = OmegaConf.to_container(OmegaConf.load(config_dir() / "datasets.yaml"))
    if dataset not in table:
        raise ConfigError(f"unknown DATASET '{dataset}': known datasets are {sorted(table)} "
                          f"(experiments/datasets.yaml maps each to its default experiment)")
    return table[dataset]


def compose(overrides: Sequence[str] = ()) -> Any:
    """Compose ``experiments/config.yaml`` with Hydra overrides; a bad override stops with Hydra's own message."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    hydra_keys = [o for o in overrides if is_hydra_setting(o)]
    if hydra_keys:  # Hydra's own settings never reach a single job: say so rather than ignore them
        raise ConfigError(f"{hydra_keys[0]}: a single `mmer cv` does not run under Hydra's job runner, so hydra "
                          f"settings have no effect; the run folder is <paths.output_root>/<name>/<config hash> (set "
                          f"paths.output_root=DIR). Launchers and hydra.sweep.* apply to multirun: `mmer cv -m ...`")
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        message = str(exc).split("\nConfig search path")[0].strip()  # the search-path dump is noise here
        raise ConfigError(f"config error: {message}") from None
    return finish(cfg)


def is_hydra_setting(override: str) -> bool:
    """``hydra.sweep.dir=...``, ``hydra/launcher=submitit_slurm``: Hydra's own settings, not mmer's."""
    return override.lstrip("+~").startswith(("hydra.", "hydra/"))


def finish(cfg: Any) -> Any:
    """A composed config made ready to run: resolved in place, an empty ``data_dir`` read as unset, and every
    modality given a backbone (what :func:`compose` and each ``mmer cv -m`` job do)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        OmegaConf.resolve(cfg)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config error: {exc}") from None
    if cfg.get("data_dir") == "":  # `export DATA_DIR=` means unset; keep the config hash the same
        cfg.data_dir = None
    unknown = [m for m in cfg.model.modalities if m not in cfg.model.backbones]
    if unknown:
        raise ConfigError(f"model.modalities names {unknown} but model.backbones only has "
                          f"{list(cfg.model.backbones)}: add a backbone for it or drop it from model.modalities")
    return cfg


def _instantiate(node: Any, what: str, **kwargs) -> Any:
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, MmerError):  # the component's own message already names the setting and fix
            raise exc.__cause__ from None
        raise ConfigError(f"cannot build {what} from its config ({node.get('_target_')}): {exc}") from None


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


def check_settings(cfg: Any) -> None:
    """Settings that would only fail inside training (after a run folder exists): refused now, each naming the
    key and the fix."""
    epochs = cfg.trainer.get("max_epochs")
    if epochs is not None and epochs != -1 and epochs < 1:
        raise ConfigError(f"trainer.max_epochs={epochs}: train at least one epoch (trainer.max_epochs>=1)")
    for key in ("lr", "weight_decay", "momentum"):
        value = cfg.model.optimizer.get(key)
        if value is not None and (value < 0 or (key == "lr" and value == 0)):
            raise ConfigError(f"model.optimizer.{key}={value}: must be {'> 0' if key == 'lr' else '>= 0'}")
    if float(cfg.model.get("mixup", 0.0)) < 0:
        raise ConfigError(f"model.mixup={cfg.model.mixup}: the Beta(alpha, alpha) parameter must be >= 0 (0: off; "
                          "0.2 to 0.4 is usual)")
    check_layout(cfg.trainer)


#: strategies the CV runner runs: each process runs the whole command (Lightning's script launcher, torchrun, srun)
RUNNABLE_STRATEGIES = ("auto", "single_device", "ddp", "ddp_find_unused_parameters_false",
                       "ddp_find_unused_parameters_true")


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
    import torch

    count = requested_devices(trainer.get("devices", 1))
    if count is None:
        count = max(1, torch.cuda.device_count()) if on_gpu(trainer) else 1
    return count * int(trainer.get("num_nodes", 1))


def on_gpu(trainer: Any) -> bool:
    """Whether ``trainer.accelerator`` puts the job on GPUs (``auto``: where one exists)."""
    import torch

    accelerator = str(trainer.get("accelerator", "auto"))
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def check_layout(trainer: Any) -> None:
    """``trainer.strategy`` / ``devices`` / ``num_nodes`` that cannot run, refused before anything is built: an
    unknown or unsupported strategy, and more devices than this machine has (GPUs, or CPU cores for CPU
    processes)."""
    import torch
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
    what = "GPUs" if gpu else "CPU cores"
    if wanted > have:
        raise ConfigError(f"trainer.devices={trainer.devices} asks for {wanted} devices but this machine has {have} "
                          f"{what}{' (accelerator=' + accelerator + ')' if accelerator != 'auto' else ''}: set "
                          f"trainer.devices<={have}")
    if wanted > 1 and strategy in ("auto", "single_device"):
        raise ConfigError(f"trainer.devices={trainer.devices} with trainer.strategy={strategy}: several devices need "
                          "DDP; use trainer=ddp trainer.devices=N")


def build_datamodule(cfg: Any) -> FoldedDataModule:
    return _instantiate(cfg.data, "data module")


def prepare_datamodule(cfg: Any, fold: int | None = None) -> FoldedDataModule:
    """The data module of ``cfg.data``, extracted (``prepare_data``: the feature cache, with a progress bar) and set
    up (index, folds, every bad-input check): what every command does before it trains or predicts. ``fold``:
    also make that fold active."""
    check_settings(cfg)
    from mmer.core.distributed import one_at_a_time

    dm = build_datamodule(cfg)
    try:
        cache = f"{type(dm).__name__}:{dm.cache.root}"
    except (AttributeError, TypeError):  # no feature cache, or no root yet (prepare_data names what is missing)
        cache = type(dm).__name__
    with one_at_a_time(cache):  # torchrun / srun ranks on one machine: one extracts, the others then read
        dm.prepare_data()
    dm.setup("fit")
    if fold is not None:
        dm.set_fold(fold)
    return dm


def build_callbacks(cfg: Any, ckpt_dir: Path) -> tuple[list[Any], Any]:
    """The fold trainer's callbacks from ``cfg.callbacks`` (null entries are off) plus
    :class:`mmer.model.callbacks.RandomStates`, and the checkpoint among them, which writes ``ckpt_dir/best.ckpt``
    (selected by ``cv.monitor`` / ``cv.mode``) and ``last.ckpt``."""
    callbacks, checkpoint = [], None
    for name, node in (cfg.get("callbacks") or {}).items():
        if node is None:
            continue
        if name == "checkpoint":
            if {"monitor", "mode", "dirpath", "filename", "save_on_train_epoch_end"} & set(node):
                raise ConfigError("callbacks.checkpoint: the CV runner sets monitor/mode (from cv.monitor, cv.mode), "
                                  "dirpath/filename (fold{k}/checkpoints/best.ckpt) and when it saves (at each "
                                  "epoch's end, for exact resumes); remove them there")
            # saved once the training epoch is complete (after its validation and epoch-end hooks): a fold resumed
            # from it starts the next epoch, instead of training the saved one again
            checkpoint = _instantiate(node, "callback callbacks.checkpoint", dirpath=str(ckpt_dir), filename="best",
                                      monitor=cfg.cv.monitor, mode=cfg.cv.mode, save_on_train_epoch_end=True)
            callbacks.append(checkpoint)
        else:
            callbacks.append(_instantiate(node, f"callback callbacks.{name}"))
    if checkpoint is None:
        raise ConfigError("callbacks.checkpoint is off, but the CV runner predicts from each fold's best.ckpt: keep "
                          "it (callbacks=default)")
    from mmer.model.callbacks import RandomStates

    return [*callbacks, RandomStates()], checkpoint  # exact resume: not a choice


def build_component(node: Any, what: str, **kwargs) -> Any:
    """Instantiate a ``_partial_`` component config and call it with the arguments only the builder knows."""
    factory = _instantiate(node, what)
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{what} ({node.get('_target_')}) does not accept its config: {exc}. Remove or rename "
                          f"that key (an experiment file may set options of another {what.split()[0]})") from None


def head_sizes(name: str, node: Any, target_spec: dict[str, list[str]] | None) -> dict[str, Any]:
    """What a head takes from its target's names in the data: ``out_dim`` when null, and ``dim_names`` (the names
    in its metric keys: ``f1_AU12`` rather than ``f1_11``) when null and the sizes agree."""
    target = node.get("target") or name
    names = list((target_spec or {}).get(target, []))
    sizes: dict[str, Any] = {}
    if node.get("out_dim") is None:
        if not names:
            raise ConfigError(f"head model.heads.{name} has out_dim=null and the data module gives no size for its "
                              f"target '{target}' (targets: {sorted(target_spec or {})}); set out_dim")
        sizes["out_dim"] = len(names)
    if node.get("dim_names") is None and names and len(names) == sizes.get("out_dim", node.get("out_dim")):
        sizes["dim_names"] = names
    return sizes


def build_module(cfg: Any, input_spec: dict[str, Any], target_spec: dict[str, list[str]] | None = None) -> Any:
    """The MultimodalModule of ``cfg.model`` for a data module's ``input_spec`` ({modality: ModalitySpec}).

    A head whose ``out_dim`` is null gets the size of its target in ``target_spec`` ({target: names}), so a
    classification head follows the data's task (BioVid 5-class or binary) without a second setting."""
    from mmer.model.module import MultimodalModule
    from mmer.runs.checkpoints import describe

    missing = [m for m in cfg.model.modalities if m not in input_spec]
    if missing:
        raise ConfigError(f"model.modalities {missing} are not provided by the data module "
                          f"(it provides {sorted(input_spec)})")
    backbones = {m: build_component(cfg.model.backbones[m], f"backbone model.backbones.{m}",
                                    in_dim=input_spec[m].dim) for m in cfg.model.modalities}
    fusion = build_component(cfg.model.fusion, "fusion model.fusion",
                             in_dims={m: b.out_dim for m, b in backbones.items()})
    heads = [build_component(node, f"head model.heads.{name}", name=name, in_dim=fusion.out_dim,
                             **head_sizes(name, node, target_spec)) for name, node in cfg.model.heads.items()]
    scheduler = _instantiate(cfg.model.scheduler, "scheduler") if cfg.model.get("scheduler") else None
    replicas = None
    if cfg.model.get("models_per_dim"):  # one independently initialised model per output dimension
        if len(heads) != 1:
            raise ConfigError(f"model.models_per_dim=true needs exactly one head, got {[h.name for h in heads]}")
        replicas = []
        for _ in range(heads[0].out_dim - 1):
            more = {m: build_component(cfg.model.backbones[m], f"backbone model.backbones.{m}",
                                       in_dim=input_spec[m].dim) for m in cfg.model.modalities}
            replicas.append((more, build_component(cfg.model.fusion, "fusion model.fusion",
                                                   in_dims={m: b.out_dim for m, b in more.items()})))
    module = MultimodalModule(backbones=backbones, fusion=fusion, heads=heads,
                              optimizer=_instantiate(cfg.model.optimizer, "optimizer"), scheduler=scheduler,
                              token_stride=cfg.model.token_stride, compile=cfg.model.compile,
                              token_upsampling=cfg.model.token_upsampling, replicas=replicas,
                              mixup=float(cfg.model.get("mixup", 0.0)))
    module.description = describe(cfg, input_spec, target_spec or {})  # written into every checkpoint
    return module
