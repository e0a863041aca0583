"""``mmer extract [key=value ...]``: build a dataset's feature cache, as training would on first use."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mmer.config.build import prepare_datamodule
from mmer.config.composer import compose


def extract(overrides: Sequence[str] = ()) -> int:
    """Run the data module's extraction (``prepare_data``) with its progress bar; returns the recording count."""
    return len(prepare_datamodule(compose(overrides)).recordings)


def run(args: argparse.Namespace) -> int:
    print(f"cache ready: {extract(args.overrides)} recordings")
    return 0
