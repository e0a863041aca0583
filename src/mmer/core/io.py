"""Atomic file writes: a crash leaves the previous file or none, never a truncated one."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from mmer.core.errors import OutputError

#: write failures that the user fixes by freeing space or choosing another folder (the rest are bugs: raised as is)
NO_ROOM = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
           errno.EROFS: "the folder is on a read-only file system", errno.EACCES: "this process may not write there",
           errno.EPERM: "this process may not write there"}


def output_error(path: Path, exc: OSError) -> OutputError:
    """The one-line error of a failed write of ``path``: what happened, the free space there, the fix."""
    folder = path.parent if path.parent.exists() else Path(os.path.abspath(path)).anchor or "/"
    try:
        free = f"{shutil.disk_usage(folder).free / 1e9:.1f} GB free there"
    except OSError:
        free = "free space unknown"
    return OutputError(f"cannot write {path}: {NO_ROOM[exc.errno]} ({exc.strerror}; {free}). Free space or fix the "
                       f"permissions of {path.parent}, or write elsewhere (paths.output_root=DIR, --out DIR); "
                       f"nothing half-written was left there")


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    A crash mid-write leaves the previous file (or none) in place, never a truncated one; a full disk or a folder
    this process may not write ends in one :class:`~mmer.core.errors.OutputError` naming the file.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results should be as readable as any other
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:  # an OutputError (errno None) passes as it is
            raise output_error(path, exc) from None
        raise
    return path


def remove_leftover_temporaries(folder: Path, recursive: bool = True) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write` left in ``folder`` (``.<name>.<random>.tmp``; never
    anything else). Call it only on folders no other process writes now (the CV runner: folds it holds the lock of).
    Returns what was deleted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in (folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")) if p.is_file()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))
