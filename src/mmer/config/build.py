"""Building objects from a composed config: the data module (prepared and checked), the fold trainer's callbacks
and the :class:`~mmer.model.module.MultimodalModule`, sized from the data (never from a second YAML). A build error
names the component and the fix. Hydra is imported inside :func:`instantiate` (absent from the GPU image)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmer.config.checks import check_settings
from mmer.core.distributed import one_at_a_time
from mmer.core.errors import ConfigError, MmerError, RandomInitWarning
from mmer.data.base import FoldedDataModule
from mmer.model.callbacks import RandomStates
from mmer.model.description import describe
from mmer.model.module import MultimodalModule


def instantiate(node: Any, what: str, **kwargs) -> Any:
    """``hydra.utils.instantiate(node, **kwargs)``; a failure is one ConfigError naming ``what``."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, MmerError):  # the component's own message already names the setting and fix
            raise exc.__cause__ from None
        raise ConfigError(f"cannot build {what} from its config ({node.get('_target_')}): {exc}") from None


def build_datamodule(cfg: Any) -> FoldedDataModule:
    return instantiate(cfg.data, "data module")


def prepare_datamodule(cfg: Any, fold: int | None = None) -> FoldedDataModule:
    """The data module of ``cfg.data``, extracted (``prepare_data``: the feature cache, with a progress bar) and set
    up (index, folds, every bad-input check): what every command does before it trains or predicts. ``fold``:
    also make that fold active."""
    check_settings(cfg)
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
            checkpoint = instantiate(node, "callback callbacks.checkpoint", dirpath=str(ckpt_dir), filename="best",
                                      monitor=cfg.cv.monitor, mode=cfg.cv.mode, save_on_train_epoch_end=True)
            callbacks.append(checkpoint)
        else:
            callbacks.append(instantiate(node, f"callback callbacks.{name}"))
    if checkpoint is None:
        raise ConfigError("callbacks.checkpoint is off, but the CV runner predicts from each fold's best.ckpt: keep "
                          "it (callbacks=default)")
    return [*callbacks, RandomStates()], checkpoint  # exact resume: not a choice


def build_component(node: Any, what: str, **kwargs) -> Any:
    """Instantiate a ``_partial_`` component config and call it with the arguments only the builder knows; a
    constructor's refusal (a ValueError naming its argument) becomes one line naming the component's key."""
    factory = instantiate(node, what)
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{what} ({node.get('_target_')}) does not accept its config: {exc}. Remove or rename "
                          f"that key (an experiment file may set options of another {what.split()[0]})") from None
    except ValueError as exc:
        if isinstance(exc, MmerError):
            raise
        raise ConfigError(f"{what.split()[-1]} ({node.get('_target_').rsplit('.', 1)[-1]}): {exc}") from None


def dry_run(cfg: Any, dm: FoldedDataModule, ckpt_dir: Path) -> None:
    """Build what every fold builds, once, before anything is written: the model (a constructor's refusal, such
    as ``d_model`` not divisible by ``heads``, comes now), the fold's callbacks, and ``cv.monitor`` checked among
    the keys the model will log (:meth:`~mmer.model.module.MultimodalModule.logged_keys`)."""
    with warnings.catch_warnings():  # what the build says about weights, the first fold's build says
        warnings.simplefilter("ignore", RandomInitWarning)
        module = build_module(cfg, dm.input_spec(), dm.target_spec())
    build_callbacks(cfg, ckpt_dir)
    keys = module.logged_keys("val")
    if cfg.cv.monitor not in keys:
        raise ConfigError(f"cv.monitor={cfg.cv.monitor}: this model logs no such key; it logs {', '.join(keys)} "
                          "(null: the tabled head's primary score)")


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
    scheduler = instantiate(cfg.model.scheduler, "scheduler") if cfg.model.get("scheduler") else None
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
                              optimizer=instantiate(cfg.model.optimizer, "optimizer"), scheduler=scheduler,
                              token_stride=cfg.model.token_stride, compile=cfg.model.compile,
                              token_upsampling=cfg.model.token_upsampling, replicas=replicas,
                              mixup=float(cfg.model.get("mixup", 0.0)))
    module.description = describe(OmegaConf.to_container(cfg, resolve=True), input_spec, target_spec or {})  # written into every checkpoint
    return module
