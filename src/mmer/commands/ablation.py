"""Ablations, each variant one config switch on the same experiment.

- :func:`run_ablation` (``mmer ablation``): JMT vs concat fusion and each modality alone, scored on the held-out
  partition after the folds' merge (``cv/*``).
- ``mmer ablate`` (:mod:`mmer.commands.ablate`): every non-empty subset of the experiment's modalities.

Every variant is its own CV job with its own run folder, so a rerun reuses the finished ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mmer.config.composer import compose
from mmer.cv.job import run_cv
from mmer.evaluation.report import print_table

VARIANTS: dict[str, list[str]] = {
    "JMT fusion (visual + audio)": [],
    "concat fusion (visual + audio)": ["model/fusion=concat"],
    "visual only": ["model.modalities=[visual]"],
    "audio only": ["model.modalities=[audio]"],
}


def run_ablation(overrides: Sequence[str] = (), variants: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Run each variant's CV job; returns {variant: summary}. Prints the comparison table of the held-out scores
    after the merge, in the columns the tabled head's task compares (:mod:`mmer.evaluation.tasks`)."""

    results = {name: run_cv(compose([*overrides, *extra])) for name, extra in (variants or VARIANTS).items()}
    first = next(iter(results.values())).evaluator
    keys = first.compare_keys
    rows = [(name, [r.summary[f"cv/{k}"] for k in keys]) for name, r in results.items()]
    print_table(f"Ablation: held-out scores after the {first.merge_name}", rows, keys)
    return {name: r.summary for name, r in results.items()}


def run(args: argparse.Namespace) -> int:
    run_ablation(args.overrides)
    return 0
