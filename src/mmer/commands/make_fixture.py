"""``mmer make-fixture DATASET DIR``: a tiny dataset in its owners' on-disk layout."""

from __future__ import annotations

import argparse

from mmer.core.errors import ConfigError
from mmer.data_modules.fixtures import FIXTURES


def run(args: argparse.Namespace) -> int:
    if args.dataset not in FIXTURES:
        raise ConfigError(f"no fixture for '{args.dataset}': choose one of {sorted(FIXTURES)}")
    print(FIXTURES[args.dataset](args.dir))
    return 0
