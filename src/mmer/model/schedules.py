"""Learning-rate schedules stepped per optimizer step (``model/scheduler`` configs; torch's own schedulers there are
stepped per epoch).

A schedule built here carries ``interval = "step"``; one that takes ``total_steps`` gets the trainer's estimate of
the run's optimizer steps from :meth:`mmer.model.module.MultimodalModule.configure_optimizers`.
"""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup: float = 0.1,
                  final: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first ``warmup`` share of the steps, then cosine decay to ``final`` x the base rate:

        f(s) = (s + 1) / w                                   for s < w = max(1, round(warmup * total_steps))
        f(s) = final + (1 - final) (1 + cos(pi p)) / 2,      p = (s - w) / max(1, total_steps - w)

    applied to every parameter group's own base rate (a fine-tuned encoder at 5e-5 and a head at 5e-4 keep their
    ratio). The usual recipe for fine-tuning a pretrained transformer.
    """
    if not 0.0 <= warmup < 1.0 or total_steps < 1:
        raise ValueError(f"warmup_cosine: warmup={warmup} must be in [0, 1) and total_steps={total_steps} >= 1")
    w = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < w:
            return (step + 1) / w
        p = min(1.0, (step - w) / max(1, total_steps - w))
        return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * p))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    scheduler.interval = "step"
    return scheduler
