"""``python -m tests.fault_runner POINT N key=value ...``: ``mmer cv`` with the process SIGKILLed at the N-th time
it reaches POINT (the slow fault-injection test runs it, then reruns the plain command)."""

from __future__ import annotations

import os
import signal
import sys


def kill_at(owner, name: str, n: int) -> None:
    original = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def main(point: str, n: int, overrides: list[str]) -> int:
    import torch

    from mmer.cli import main as mmer
    from mmer.evaluation.evaluator import Evaluator
    from mmer.model.module import MultimodalModule

    where = {"mid-epoch": (MultimodalModule, "training_step"), "checkpoint-save": (torch, "save"),
             "prediction": (Evaluator, "table"), "merge": (Evaluator, "merge")}
    kill_at(*where[point], n)
    return mmer(["cv", *overrides])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
