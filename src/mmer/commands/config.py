"""``mmer config [key=value ...]``: print the resolved config (no Lightning import: quick)."""

from __future__ import annotations

import argparse

from omegaconf import OmegaConf

from mmer.config.composer import compose


def run(args: argparse.Namespace) -> int:
    print(OmegaConf.to_yaml(compose(args.overrides)))
    return 0
