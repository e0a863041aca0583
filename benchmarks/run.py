"""``python -m benchmarks.run [--size small|full|tiny] [--only 1,3,4] [--device cpu|cuda] [--videos DIR]``: one JSON
line per workload on stdout (progress on stderr). Default: ``full`` on a GPU, ``small`` on the CPU; all workloads
(workload 7, face crops, needs ``--videos``, a folder of real clips with faces, and says so when it is not given)."""

from __future__ import annotations

import argparse

import torch

from benchmarks.workloads import WORKLOADS, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", choices=["tiny", "small", "full"], default=None)
    parser.add_argument("--only", default=",".join(WORKLOADS), help="comma-separated workload numbers")
    parser.add_argument("--force-gpu-workloads", action="store_true", help="run workload 2 on a CPU too (smoke)")
    parser.add_argument("--videos", default=None, help="workload 7: a folder of real mp4 clips with faces")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    size = args.size or ("full" if device.type == "cuda" else "small")
    run(size, device, [k.strip() for k in args.only.split(",") if k.strip()], args.force_gpu_workloads,
        args.videos)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
