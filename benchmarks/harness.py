"""Timing and reporting shared by the workloads.

Every figure is the median over ``steps`` timed repetitions after ``warmup`` untimed ones, with the device
synchronised before every clock read. One JSON object per workload is printed on its own line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], Any], device: torch.device, warmup: int, steps: int) -> float:
    """Median wall time of one call of ``fn`` (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def peak_memory_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def bf16_peak_tflops(device: torch.device, n: int = 8192, steps: int = 20) -> float:
    """The rate of a large bf16 matrix product on this device: the harness's own 'peak'."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    seconds = median_seconds(lambda: a @ b, device, warmup=3, steps=steps)
    return 2 * n ** 3 / seconds / 1e12


def emit(workload: str, device: torch.device, metric: str, ours: float, reference: float, settings: dict,
         higher_is_better: bool = True, target: float | None = None, **extra: Any) -> dict:
    """Print and return one result: ``ratio`` = how many times better ours is (>1 = ours wins)."""
    ratio = ours / reference if higher_is_better else reference / ours
    record = {"workload": workload, "device": device_name(device), "metric": metric, "ours": round(ours, 4),
              "reference": round(reference, 4), "ratio": round(ratio, 3), **extra, "settings": settings}
    if target is not None:
        record["target_ratio"] = target
        record["target_met"] = ratio >= target
    print(json.dumps(record), flush=True)
    return record


def skipped(workload: str, device: torch.device, reason: str) -> dict:
    record = {"workload": workload, "device": device_name(device), "skipped": reason}
    print(json.dumps(record), flush=True)
    return record


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
