"""Per-recording extraction shared by the datasets read from media files: load each recording once (memoised; the
arrays are memory-mapped, so holding them costs no RAM), a progress bar over what is not loaded yet, and the
bad-input policy: ``error`` stops at the first bad recording with its message; ``skip`` leaves it out, counts it
and lists it in a warning at the end (and in ``skipped``, which the CV summary reports as ``data/skipped``). A
recording whose decoded video or soundtrack falls short of what its file (or annotation) promises by more than
``media_tolerance`` is a bad recording (:mod:`mmer.data.media`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from mmer.core.errors import ConfigError, DataError
from mmer.data.cache import FeatureCache, cache_root
from mmer.data.media import MEDIA_TOLERANCE
from mmer.data.records import Item, Recording

log = logging.getLogger(__name__)
POLICIES = ("error", "skip")


class Extraction:
    def __init__(self, dataset: str, unit: str, on_bad_input: Literal["error", "skip"] = "error",
                 media_tolerance: float = MEDIA_TOLERANCE) -> None:
        if on_bad_input not in POLICIES:
            raise ConfigError(f"data.on_bad_input={on_bad_input!r}: choose one of {list(POLICIES)}")
        if not 0 <= media_tolerance < 1:
            raise ConfigError(f"data.media_tolerance={media_tolerance}: give the fraction of a file's promised length "
                              f"that may be missing, in [0, 1) (default {MEDIA_TOLERANCE})")
        self.dataset, self.unit, self.on_bad_input = dataset, unit, on_bad_input
        self.media_tolerance = media_tolerance
        self.loaded: dict[str, Item] = {}
        self.skipped: dict[str, str] = {}  # recording id -> why

    def refuse(self, rec_id: str, why: str, hint: str = "") -> None:
        """A bad recording found before extraction (at discovery): ``data.on_bad_input=error`` stops with ``why``
        (and ``hint``); ``skip`` leaves it out, recorded in :attr:`skipped` as extraction's own refusals are."""
        if self.on_bad_input == "error":
            raise DataError(why + hint)
        self.skipped[rec_id] = why

    def load(self, rec: Recording, build: Callable[[Recording], Item]) -> Item:
        if rec.id not in self.loaded:
            self.loaded[rec.id] = build(rec)
        return self.loaded[rec.id]

    def run(self, recordings: Sequence[Recording], build: Callable[[Recording], Item]) -> None:
        """Extract every recording not loaded yet (Lightning calls ``prepare_data`` once per fit: later calls are
        free)."""
        from tqdm.auto import tqdm

        todo = [r for r in recordings if r.id not in self.loaded and r.id not in self.skipped]
        for rec in tqdm(todo, desc=f"{self.dataset}: extracting", unit=self.unit, disable=not todo):
            try:
                self.load(rec, build)
            except DataError as exc:
                if self.on_bad_input == "error":
                    raise
                self.skipped[rec.id] = str(exc)
        if todo and self.skipped:
            first = next(iter(self.skipped.items()))
            log.warning("%s: skipped %d of %d %ss (data.on_bad_input=skip); first: %s: %s", self.dataset,
                        len(self.skipped), len(recordings), self.unit, *first)


class ExtractedDataset:
    """Mixin for data modules read from media files (put it before the data-module base): the feature cache under
    ``cache_dir`` or ``<root>/.mmer_cache`` (a read-only copy: ``~/.cache/mmer/<dataset>``), discovery parsed once, skipped recordings left out of the index, and
    loading / ``prepare_data`` through :class:`Extraction`. A subclass sets ``root``, ``cache_dir``,
    ``extraction`` and ``_recordings = []`` and provides ``_discover()`` and ``_load(rec)``."""

    root: str | None
    cache_dir: str | None
    extraction: Extraction
    _recordings: list[Recording]
    _reported: dict[str, int] | None = None  # the input report last logged (logged again only when it changes)

    def _discover(self) -> list[Recording]:
        raise NotImplementedError

    def _load(self, rec: Recording) -> Item:
        raise NotImplementedError

    @property
    def cache(self) -> FeatureCache:
        return FeatureCache(cache_root(self.cache_dir, self.root, self.extraction.dataset))

    def index(self) -> list[Recording]:
        """Discover and parse the release once per data module (prepare_data and setup both ask)."""
        if not self._recordings:
            self._recordings = self._discover()
        return [r for r in self._recordings if r.id not in self.skipped]

    @property
    def skipped(self) -> dict[str, str]:
        return self.extraction.skipped

    def loaded_items(self) -> list[Item]:
        return list(self.extraction.loaded.values())

    def prepare_data(self) -> None:
        """Extract every recording's cache now, with a progress bar (``data.on_bad_input`` decides about bad ones;
        ``setup`` would otherwise extract on first use), then log the input report if it has news (Lightning calls
        this once per fold)."""
        self.extraction.run(self.index(), self._load)
        report = {k: v for k, v in self.data_report().items() if v}
        if report and report != self._reported:
            self._reported = report
            log.warning("%s input report: %s", self.extraction.dataset, ", ".join(f"{v} {k}" for k, v in report.items()))

    def load(self, rec: Recording) -> Item:
        """The recording's arrays (memory-mapped), extracted on first use and memoised: called for every window, so
        the cache lookup (file listing, hashing) happens once per recording and process."""
        return self.extraction.load(rec, self._load)
