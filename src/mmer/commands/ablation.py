"""Ablations, each variant one config switch on the same experiment.

- :func:`run_ablation` (``mmer ablation``): JMT vs concat fusion and each modality alone, scored on the held-out
  partition after the folds' merge (``cv/*``).
- :func:`run_subsets` (``mmer ablate``): every non-empty subset of the experiment's modalities (EMERSK's claim:
  each module works alone, and together they do better), scored on the held-out partition when the dataset has one
  (``cv/*``), else pooled out of fold (``cv/oof_*``).

Every variant is its own CV job with its own run folder, so a rerun reuses the finished ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

VARIANTS: dict[str, list[str]] = {
    "JMT fusion (visual + audio)": [],
    "concat fusion (visual + audio)": ["model/fusion=concat"],
    "visual only": ["model.modalities=[visual]"],
    "audio only": ["model.modalities=[audio]"],
}


def run_ablation(overrides: Sequence[str] = (), variants: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Run each variant's CV job; returns {variant: summary}. Prints the comparison table of the held-out scores
    after the merge, in the columns the tabled head's task compares (:mod:`mmer.evaluation.tasks`)."""
    from mmer.config.compose import compose
    from mmer.cv.runner import run_cv
    from mmer.evaluation.report import print_table

    results = {name: run_cv(compose([*overrides, *extra])) for name, extra in (variants or VARIANTS).items()}
    first = next(iter(results.values())).evaluator
    keys = first.compare_keys
    rows = [(name, [r.summary[f"cv/{k}"] for k in keys]) for name, r in results.items()]
    print_table(f"Ablation: held-out scores after the {first.merge_name}", rows, keys)
    return {name: r.summary for name, r in results.items()}


def subsets(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty subset, singletons first, each in the experiment's modality order."""
    return [c for n in range(1, len(modalities) + 1) for c in combinations(modalities, n)]


def run_subsets(overrides: Sequence[str] = ()) -> tuple[dict[tuple[str, ...], dict], str]:
    """Train and score the experiment with every subset of its ``model.modalities``; returns ({subset: summary},
    the printed table)."""
    from mmer.config.compose import compose
    from mmer.cv.runner import run_cv
    from mmer.evaluation.report import print_table

    base = compose(overrides)
    results = {subset: run_cv(compose([*overrides, f"model.modalities=[{','.join(subset)}]"]))
               for subset in subsets(list(base.model.modalities))}
    first = next(iter(results.values()))
    scope = "cv/" if any(k.startswith("cv/fold_mean_") for k in first.summary) else "cv/oof_"
    keys = first.evaluator.compare_keys
    rows = [(" + ".join(s), [r.summary.get(f"{scope}{k}", float("nan")) for k in keys]) for s, r in results.items()]
    where = "held-out partition, folds merged" if scope == "cv/" else "pooled out-of-fold predictions"
    text = print_table(f"{base.name}: every subset of {list(base.model.modalities)} ({where})", rows, keys)
    return {s: r.summary for s, r in results.items()}, text
