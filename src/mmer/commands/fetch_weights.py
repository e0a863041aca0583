"""``mmer fetch-weights torchvision:ARCH:NAME | hf:MODEL_ID``: pretrained weights into their cache (needs network)."""

from __future__ import annotations

import argparse

from mmer.core.weights import fetch


def arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="torchvision:<arch>:<WEIGHTS> (torchvision:resnet18:DEFAULT) or hf:<model id>")


def run(args: argparse.Namespace) -> int:
    print(fetch(args.spec))
    return 0
