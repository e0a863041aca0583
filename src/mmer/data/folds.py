"""Grouped, deterministic k-fold assignment (docs/reference/definitions.md, Folds)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from mmer.core.errors import ConfigError


def grouped_kfold(groups: Iterable[str], num_folds: int, seed: int = 0,
                  official_val_groups: Iterable[str] | None = None) -> dict[str, int]:
    """Assign every group (video or subject) to one fold in ``0 .. num_folds - 1``.

    Deterministic from ``seed`` and the *sorted* unique group ids (never file-system order): the sorted ids are
    permuted by ``numpy.random.default_rng(seed)`` and dealt round-robin. With ``official_val_groups``, those
    groups form fold 0 and the others are dealt over folds 1 .. num_folds - 1; with ``num_folds=1`` that is the
    official split (the others are assigned -1: in no validation fold, so always trained on).
    """
    unique = sorted(set(groups))
    official = sorted(set(official_val_groups or ()))
    if num_folds < 1:
        raise ConfigError(f"num_folds={num_folds} must be >= 1")
    rest = [g for g in unique if g not in set(official)]
    if num_folds == 1 and official:  # an official split: validate on the official groups, train on all others
        return {**{g: 0 for g in official}, **{g: -1 for g in rest}}
    first = 1 if official else 0
    slots = num_folds - first
    if slots < 1 or len(rest) < slots:
        raise ConfigError(f"cannot make {num_folds} folds from {len(unique)} groups ({len(official)} official "
                          f"validation groups): lower cv.folds")
    order = np.random.default_rng(seed).permutation(len(rest))
    assignment = {g: 0 for g in official}
    for i, idx in enumerate(order):
        assignment[rest[idx]] = first + i % slots
    return assignment
