"""A named exclusive OS lock (``fcntl.flock``) in a folder, which the kernel releases when its process ends, however
it ends (a SIGKILL leaves no stale lock to clean up). The run folder (:class:`mmer.runs.folder.RunFolder`) holds one
per fold and one for its merge; :mod:`mmer.core.distributed` one per shared cache.

A CV job takes the locks of every fold it will compute before it writes anything; a second job on the same run
and fold stops at once, naming the process that holds it (or waits, with ``cv.wait_for_lock=true``). Jobs on
different folds of one run (``cv.only_folds``) run side by side; the run's merge lock (``RunFolder.merge_lock``) makes
their merges take turns, so the last job to finish merges every fold that is done.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO

from mmer.core.errors import MmerError

log = logging.getLogger(__name__)


class RunBusyError(MmerError):
    """Another process is writing this fold of this run."""


class RunLock:
    """A named lock of a run folder: ``<run_dir>/locks/<name>.lock`` holds the owner's pid, host and start."""

    def __init__(self, run_dir: Path, name: str, what: str) -> None:
        self.path = Path(run_dir) / "locks" / f"{name}.lock"
        self.what = what  # for messages: "fold 1 of <run_dir>"
        self.handle: IO[str] | None = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        if not info:
            return "another process"
        return f"process {info.get('pid')} on {info.get('host')} (since {info.get('since')})"

    def acquire(self, wait: bool = False) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115  (held until release, by design)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                handle.close()
                raise RunBusyError(f"{self.what} is being written by {self.holder()}: wait for it to finish, or "
                                   "rerun with cv.wait_for_lock=true to wait") from None
            log.warning("%s is being written by %s; waiting", self.what, self.holder())
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
