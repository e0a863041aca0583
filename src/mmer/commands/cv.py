"""``mmer cv [key=value ...]``: a CV job from explicit overrides (``-m``: one job per combination, Hydra multirun)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from omegaconf import OmegaConf

from mmer.commands.check import fast_dev_run
from mmer.commands.options import print_scores
from mmer.config.composer import compose
from mmer.core.errors import ConfigError
from mmer.cv.job import run_cv
from mmer.cv.multirun import run_multirun

FDR = "debug=fdr"  # the lightning-hydra-template alias of `mmer check`


def run_job(overrides: Sequence[str], cfg_only: str | None = None, multirun: bool = False) -> int:
    """What ``mmer cv`` and ``mmer train`` do with their overrides: one CV job, a multirun, its composed config
    (``--cfg``) or one batch of one fold (``debug=fdr``, as ``mmer check``)."""
    fdr = [o for o in overrides if o.replace(" ", "") == FDR]
    if multirun:
        if cfg_only or fdr:
            raise ConfigError(f"{'--cfg' if cfg_only else FDR} looks at one composed config: drop -m")
        return run_multirun(overrides)
    if fdr:
        print_scores(fast_dev_run([o for o in overrides if o not in fdr]))
        return 0
    cfg = compose(overrides)
    if cfg_only:  # Hydra's --cfg: show what would run, run nothing (mmer composes no hydra section)
        print(OmegaConf.to_yaml(cfg))
        return 0
    run_cv(cfg)
    return 0


def run(args: argparse.Namespace) -> int:
    return run_job(args.overrides, args.cfg, args.multirun)
