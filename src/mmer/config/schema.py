"""Every setting of a composed config checked against its declared type and range, before anything is built.

Where a setting's type is declared:

- a component (a node with ``_target_``: the data module, backbones, fusion, heads, optimizer, scheduler,
  callbacks, logger): its constructor's signature, following ``**kwargs`` into the base classes' constructors
  (a data module's ``batch_size`` is :class:`~mmer.data.base.FoldedDataModule`'s);
- ``trainer``: ``lightning.Trainer``'s signature (``trainer.precision`` is one of Lightning's precision values);
- the sections of mmer's own (the root, ``cv``, ``model``, ``pretrain``, ``paths``): the dataclasses below.

Numbers also get the range of their argument's name (:data:`mmer.core.settings.RANGES`). The first setting that does
not fit ends the command in one line (exit code 2): ``trainer.max_epochs=-1: expected an integer >= 1``.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

import torch

from mmer.core.errors import ConfigError
from mmer.core.settings import POSITIVE, Count, NonNegative, PositiveInt, check_value

#: keys of a component node that are Hydra's, not the constructor's
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_args_", "_recursive_", "_convert_"})
#: arguments that may be null in a config because the builder fills them from the data (mmer.config.build.head_sizes)
FROM_DATA = {"mmer.model.heads.Head": frozenset({"out_dim", "dim_names"})}


@dataclass
class RootSettings:
    name: str
    seed: int
    data_dir: str | None
    ckpt_path: str | None


@dataclass
class CVSettings:
    folds: PositiveInt | Literal["loso"]  # 1: the official split alone (MELD)
    only_folds: Sequence[Count] | None
    head: str | None
    monitor: str | None
    mode: Literal["min", "max"]
    plot_videos: Count
    keep_checkpoints: Literal["weights", "all"]
    wait_for_lock: bool
    clip_folds: bool
    smooth: Mapping[str, Annotated[int, POSITIVE]]


@dataclass
class ModelSettings:
    modalities: Sequence[str]
    token_stride: PositiveInt
    token_upsampling: Literal["repeat", "interpolate"]
    models_per_dim: bool
    compile: bool
    mixup: NonNegative


@dataclass
class PretrainSettings:
    modality: str | None
    target: str
    epochs: PositiveInt
    dim: PositiveInt
    lr: float
    base_margin: NonNegative
    scale: NonNegative


@dataclass
class PathsSettings:
    output_root: str


#: section -> the class whose fields (or constructor) declare its settings ("" is the root)
SECTIONS: dict[str, Any] = {"": RootSettings, "cv": CVSettings, "model": ModelSettings, "pretrain": PretrainSettings,
                            "paths": PathsSettings, "trainer": "lightning.Trainer"}


def check_schema(cfg: Any) -> None:
    """Raise :class:`ConfigError` at the first setting of ``cfg`` (a resolved config) that does not fit its
    declaration; settings without one (a key a component takes as ``**kwargs``) are left to the dry build."""
    for key, value, hint, name in declared(cfg):
        problem = check_value(key, value, hint, name)
        if problem:
            raise ConfigError(problem)


def declared(cfg: Any) -> Iterator[tuple[str, Any, Any, str]]:
    """(key, value, type hint, argument name) of every declared setting of ``cfg``."""
    for section, owner in SECTIONS.items():
        node = cfg.get(section) if section else cfg
        if node is None:
            continue
        hints = parameters(owner)
        for name, hint in hints.items():
            if name in node and not is_component(node[name]):
                yield f"{section}.{name}" if section else name, plain(node[name]), hint, name
    yield from components(cfg, "")


def components(node: Any, path: str) -> Iterator[tuple[str, Any, Any, str]]:
    """The declared settings of every component node under ``node``."""
    if not isinstance(node, Mapping):
        return
    if is_component(node):
        target = node["_target_"]
        try:
            hints, open_ended = signature_of(target)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(f"{path}._target_={target}: no such component ({exc}); check the spelling, or the "
                              "config group that set it") from None
        for name in node:
            if name in HYDRA_KEYS:
                continue
            key = f"{path}.{name}"
            if name in hints:
                if not is_component(node[name]) and not (node[name] is None and name in FROM_DATA.get(target, ())):
                    yield key, plain(node[name]), hints[name], name
            elif not open_ended:
                raise ConfigError(f"{key}: {target.rsplit('.', 1)[-1]} has no setting '{name}' (it takes "
                                  f"{', '.join(sorted(hints))}); remove or rename it (an experiment file may set "
                                  "an option of another component of that group)")
    for name, child in node.items():
        if isinstance(child, Mapping) and name not in HYDRA_KEYS:
            yield from components(child, f"{path}.{name}" if path else str(name))


def is_component(node: Any) -> bool:
    return isinstance(node, Mapping) and "_target_" in node


def plain(value: Any) -> Any:
    """OmegaConf containers as Python lists and dicts."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    return OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value


def parameters(owner: Any) -> dict[str, Any]:
    """{name: hint} of a section's dataclass, or of a constructor named by its dotted path."""
    if isinstance(owner, str):
        return signature_of(owner)[0]
    return typing.get_type_hints(owner, include_extras=True)


@cache
def signature_of(target: str) -> tuple[dict[str, Any], bool]:
    """({argument: type hint}, whether it takes other keyword arguments too) of the class or function ``target``
    names; a class's ``**kwargs`` are followed into its bases' constructors. An argument whose hint cannot be read
    (a forward reference of another package) gets ``Any``."""
    obj = locate(target)
    functions = ([c.__dict__["__init__"] for c in inspect.getmro(obj) if "__init__" in c.__dict__]
                 if inspect.isclass(obj) else [obj])
    hints: dict[str, Any] = {}
    for function in functions:
        if function in CLOSED:  # the chain of **kwargs ends here: an unknown key would be refused
            return hints, False
        try:
            params = inspect.signature(function).parameters
            known = typing.get_type_hints(function, include_extras=True)
        except Exception:  # noqa: BLE001 - an unreadable signature of another package: its types are not checked
            return hints, True
        for name, p in params.items():
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                hints.setdefault(name, known.get(name, Any))
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return hints, False
    return hints, True


#: constructors that take ``**kwargs`` only to refuse them
CLOSED = (object.__init__, torch.nn.Module.__init__)


def locate(target: str) -> Any:
    """The object a dotted ``_target_`` names (``torch.optim.AdamW``)."""
    module, _, attribute = target.rpartition(".")
    return getattr(importlib.import_module(module), attribute)
