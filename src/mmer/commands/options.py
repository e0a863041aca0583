"""Argument helpers shared by the command modules."""

from __future__ import annotations

import argparse

MULTIRUN_HELP = ("Hydra multirun: one CV job per combination of the comma-separated values (cv.only_folds=[0],[1]: "
                 "a job per fold); hydra/launcher=submitit_slurm runs them as SLURM jobs (pip install 'mmer[slurm]')")


def is_override(arg: str) -> bool:
    """A Hydra override: ``key=value``, ``+key=value``, ``~key``."""
    return not arg.startswith("-") and ("=" in arg or arg.startswith("~"))


def add_overrides(parser: argparse.ArgumentParser, text: str | None = None) -> None:
    """Positional Hydra overrides (``key=value ...``)."""
    parser.add_argument("overrides", nargs="*", help=text)


def add_run_overrides(parser: argparse.ArgumentParser) -> None:
    """Changes to a run folder's saved config."""
    add_overrides(parser, "changes to the run's config, e.g. data.root=/new/place")


def print_scores(metrics: dict[str, float]) -> None:
    print({k: round(v, 4) for k, v in metrics.items()})
