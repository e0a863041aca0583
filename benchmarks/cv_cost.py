"""``python -m benchmarks.cv_cost``: what a full Aff-Wild2 CV costs on 1, 4 and 8 GPUs, on paper, from per-step
rates (``--*-ms``) and the cache build's decode rate. Prints one table; every input is an option with its source.

Per fold k of ``folds``: training on (folds-1)/folds of the frames, ``epochs`` epochs of
``ceil(frames_train / hop / (batch x N))`` steps on N GPUs; validation once per epoch on 1/folds of the frames
(a forward pass: about a third of a training step). Layouts:

- DDP: one job, N processes, every step N x batch windows, at scaling efficiency ``--efficiency``;
- fold jobs (``mmer cv -m cv.only_folds=[0],...,[5]``, one GPU each): ceil(folds / N) rounds of one fold's time;
- the feature cache is built once before (``make extract``), CPU-bound: the face JPEGs decoded at
  ``--decode-fps-per-core`` on ``--cores`` cores, plus the frozen trunks' forward pass once per token.
"""

from __future__ import annotations

import argparse
import math


def fold_seconds(frames: float, folds: int, hop: int, batch: int, gpus: int, epochs: int, step_s: float,
                 val_step_s: float) -> float:
    train_steps = math.ceil(frames * (folds - 1) / folds / hop / (batch * gpus))
    val_steps = math.ceil(frames / folds / hop / (batch * gpus))
    return epochs * (train_steps * step_s + val_steps * val_step_s)


def table(a: argparse.Namespace) -> list[tuple[str, list[float]]]:
    tokens = a.frames / a.frames_per_token
    trunk_s = (a.frozen_step_ms - a.fusion_step_ms) / 1e3 / (a.batch * a.tokens_per_window)  # per token, forward
    cache_s = a.frames / (a.decode_fps_per_core * a.cores) + tokens * trunk_s
    rows = []
    for name, step_ms, cached in (("frozen backbones recomputed every step (reference way)", a.frozen_step_ms, False),
                                  ("feature cache, the reference's fusion step", a.fusion_step_ms, True),
                                  (f"feature cache, fusion step at the {a.goal:g}x goal", a.fusion_step_ms / a.goal,
                                   True),
                                  ("end-to-end fine-tuning (no cache)", a.end_to_end_step_ms, False)):
        step = step_ms / 1e3
        val = step / 3 if cached or "end-to-end" in name else (a.frozen_step_ms - a.fusion_step_ms * 2 / 3) / 1e3
        once = cache_s if cached else 0.0
        for layout in ("DDP", "fold jobs"):
            costs = []
            for n in a.gpus:
                if layout == "DDP":
                    t = a.folds * fold_seconds(a.frames, a.folds, a.hop, a.batch, n, a.epochs, step, val)
                    t = t / (a.efficiency if n > 1 else 1.0)
                else:
                    t = math.ceil(a.folds / n) * fold_seconds(a.frames, a.folds, a.hop, a.batch, 1, a.epochs, step,
                                                              val)
                costs.append(once + t)
            rows.append((f"{name}, {layout}", costs))
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cv_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=float, default=2.6e6, help="annotated Aff-Wild2 frames (issue 16)")
    p.add_argument("--folds", type=int, default=6)
    p.add_argument("--epochs", type=int, default=20, help="experiments/trainer/default.yaml max_epochs")
    p.add_argument("--hop", type=int, default=256, help="jmt_affwild2 data.hop (window 512)")
    p.add_argument("--batch", type=int, default=32, help="jmt_affwild2 data.batch_size, per device")
    p.add_argument("--tokens-per-window", type=int, default=16, help="jmt_affwild2: 512 frames / token_stride 32")
    p.add_argument("--frames-per-token", type=int, default=32)
    p.add_argument("--frozen-step-ms", type=float, default=209.0, help="JMT peer code, H100, batch 32 (issue 18)")
    p.add_argument("--fusion-step-ms", type=float, default=23.0, help="JMT peer code, H100, batch 32 (issue 18)")
    p.add_argument("--end-to-end-step-ms", type=float, default=834.0, help="JMT peer code, H100, batch 32 (issue 18)")
    p.add_argument("--goal", type=float, default=5.0, help="issue 18's fusion-step goal over the reference")
    p.add_argument("--decode-fps-per-core", type=float, default=1800.0,
                   help="JPEG path of `make bench` workload 4: 3.2-4.0k frames/s on 2 cores here")
    p.add_argument("--cores", type=int, default=16, help="CPU cores of the GPU host")
    p.add_argument("--efficiency", type=float, default=0.9, help="DDP scaling efficiency on GPUs (assumed)")
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 8])
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    rows = table(a)
    width = max(len(r[0]) for r in rows)
    print(f"{'full Aff-Wild2 CV, wall minutes':<{width}}  " + "  ".join(f"{n:>3} GPU{'s' if n > 1 else ' '}"
                                                                      for n in a.gpus))
    for name, costs in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{c / 60:8.1f}" for c in costs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
