"""``mmer train [--dataset synthetic] [--experiment NAME] [key=value ...]``: a dataset's default CV job."""

from __future__ import annotations

import argparse

from mmer.commands.cv import arguments as cv_arguments
from mmer.commands.cv import run_job
from mmer.config import default_experiment


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--experiment", default=None, help="another experiment than the dataset's default")
    cv_arguments(p)


def run(args: argparse.Namespace) -> int:
    experiment = args.experiment or default_experiment(args.dataset)
    return run_job([f"experiment={experiment}", *args.overrides], args.cfg, args.multirun)
