"""``mmer compare RUN_A RUN_B [--unit recording|group] [--json FILE] [--plot FILE] [key=value ...]``: is B better
than A, on the same evaluated items, beyond chance?

Each side is a run folder, or several separated by commas (a set of seed runs: its score is the mean of theirs). For
every headline score of the sets both runs were scored on (pooled out-of-fold ``cv/oof_*``; the merged held-out
partition ``cv/*`` where there is one): A, B, the difference B - A, its 95 % paired bootstrap interval and the
two-sided p-value of a paired permutation test (:mod:`mmer.evaluation.stats`), resampling and permuting whole
units (``--unit recording``, the default: a video, clip or dialogue; ``group``: the folds' grouping, the subject /
actor / speaker), seeded by ``--seed``. Runs not scored on the same items (another dataset fingerprint, other
held-out recordings, another task) are refused in one line naming the difference. The plot (default
``compare.png`` in the current folder) shows each difference with its interval.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write_text
from mmer.cv.results import SETS, RunResults, load_results
from mmer.evaluation.report import plot_differences, show
from mmer.evaluation.stats import Difference, paired_difference
from mmer.runs.folder import strict_json


def check_same_items(runs: Sequence[RunResults]) -> None:
    """Refuse runs that were not scored on the same items, naming the first difference."""
    first = runs[0]
    for other in runs[1:]:
        a, b = first.run.path, other.run.path
        if (first.ev.task.name, first.ev.columns) != (other.ev.task.name, other.ev.columns):
            raise ConfigError(f"{a} and {b} predict different things ({first.ev.task.name} {first.ev.columns} vs "
                              f"{other.ev.task.name} {other.ev.columns}): nothing to compare")
        if first.fingerprint != other.fingerprint:
            raise ConfigError(f"{a} and {b} were scored on different data (dataset fingerprints {first.fingerprint} "
                              f"vs {other.fingerprint}: other recordings, labels or partition)")
        if first.held_out != other.held_out:
            only = sorted(set(first.held_out) ^ set(other.held_out))
            raise ConfigError(f"{a} and {b} hold out different recordings ({len(only)} differ, e.g. {only[:3]})")
        for name in set(first.sets) & set(other.sets):
            if not np.array_equal(first.sets[name].recording, other.sets[name].recording):
                raise ConfigError(f"{a} and {b} have different {name} predictions (an unfinished fold?): "
                                  f"finish both runs, or merge them (mmer merge-run)")


def compare_runs(a: Sequence[str | Path], b: Sequence[str | Path], unit: str = "recording",
                 overrides: Sequence[str] = (), n_resamples: int = 2000, n_permutations: int = 5000,
                 seed: int = 0, cache: dict | None = None) -> dict[str, Difference]:
    """{summary key: Difference} for every headline score of the sets both sides were scored on (module doc).
    ``cache``: set-up data modules shared across calls (:func:`mmer.cv.results.load_results`)."""
    cache = {} if cache is None else cache
    side_a = [load_results(p, overrides, cache) for p in a]
    side_b = [load_results(p, overrides, cache) for p in b]
    check_same_items([*side_a, *side_b])
    first = side_a[0]
    out: dict[str, Difference] = {}
    for name, prefix in SETS.items():
        if not all(name in r.sets for r in (*side_a, *side_b)):
            continue
        rows = first.sets[name]
        diffs = paired_difference(np.stack([r.sets[name].pred for r in side_a]),
                                  np.stack([r.sets[name].pred for r in side_b]), rows.target, rows.units(unit),
                                  lambda p, t: first.ev.task.scores(p, t, first.ev.columns), first.keys,
                                  n_resamples, n_permutations, seed)
        out.update({prefix + k: d for k, d in diffs.items()})
    return out


def against_full(full: Path, others: dict[str, Path], key: str, unit: str = "recording") -> dict[str, Difference]:
    """Each of ``others`` (label: run folder) against the ``full`` model's run on summary key ``key``: the paired
    difference other - full (the rows of ``mmer ablation`` and ``mmer ablate``)."""
    cache: dict = {}
    return {label: compare_runs([full], [run], unit, cache=cache)[key] for label, run in others.items()
            if Path(run) != Path(full)}


def print_differences(title: str, rows: dict[str, Difference]) -> str:
    """Print one row per label (A, B, B - A, its 95 % interval, p) with rich; returns the plain text."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("", "A", "B", "B - A", "95% interval", "p"):
        table.add_column(column, justify="right" if column else "left")
    lines = [title]
    for label, d in rows.items():
        cells = [f"{d.a:.4f}", f"{d.b:.4f}", f"{d.diff:+.4f}", f"[{d.ci[0]:+.4f}, {d.ci[1]:+.4f}]", f"{d.p:.4f}"]
        table.add_row(label, *cells)
        lines.append(f"{label}  " + "  ".join(cells))
    show(table)
    return "\n".join(lines) + "\n"


def _side(text: str) -> list[str]:
    return [p for p in text.split(",") if p]


def run(args: argparse.Namespace) -> int:
    a, b = _side(args.run_a), _side(args.run_b)
    diffs = compare_runs(a, b, args.unit, args.overrides, args.resamples, args.permutations, args.seed)
    n_units = next(iter(diffs.values())).n_units
    print_differences(f"B - A, paired over {n_units} {args.unit}s ({args.resamples} bootstrap resamples, "
                      f"{args.permutations} permutations at most, seed {args.seed})\nA: {', '.join(a)}\n"
                      f"B: {', '.join(b)}", diffs)
    plot = Path(args.plot)
    plot_differences(plot, list(diffs), [d.diff for d in diffs.values()], [d.ci for d in diffs.values()],
                     [d.p for d in diffs.values()], f"B - A over {n_units} {args.unit}s")
    print(f"plot: {plot}")
    if args.json:
        atomic_write_text(Path(args.json), strict_json({"a": a, "b": b, "scores": {k: d.as_dict(args.unit)
                                                                                    for k, d in diffs.items()}}))
        print(f"json: {args.json}")
    return 0
