"""``mmer check [key=value ...]``: one training and one validation batch of one fold (``debug=fdr`` does the same)."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence

import lightning as L

from mmer.commands.options import print_scores
from mmer.config.build import build_module, prepare_datamodule
from mmer.config.composer import compose


def fast_dev_run(overrides: Sequence[str] = (), fold: int = 0) -> dict[str, float]:
    """One training and one validation batch of one fold, nothing written to the run folders."""
    cfg = compose(overrides)
    dm = prepare_datamodule(cfg, fold=fold)
    model = build_module(cfg, dm.input_spec(), dm.target_spec())
    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(**{**cfg.trainer, "enable_progress_bar": False}, fast_dev_run=True, logger=False,
                            default_root_dir=tmp)
        trainer.fit(model, datamodule=dm)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def run(args: argparse.Namespace) -> int:
    print_scores(fast_dev_run(args.overrides))
    return 0
