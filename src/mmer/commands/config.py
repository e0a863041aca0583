"""``mmer config [key=value ...]``: print the resolved config (no Lightning import: quick)."""

from __future__ import annotations

import argparse

from omegaconf import OmegaConf

from mmer.commands.options import add_overrides
from mmer.config import compose


def arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def run(args: argparse.Namespace) -> int:
    print(OmegaConf.to_yaml(compose(args.overrides)))
    return 0
