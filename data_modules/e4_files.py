"""Reading an Empatica E4 wristband's own CSV export (the format Stress-Predict, WESAD's wrist data and other wearable
sets share; docs/datasets/stress_predict.md)::

    <session>/EDA.csv    row 1: session start (UNIX seconds, UTC); row 2: sample rate (Hz); then one sample per row
    <session>/BVP.csv    64 Hz     <session>/TEMP.csv  4 Hz     <session>/HR.csv  1 Hz (starts 10 s later)
    <session>/ACC.csv    32 Hz, three columns (x, y, z in 1/64 g), the two header rows repeated per column
    <session>/IBI.csv    row 1: start, "IBI"; then (seconds since start, inter-beat interval in seconds): irregular
    <session>/tags_*.csv one event-button time (UNIX seconds) per row

Each signal keeps its own rate and time axis: sample i of a signal is at ``start + i / rate``. Every error names the
file (and row) and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mmer.core.errors import DataError
from mmer.data.readers import read_csv, read_text


class SignalFile(NamedTuple):
    """Where the E4 writes one sampled signal, its channels and its sample rate (Hz)."""

    file: str
    channels: int
    rate: float


#: signal name -> its file, channels and rate, as the E4 writes them
SIGNALS = {"eda": SignalFile("EDA.csv", 1, 4.0), "bvp": SignalFile("BVP.csv", 1, 64.0),
           "temp": SignalFile("TEMP.csv", 1, 4.0), "acc": SignalFile("ACC.csv", 3, 32.0),
           "hr": SignalFile("HR.csv", 1, 1.0)}


@dataclass(frozen=True)
class Signal:
    """One sampled signal: ``values`` (N, C) float32 at ``rate`` Hz from ``start`` (UNIX seconds); ``path`` its file."""

    path: Path
    start: float
    rate: float
    values: np.ndarray

    @property
    def end(self) -> float:
        return self.start + len(self.values) / self.rate

    def span(self, t0: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """The samples of [t0, t0 + seconds) by time stamp -> (values (round(seconds * rate), C), mask): steps the
        recording does not cover (before its start, after its end) are zeros with mask False."""
        n = int(round(seconds * self.rate))
        first = int(round((t0 - self.start) * self.rate))
        out, mask = np.zeros((n, self.values.shape[1]), np.float32), np.zeros(n, bool)
        lo, hi = max(first, 0), min(first + n, len(self.values))
        if hi > lo:
            out[lo - first:hi - first], mask[lo - first:hi - first] = self.values[lo:hi], True
        return out, mask


def read_signal(path: Path, channels: int) -> Signal:
    """An E4 sampled CSV -> :class:`Signal`. Refused, naming the file and row: a missing file, a header that is not
    a start time and a positive rate, a row that is not ``channels`` numbers, no samples. Empty cells and NaN are
    refused too (the E4 writes neither; a gap in a recording is a new session)."""
    if not path.is_file():
        raise DataError(f"{path}: the E4 signal file is missing; restore it, or leave its signal out of "
                        "data.signals")
    lines = read_text(path, "E4 signal file").splitlines()
    if len(lines) < 3:
        raise DataError(f"{path}: {len(lines)} rows; an E4 signal file has the start time, the sample rate, then "
                        "one row per sample (the file is cut short)")
    try:
        start = float(lines[0].split(",")[0])
        rate = float(lines[1].split(",")[0])
    except ValueError:
        raise DataError(f"{path}: the first two rows must be the session start (UNIX seconds) and the sample rate "
                        f"(Hz), found {lines[0]!r} and {lines[1]!r}") from None
    if not (rate > 0 and np.isfinite(rate) and 1e9 < start < 1e10):
        raise DataError(f"{path}: start {lines[0]!r} is not a UNIX time in seconds or rate {lines[1]!r} is not a "
                        "positive number of Hz")
    try:
        values = np.array([[float(v) for v in line.split(",")] for line in lines[2:] if line.strip()], np.float32)
    except ValueError:
        row = next(i for i, line in enumerate(lines[2:], start=3) if not _numbers(line))
        raise DataError(f"{path} row {row}: {lines[row - 1]!r} is not {channels} number(s)") from None
    if values.ndim != 2 or values.shape[1] != channels:
        raise DataError(f"{path}: rows of {values.shape[-1] if values.ndim == 2 else '?'} values; this signal has "
                        f"{channels} per row")
    bad = ~np.isfinite(values).all(1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 3
        raise DataError(f"{path} row {row}: a NaN or infinite sample ({int(bad.sum())} such rows); re-export the "
                        "session")
    return Signal(path, start, rate, values)


def _numbers(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
    except ValueError:
        return False
    return True


def read_labels(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """A per-second label table (Stress-Predict's ``Participant, ..., Time(sec), Label``: one row per participant
    and second, the time in UNIX seconds) -> {participant: (times (N,) int64 increasing, labels (N,) int64)}.
    Refused, naming the file and row: missing columns, non-integer participants or labels, times that go back."""
    df = read_csv(path, "label table")
    df.columns = [str(c).strip() for c in df.columns]
    needed = ["Participant", "Time(sec)", "Label"]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; found {list(df.columns)} (a per-second table needs "
                        "Participant, Time(sec) and Label)")
    out = {}
    for participant, rows in df.groupby("Participant", sort=True):
        times, labels = rows["Time(sec)"].to_numpy(np.float64), rows["Label"].to_numpy(np.float64)
        bad = ~np.isfinite(times) | ~np.isin(labels, (0, 1))
        if bad.any():
            i = int(rows.index[np.flatnonzero(bad)[0]])
            raise DataError(f"{path} row {i + 2}: time {df['Time(sec)'][i]!r} / label {df['Label'][i]!r}: a time in "
                            "UNIX seconds and a label of 0 or 1 are needed")
        back = np.flatnonzero(np.diff(times) <= 0)
        if len(back):
            i = int(rows.index[back[0] + 1])
            raise DataError(f"{path} row {i + 2}: participant {participant}'s time {times[back[0] + 1]:.0f} does not "
                            "follow the row before it; sort the table by participant and time")
        out[int(participant)] = (times.astype(np.int64), labels.astype(np.int64))
    return out
