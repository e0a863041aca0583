"""6. DDP scaling: the JMT fusion training step on cached tokens in one process (reference) and in N DDP processes
(ours), each process with the same per-device batch (weak scaling, as ``trainer=ddp trainer.devices=N`` trains:
the optimizer step sees N x ``data.batch_size`` windows).

    samples/s = N x batch / step time          scaling efficiency = samples/s(N) / (N x samples/s(1))

On the CPU the processes share the machine's cores (``torch.set_num_threads(cores // N)`` each, gloo all-reduce);
one process gets every core. On GPUs: one GPU per process, NCCL; skipped where fewer than two GPUs exist. Every
process is started fresh (``torch.multiprocessing.spawn``), the reference too, so both pay the same start-up.
"""

from __future__ import annotations

import os
import socket

import torch

from benchmarks.harness import emit, log, median_seconds, skipped
from benchmarks.workloads import SIZES, _settings, cached_batch, jmt_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, size: str, device_type: str, port: int, batch: int, results) -> None:
    """One process: ``world`` processes train the same model in lock step; rank 0 reports the median step time."""
    import dataclasses

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, cores // world) if device_type == "cpu" else torch.get_num_threads())
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=world)
    try:
        device = torch.device(f"cuda:{rank}") if device_type == "cuda" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        s = dataclasses.replace(SIZES[size], batch=batch)
        torch.manual_seed(0)  # the same initial weights on every rank, as Lightning's DDP broadcasts them
        module = jmt_model(s, cached=True).to(device)
        model = DistributedDataParallel(module, device_ids=[rank] if device.type == "cuda" else None)
        data = cached_batch(s, device, seed=rank)  # each rank its own windows
        opt = torch.optim.AdamW(module.parameters(), lr=1e-4, fused=device.type == "cuda")
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

        def step() -> None:
            with autocast:
                out = model(data)
                loss = sum(h.weight * h.task.loss(out[h.name], data.targets[h.target], data.target_masks[h.target])
                           for h in module.heads)
            loss.backward()  # DDP all-reduces the gradients here
            opt.step()
            opt.zero_grad(set_to_none=True)

        seconds = median_seconds(step, device, s.warmup + 2, s.steps * 4)
        if rank == 0:
            results.put((seconds, torch.get_num_threads()))
    finally:
        dist.destroy_process_group()


def _measure(world: int, size: str, device_type: str, batch: int) -> tuple[float, int]:
    import torch.multiprocessing as mp

    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(_worker, args=(world, size, device_type, _free_port(), batch, results), nprocs=world, join=True)
    return results.get()


def ddp_scaling(size: str, device: torch.device, world: int | None = None) -> dict:
    """Samples/s of N DDP processes against one process, and the scaling efficiency."""
    if device.type == "cuda":
        have = torch.cuda.device_count()
        if have < 2:
            return skipped("ddp_scaling", device, f"needs 2 or more GPUs (this machine has {have})")
        world = world or have
    else:
        world = world or 2
    batch = {"tiny": 2, "small": 16, "full": 32}[size]
    log(f"bench: ddp_scaling, {world} processes vs 1, per-device batch {batch}")
    one_s, one_threads = _measure(1, size, device.type, batch)
    many_s, many_threads = _measure(world, size, device.type, batch)
    ours, ref = world * batch / many_s, batch / one_s
    settings = {**_settings(SIZES[size], device, "AdamW; cached 512-d tokens in; weak scaling"), "batch": batch,
                "processes": world, "threads_per_process": {"reference": one_threads, "ours": many_threads},
                "backend": "nccl" if device.type == "cuda" else "gloo",
                "ours": f"DDP, {world} processes", "reference_way": "one process"}
    return emit("ddp_scaling", device, "samples/s", ours, ref, settings,
                scaling_efficiency=round(ours / (world * ref), 3), step_ms={"reference": round(one_s * 1e3, 2),
                                                                            "ours": round(many_s * 1e3, 2)})
