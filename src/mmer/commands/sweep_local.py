"""Sweeps: the same W&B sweep YAML runs online (``wandb sweep`` + ``wandb agent``) or offline through
:func:`run_local_sweep`, which asks W&B's open-source ``sweeps`` engine for grid / random / bayes points and runs
each trial in-process with the YAML's fixed command-line overrides plus the proposed parameters."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from mmer.config.composer import compose
from mmer.core.errors import ConfigError
from mmer.cv.job import run_cv

log = logging.getLogger(__name__)


def load_sweep(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file '{path}' does not exist (see experiments/sweeps/)")
    spec = yaml.safe_load(path.read_text())
    for key in ("method", "metric", "parameters"):
        if key not in spec:
            raise ConfigError(f"sweep file '{path}' has no '{key}' section")
    return spec


def fixed_overrides(spec: dict[str, Any]) -> list[str]:
    """The key=value tokens of the sweep's ``command`` (e.g. ``experiment=jmt_synthetic``), without W&B macros."""
    return [tok for tok in spec.get("command", []) if "=" in str(tok) and "${" not in str(tok)]


def propose(spec: dict[str, Any], history: Sequence[Any]) -> Any | None:
    """Next point from the ``sweeps`` engine (None when a grid is exhausted). ``history`` holds finished SweepRuns."""
    import sweeps

    return sweeps.next_run(spec, list(history), validate=True)


def run_local_sweep(path: str | Path, count: int, extra: Sequence[str] = (),
                    objective: Callable[[list[str]], float] | None = None) -> list[tuple[dict[str, Any], float]]:
    """Run up to ``count`` trials offline. ``objective(overrides) -> metric`` defaults to a full CV job.

    Returns [(params, metric value)] in trial order.
    """
    from sweeps import RunState

    spec = load_sweep(path)
    metric = spec["metric"]["name"]
    if objective is None:
        objective = _cv_objective(metric)
    history, results = [], []
    for i in range(count):
        run = propose(spec, history)
        if run is None:
            log.info("sweep exhausted after %d trials", i)
            break
        params = {k: v["value"] for k, v in run.config.items()}
        overrides = fixed_overrides(spec) + [f"{k}={v}" for k, v in params.items()] + list(extra)
        log.info("trial %d: %s", i, " ".join(overrides))
        value = float(objective(overrides))
        run.state = RunState.finished
        run.summary_metrics = {metric: value}
        run.history = [{metric: value}]
        history.append(run)
        results.append((params, value))
    return results


def _cv_objective(metric: str) -> Callable[[list[str]], float]:
    def objective(overrides: list[str]) -> float:
        return run_cv(compose(overrides)).summary[metric]

    return objective


def run(args: argparse.Namespace) -> int:
    for params, value in run_local_sweep(args.file, args.count, args.overrides):
        print(f"{value:.4f}  {params}")
    return 0
