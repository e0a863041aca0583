"""``mmer train [--dataset synthetic] [--experiment NAME] [key=value ...]``: a dataset's default CV job."""

from __future__ import annotations

import argparse

from mmer.commands.cv import run_job
from mmer.config import default_experiment


def run(args: argparse.Namespace) -> int:
    experiment = args.experiment or default_experiment(args.dataset)
    return run_job([f"experiment={experiment}", *args.overrides], args.cfg, args.multirun)
