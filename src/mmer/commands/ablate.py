"""``mmer ablate [key=value ...]``: every non-empty subset of the experiment's modalities (EMERSK's claim: each
module works alone, and together they do better), scored on the held-out partition when the dataset has one
(``cv/*``), else pooled out of fold (``cv/oof_*``), then each subset against all the modalities on the task's
primary score: the paired difference, its 95 % interval and p-value over recordings (:mod:`mmer.commands.compare`).
Every subset is its own CV job with its own run folder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from itertools import combinations

from mmer.commands.compare import against_full, print_differences
from mmer.config.composer import compose
from mmer.cv.job import run_cv
from mmer.evaluation.report import print_table


def subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset, singletons first, each in the experiment's modality order."""
    return [c for n in range(1, len(modalities) + 1) for c in combinations(modalities, n)]


def run_subsets(overrides: Sequence[str] = ()) -> tuple[dict[tuple[str, ...], dict], str]:
    """Train and score the experiment with every subset of its ``model.modalities``; returns ({subset: summary},
    the printed table)."""

    base = compose(overrides)
    results = {subset: run_cv(compose([*overrides, f"model.modalities=[{','.join(subset)}]"]))
               for subset in subsets(list(base.model.modalities))}
    first = next(iter(results.values()))
    scope = "cv/" if first.held_out else "cv/oof_"
    keys = first.evaluator.compare_keys
    rows = [(" + ".join(s), [r.summary.get(f"{scope}{k}", float("nan")) for k in keys]) for s, r in results.items()]
    where = "held-out partition, folds merged" if scope == "cv/" else "pooled out-of-fold predictions"
    text = print_table(f"{base.name}: every subset of {list(base.model.modalities)} ({where})", rows, keys)
    full, key = results[tuple(base.model.modalities)], f"{scope}{first.evaluator.task.primary}"
    text += print_differences(f"against all of {' + '.join(base.model.modalities)} on {key} (B: each subset, A: "
                              f"all; paired over recordings)",
                              against_full(full.run_dir, {" + ".join(s): r.run_dir for s, r in results.items()}, key))
    return {s: r.summary for s, r in results.items()}, text


def run(args: argparse.Namespace) -> int:
    run_subsets(args.overrides)
    return 0
