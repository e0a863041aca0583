"""Prediction tables: stitching predict() outputs, CSV files, and merging tables and files across folds.

A prediction table maps video id -> (num_frames, D) array; on disk it is a CSV with columns
``video,frame,<dim_1>,...,<dim_D>`` (frame is 0-based), written atomically.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmer.core.errors import DataError
from mmer.core.io import atomic_write
from mmer.data.windows import stitch_windows
from mmer.evaluation.merge import ccc_centering

Table = dict[str, np.ndarray]
log = logging.getLogger(__name__)


def stitch_predict_outputs(outputs: Sequence[dict], head: str, lengths: dict[str, int]) -> Table:
    """Stitch ``predict_step`` outputs (windows of (window, D) with ``meta['recording']`` and ``meta['start']``) into
    one (num_frames, D) array per video (uniform mean over covering windows)."""
    windows: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for out in outputs:
        preds = np.asarray(out["outputs"][head])
        for video, start, pred in zip(out["meta"]["recording"], out["meta"]["start"].tolist(), preds):
            windows[video].append((start, pred))
    table = {}
    for video, items in windows.items():
        starts = [s for s, _ in items]
        table[video] = stitch_windows(np.stack([p for _, p in items]), starts, lengths[video])
    return table


def write_table(path: str | Path, table: Table, dim_names: Sequence[str]) -> Path:
    frames = [pd.DataFrame({"video": v, "frame": np.arange(len(a)), **{d: a[:, i] for i, d in enumerate(dim_names)}})
              for v, a in sorted(table.items())]
    df = pd.concat(frames, ignore_index=True)
    return atomic_write(path, lambda p: df.to_csv(p, index=False, float_format="%.6f"))


def read_table(path: str | Path, dim_names: Sequence[str] | None = None) -> tuple[Table, list[str]]:
    """Read a prediction CSV; returns the table and its dimension names (all columns after video, frame)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"prediction file '{path}' does not exist")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"prediction file '{path}' is not a readable CSV ({type(exc).__name__}: "
                        f"{str(exc).strip() or 'empty'})") from None
    missing = {"video", "frame"} - set(df.columns)
    if missing:
        raise DataError(f"prediction file '{path}' lacks column(s) {sorted(missing)}: expected video,frame,<dims>")
    dims = list(dim_names) if dim_names else [c for c in df.columns if c not in ("video", "frame")]
    table = {}
    for video, g in df.groupby("video", sort=True):
        g = g.sort_values("frame")
        if not np.array_equal(g["frame"].to_numpy(), np.arange(len(g))):
            raise DataError(f"prediction file '{path}': video '{video}' does not have one row per frame 0..N-1")
        table[str(video)] = g[dims].to_numpy(np.float64)
    return table, dims


def merge_tables(tables: Sequence[Table]) -> Table:
    """CCC-centering merge of several folds' tables of the same videos: video -> (num_frames, D)."""
    videos = sorted(tables[0])
    for i, t in enumerate(tables[1:], 1):
        if sorted(t) != videos:
            raise DataError(f"fold table {i} has videos {sorted(set(t) ^ set(videos))[:5]} that fold table 0 "
                            f"does not share: merge needs the same videos in every fold")
    merged, clamped = {}, {}
    for v in videos:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            merged[v] = ccc_centering(np.stack([t[v] for t in tables]))
        notes = [w for w in caught if "ccc_centering" in str(w.message)]
        if notes:
            clamped[v] = notes[0].message
    if clamped:
        log.warning("ccc_centering: fold agreements clamped at 0 (non-positive or non-finite) for %d of %d videos; "
                    "a dimension with none left uses the plain mean of fold means. First: %s: %s", len(clamped),
                    len(videos), *next(iter(clamped.items())))
    return merged


def mean_tables(tables: Sequence[Table]) -> Table:
    """Row-wise mean of several folds' tables of the same recordings (soft voting of class probabilities, or the
    mean of predicted values)."""
    return {r: np.mean([t[r] for t in tables], axis=0) for r in sorted(tables[0])}


def merge_files(paths: Sequence[str | Path], out_path: str | Path) -> Path:
    """``mmer merge``: CCC-centering merge of per-fold prediction CSVs into one CSV."""
    if len(paths) < 1:
        raise DataError("mmer merge needs at least one per-fold prediction CSV")
    tables, dims = [], None
    for path in paths:
        table, file_dims = read_table(path, dims)
        dims = dims or file_dims
        tables.append(table)
    return write_table(out_path, merge_tables(tables), dims)
