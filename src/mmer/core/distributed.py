"""Where this process stands in a multi-process (DDP) job, and the two things the CV runner needs from the others.

Every process of a DDP job runs the whole ``mmer cv`` command: Lightning's own launcher starts the other local
processes again with the same command line (``trainer=ddp trainer.devices=N``), torchrun and SLURM's ``srun`` start
them all. Every rank trains and predicts its share; **rank 0 alone writes** (locks, fold outputs, checkpoints,
merged tables, metrics.csv and W&B). Before the process group exists the rank is read from the variables those
launchers set; after, from ``torch.distributed``.

Sharding (the data modules' loaders, :meth:`mmer.data.base.FoldedDataModule._make_loader`):

- training: ``DistributedSampler`` (shuffled per epoch, padded so that every rank takes the same number of steps);
  ``data.batch_size`` is the batch of one device, the effective batch is
  ``batch_size * devices * num_nodes * accumulate_grad_batches`` (:func:`effective_batch`);
- validation: every item exactly once, items ``r, r + W, r + 2W, ...`` on rank r (no padded duplicates; the
  torchmetrics states are gathered before ``compute``, so epoch scores are those of the whole set);
- prediction: rank r takes a contiguous run of whole batches of the single-process loader
  (:class:`ContiguousBatches`), and :func:`gather_to_zero` hands rank 0 every rank's outputs in rank order, which is
  the single-process order, batch for batch: the same checkpoint predicts the same numbers on 1 or N processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch.utils.data import Sampler

from mmer.core.locks import RunLock

#: launcher variables that carry a rank: torchrun (RANK, LOCAL_RANK, GROUP_RANK), Lightning's launcher (LOCAL_RANK,
#: NODE_RANK), SLURM (SLURM_PROCID), LSF/jsrun (JSM_NAMESPACE_RANK)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def _group() -> Any:
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank_and_world() -> tuple[int, int]:
    """(global rank, world size) of the initialised process group, else (0, 1): what the loaders shard by."""
    dist = _group()
    return (dist.get_rank(), dist.get_world_size()) if dist is not None else (0, 1)


def is_zero() -> bool:
    """Whether this process is global rank 0, the only one that writes. Before the process group exists: no rank
    variable of a launcher is set to anything but 0 (a job that is not distributed is rank 0)."""
    dist = _group()
    if dist is not None:
        return dist.get_rank() == 0
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "0").strip() or "0"
        if value.isdigit() and int(value) != 0:
            return False
    return True


#: variables a launcher that starts every process at once sets to the job's process count (torchrun, srun)
WORLD_VARIABLES = ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def launched_together() -> bool:
    """Whether torchrun / srun started several processes of this job at the same time (Lightning's own launcher
    starts the others later, inside the first fit, after rank 0 has prepared the data)."""
    return any((os.environ.get(v, "1").strip() or "1") not in ("0", "1") for v in WORLD_VARIABLES)


def turn_lock(what: str) -> RunLock:
    """The node-local lock that the ranks of one machine take in turn for ``what``: a :class:`~mmer.core.locks.RunLock`
    in ``<tmp>/mmer-turns/`` named after a hash of ``what``."""
    name = hashlib.sha256(what.encode()).hexdigest()[:16]
    return RunLock(Path(tempfile.gettempdir()) / "mmer-turns", name, f"the preparation of {what}")


@contextlib.contextmanager
def one_at_a_time(what: str) -> Iterator[None]:
    """The processes of a job on one machine take turns (:func:`turn_lock` of ``what``, e.g. a feature cache's
    folder): the first extracts the cache, the others then find it built. Without a launcher that starts them
    together, or where the lock cannot be taken, nothing waits (the cache's atomic writes keep a concurrent build
    correct, only repeated)."""
    if not launched_together():
        yield
        return
    lock = turn_lock(what)
    try:
        lock.acquire(wait=True)
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def gather_to_zero(items: list[Any]) -> list[Any] | None:
    """Rank 0: every rank's ``items`` concatenated in rank order; other ranks: None. One process: ``items``."""
    dist = _group()
    if dist is None or dist.get_world_size() == 1:
        return items
    parts: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(items, parts, dst=0)
    if parts is None:
        return None
    return [x for part in parts for x in part]


def barrier() -> None:
    dist = _group()
    if dist is not None:
        dist.barrier()


class ContiguousBatches(Sampler[int]):
    """The items of rank ``rank``'s share of the whole batches of a sequential loader over ``n`` items: with
    ``m = ceil(n / batch_size)`` batches, rank r takes batches ``[r*m//W, (r+1)*m//W)``, so its loader (same batch
    size, no shuffling) yields exactly those batches of the single-process loader, and the ranks' outputs concatenated
    in rank order are the single-process outputs."""

    def __init__(self, n: int, batch_size: int, rank: int, world: int) -> None:
        batches = -(-n // batch_size)
        first, stop = rank * batches // world, (rank + 1) * batches // world
        self.indices = range(first * batch_size, min(stop * batch_size, n))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class Interleaved(Sampler[int]):
    """Items ``rank, rank + world, ...`` of ``n``: every item once over the ranks (validation during training)."""

    def __init__(self, n: int, rank: int, world: int) -> None:
        self.indices = range(rank, n, world)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def effective_batch(batch_size: int, trainer: Any) -> tuple[int, int]:
    """(per-device batch, effective batch per optimizer step) of a Lightning trainer's layout."""
    accumulate = int(getattr(trainer, "accumulate_grad_batches", 1) or 1)
    return batch_size, batch_size * int(trainer.world_size) * accumulate
