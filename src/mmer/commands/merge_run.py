"""``mmer merge-run RUN_DIR [COPY ...] [key=value ...]``: merge a run's finished folds (and those of copies of it),
train none (:func:`mmer.cv.merge_run.merge_run`)."""

from __future__ import annotations

import argparse

from mmer.commands.options import is_override
from mmer.cv.merge_run import merge_run


def run(args: argparse.Namespace) -> int:
    copies = [d for d in args.run_dirs[1:] if not is_override(d)]
    merge_run(args.run_dirs[0], copies, [d for d in args.run_dirs[1:] if is_override(d)])
    return 0
