"""Ablations, each variant one config switch on the same experiment.

- :func:`run_ablation` (``mmer ablation``): the full model vs concat fusion and each modality alone, scored on the
  held-out partition after the folds' merge (``cv/*``) or pooled out of fold, each row against the full model with
  a paired interval and p-value.
- ``mmer ablate`` (:mod:`mmer.commands.ablate`): every non-empty subset of the experiment's modalities.

Every variant is its own CV job with its own run folder, so a rerun reuses the finished ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mmer.commands.compare import against_full, print_differences
from mmer.config.composer import compose
from mmer.cv.job import run_cv
from mmer.evaluation.report import print_table


def variants_of(modalities: Sequence[str]) -> dict[str, list[str]]:
    """The full model (the experiment as it is), concat fusion over the same modalities, and each modality alone."""
    every = " + ".join(modalities)
    return {f"full model ({every})": [], f"concat fusion ({every})": ["model/fusion=concat"],
            **{f"{m} only": [f"model.modalities=[{m}]"] for m in modalities}}


def run_ablation(overrides: Sequence[str] = (), variants: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Run each variant's CV job (default :func:`variants_of` the experiment's modalities; the first is the full
    model); returns {variant: summary}. Prints the comparison table in the columns the tabled head's task compares
    (:mod:`mmer.evaluation.tasks`), on the held-out partition after the merge when there is one, else pooled out of
    fold, then each variant against the first on the task's primary score: the paired difference, its 95 %
    bootstrap interval and permutation p-value over recordings (:mod:`mmer.commands.compare`)."""

    if variants is None:
        variants = variants_of(list(compose(overrides).model.modalities))
    results = {name: run_cv(compose([*overrides, *extra])) for name, extra in variants.items()}
    first = next(iter(results.values()))
    scope = "cv/" if first.held_out else "cv/oof_"
    keys = first.evaluator.compare_keys
    rows = [(name, [r.summary.get(f"{scope}{k}", float("nan")) for k in keys]) for name, r in results.items()]
    where = f"held-out scores after the {first.evaluator.merge_name}" if scope == "cv/" else "pooled out-of-fold"
    print_table(f"Ablation: {where}", rows, keys)
    key = f"{scope}{first.evaluator.task.primary}"
    name = next(iter(results))
    print_differences(f"against the {name} on {key} (B: each variant, A: the full model; paired over recordings)",
                      against_full(first.run_dir, {n: r.run_dir for n, r in results.items()}, key))
    return {name: r.summary for name, r in results.items()}


def run(args: argparse.Namespace) -> int:
    run_ablation(args.overrides)
    return 0
