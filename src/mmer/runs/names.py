"""Component names across versions: what a saved config's ``_target_`` was called, and what the run hash calls it.

mmer 0.2 moved its modules into layers (``mmer.backbones`` -> ``mmer.model.backbones``, ...). Two promises follow:

- a run folder or checkpoint written before the move still loads: :func:`current_names` rewrites its saved
  ``_target_`` strings to where the classes live now;
- a run keeps its folder: the hash (:func:`mmer.runs.provenance.config_hash`) reads every ``_target_`` under the
  name it had when runs were first hashed (:func:`hashed_names`), so ``make train`` after the move finds the folds
  it computed before it.
"""

from __future__ import annotations

from typing import Any

#: (old prefix, new prefix) of every move; a later move is appended, never edited
MOVED: tuple[tuple[str, str], ...] = (
    ("mmer.backbones.", "mmer.model.backbones."),
    ("mmer.fusion.", "mmer.model.fusion."),
    ("mmer.heads.", "mmer.model.heads."),
    ("mmer.schedules.", "mmer.model.schedules."),
    ("mmer.callbacks.", "mmer.model.callbacks."),
)
#: renames that the hash already followed when they happened (data modules joined the mmer namespace)
RENAMED_ON_LOAD: tuple[tuple[str, str], ...] = (("data_modules.", "mmer.data_modules."),)


def current_name(target: str) -> str:
    """Where a saved ``_target_`` lives now."""
    for old, new in (*RENAMED_ON_LOAD, *MOVED):
        if target.startswith(old):
            target = new + target[len(old):]
    return target


def hashed_name(target: str) -> str:
    """The name a ``_target_`` is hashed under: its name before :data:`MOVED`."""
    for old, new in reversed(MOVED):
        if target.startswith(new):
            target = old + target[len(new):]
    return target


def _rename(node: Any, rename: Any) -> Any:
    if isinstance(node, dict):
        return {k: rename(v) if k == "_target_" and isinstance(v, str) else _rename(v, rename)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rename(v, rename) for v in node]
    return node


def current_names(container: Any) -> Any:
    """A plain config (dicts and lists) with every ``_target_`` at its current name."""
    return _rename(container, current_name)


def hashed_names(container: Any) -> Any:
    """A plain config with every ``_target_`` under its hashed name."""
    return _rename(container, hashed_name)
