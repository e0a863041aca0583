"""``mmer summarize RUN [RUN...] [--json FILE]``: runs that differ only in the seed, as one result.

For every headline score in the runs' ``summary.json`` (the pooled out-of-fold ``cv/oof_*`` and, with a held-out
partition, the merge's ``cv/*``): the mean over the runs, the sample standard deviation and the 95 % t interval
(:func:`mmer.evaluation.stats.seed_interval`), and each run's value with its seed. Runs whose settings differ in
anything but the seed are refused, naming the differing settings. ``--json FILE`` writes
``{"runs": [...], "scores": {"cv/oof_f1_weighted": {"mean", "std", "ci": [lo, hi], "n", "runs": [{"run", "seed",
"value"}]}, ...}}``. Train the seeds with one command: ``mmer cv -m experiment=NAME seed=0,1,2`` (one run each).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write_text
from mmer.cv.merge_run import config_differences
from mmer.evaluation.report import show
from mmer.evaluation.stats import seed_interval
from mmer.runs.folder import RunFolder, run_config, strict_json

#: summary keys that are bookkeeping or per-fold spreads, not headline scores
NOT_HEADLINE = ("cv/val_mean_", "cv/val_std_", "cv/fold_mean_")


def headline(summary: dict[str, float]) -> list[str]:
    return [k for k in summary if k.startswith("cv/") and not k.startswith(NOT_HEADLINE)]


def is_seed(setting: str, seeds: tuple[object, object]) -> bool:
    """Whether a difference line of :func:`config_differences` (``key: a vs b``) is the seed's: the root ``seed``,
    or a setting that follows it (``data.seed: ${seed}``: its two values are the two seeds)."""
    key, _, values = setting.partition(": ")
    return key == "seed" or key.endswith(".seed") and values == f"{seeds[0]} vs {seeds[1]}"


def check_seed_runs(runs: Sequence[RunFolder]) -> None:
    """Refuse a run given twice, or runs whose settings differ in anything but the seed (naming them)."""
    seen = {}
    for run in runs:
        run.require_run()
        if run.path.resolve() in seen:
            raise ConfigError(f"{run.path} is given twice")
        seen[run.path.resolve()] = run
        if not run.summary_file.is_file():
            raise ConfigError(f"{run.path}: no summary.json (the run has not finished its merge); finish it first")
    for other in runs[1:]:
        seeds = (run_config(runs[0].path).get("seed"), run_config(other.path).get("seed"))
        diffs = [d for d in config_differences(runs[0].path, other.path) if not is_seed(d, seeds)]
        if diffs:
            raise ConfigError(f"{runs[0].path} and {other.path} differ in more than the seed: {'; '.join(diffs[:5])}"
                              + (f" (and {len(diffs) - 5} more)" if len(diffs) > 5 else ""))


def summarize_runs(run_dirs: Sequence[str | Path]) -> dict:
    """{"runs": [...], "scores": {key: {"mean", "std", "ci", "n", "runs": [...]}}} (module doc)."""
    runs = [RunFolder(p) for p in run_dirs]
    check_seed_runs(runs)
    summaries = [{k: float('nan') if v is None else v for k, v in json.loads(r.summary_file.read_text()).items()
                  if not isinstance(v, dict)} for r in runs]  # the scores, without the protocol record
    seeds = [json.loads(r.provenance_file.read_text()).get("seed") if r.provenance_file.is_file() else None
             for r in runs]
    keys = [k for k in headline(summaries[0]) if all(k in s for s in summaries)]
    scores = {}
    for key in keys:
        values = [float(s[key]) for s in summaries]
        scores[key] = {**seed_interval(values), "runs": [{"run": str(r.path), "seed": seed, "value": v}
                                                         for r, seed, v in zip(runs, seeds, values)]}
    return {"runs": [str(r.path) for r in runs], "seeds": seeds, "scores": scores}


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    result = summarize_runs(args.run_dirs)
    seeds = result["seeds"]
    table = Table(title=f"{len(seeds)} runs that differ only in the seed ({', '.join(map(str, seeds))}): mean, "
                        f"sample std, 95 % t interval")
    for column in ("score", "mean", "std", "95% interval", *(f"seed {s}" for s in seeds)):
        table.add_column(column, justify="left" if column == "score" else "right")
    for key, s in result["scores"].items():
        table.add_row(key, f"{s['mean']:.4f}", f"{s['std']:.4f}", f"[{s['ci'][0]:.4f}, {s['ci'][1]:.4f}]",
                      *(f"{r['value']:.4f}" for r in s["runs"]))
    show(table)
    if args.json:
        atomic_write_text(Path(args.json), strict_json(result))
        print(f"json: {args.json}")
    return 0
