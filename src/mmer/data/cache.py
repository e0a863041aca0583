"""Per-video feature cache: one ``.npy`` per (video, kind), memory-mapped on read.

A file's name carries a key: sha256 of the extraction settings and of each source file's (name, size, mtime).
A changed setting or source file therefore gets a new name and is re-extracted; an unchanged one is read back and
never recomputed. Files are written to a temporary name and renamed, so a crash never leaves a half-written
file under a valid name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mmer.core.io import atomic_write

log = logging.getLogger(__name__)


def cache_key(settings: dict[str, Any], sources: Iterable[Path]) -> str:
    """sha256 (16 hex digits) of the extraction settings and of each source's name, size (a folder: its entry
    count) and modification time, not of its full path: a dataset moved, or copied with its times (``cp -a``,
    ``rsync -a``), together with its cache keeps every cached feature; a copy that resets the times re-extracts."""
    stats = []
    for p in sorted(Path(s) for s in sources):
        if p.is_dir():  # a folder of frames: its mtime changes when files are added or removed
            stats.append([p.name, len(os.listdir(p)), p.stat().st_mtime_ns])
        else:
            st = p.stat() if p.exists() else None
            stats.append([p.name, st.st_size if st else None, st.st_mtime_ns if st else None])
    blob = json.dumps({"settings": settings, "sources": stats}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir(dataset: str) -> Path:
    """Where a dataset's features go when ``data.cache_dir`` is null and the dataset must stay untouched (RAVDESS):
    ``$MMER_CACHE_DIR`` (default ``~/.cache/mmer``) ``/<dataset>``, outside the release, which may be read-only or
    shared. Copies of the dataset elsewhere share it (keys follow each file's name, size and time, not its path).
    Set ``data.cache_dir`` to move it."""
    return Path(os.environ.get("MMER_CACHE_DIR") or Path.home() / ".cache" / "mmer") / dataset


def writable(path: Path) -> bool:
    """Whether this process can create or write ``path``: the nearest existing folder on its way is writable."""
    for place in (path, *path.parents):
        if place.exists():
            return os.access(place, os.W_OK | os.X_OK)
    return False


_said: set[Path] = set()


def cache_root(cache_dir: str | Path | None, root: str | Path, dataset: str) -> Path:
    """Where a dataset read from media files keeps its features: ``cache_dir``, else ``<root>/.mmer_cache``, else
    (a copy this process cannot write to: read-only, shared) :func:`default_cache_dir`, said once per copy."""
    if cache_dir:
        return Path(cache_dir)
    inside = Path(root) / ".mmer_cache"
    if writable(inside):
        return inside
    elsewhere = default_cache_dir(dataset)
    if inside not in _said:
        _said.add(inside)
        log.info("%s is read-only here: its feature cache goes to %s instead of %s (data.cache_dir=DIR, or "
                 "MMER_CACHE_DIR, moves it)", root, elsewhere, inside)
    return elsewhere


SAFE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._ -]*")
KEYED = re.compile(r"-[0-9a-f]{16}\.npy")


def safe_relative(name: str) -> Path:
    """A recording id as a relative path that stays inside its folder: ``/``-separated parts made of letters,
    digits, ``_ . - space`` (not starting with a dot) are kept as they are (``train/dia0``); any other id (``../x``,
    an absolute path, control characters) becomes one escaped part with a hash of the id, so two ids never share
    a name."""
    parts = name.split("/")
    if all(SAFE_PART.fullmatch(p) and p not in (".", "..") for p in parts):
        return Path(*parts)
    escaped = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip("._")[:80] or "id"
    return Path(f"{escaped}-{hashlib.sha256(name.encode()).hexdigest()[:10]}")


class FeatureCache:
    """``root/<video>/<kind>-<key>.npy``, the video id made safe (:func:`safe_relative`): nothing is ever read,
    written or deleted outside ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, video: str, kind: str, key: str) -> Path:
        return self.root / safe_relative(video) / f"{kind}-{key}.npy"

    def has(self, video: str, kind: str, key: str) -> bool:
        return self.path(video, kind, key).is_file()

    def load(self, video: str, kind: str, key: str) -> np.ndarray:
        return np.load(self.path(video, kind, key), mmap_mode="r")

    def get_or_build(self, video: str, kind: str, key: str, build: Callable[[], np.ndarray]) -> np.ndarray:
        path = self.path(video, kind, key)
        if not path.is_file():
            array = np.ascontiguousarray(build())

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as fh:
                    np.save(fh, array)
                    fh.flush()
                    os.fsync(fh.fileno())

            atomic_write(path, write)
            for stale in path.parent.glob(f"{kind}-*.npy"):  # older keys of this kind are superseded
                if stale != path and KEYED.fullmatch(stale.name[len(kind):]):  # only names mmer writes
                    stale.unlink(missing_ok=True)
        return np.load(path, mmap_mode="r")
