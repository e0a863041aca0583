"""``mmer fetch-weights torchvision:ARCH:NAME | hf:MODEL_ID``: pretrained weights into their cache (needs network)."""

from __future__ import annotations

import argparse

from mmer.core.weights import fetch


def run(args: argparse.Namespace) -> int:
    print(fetch(args.spec))
    return 0
