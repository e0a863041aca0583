"""EMER files: the label sheet, the fold list, Tobii eye-movement tables and their resampling.

The real column names of the EMER release are not in our sources, so every name is a setting with the default we
expect (``experiments/data/emer.yaml``); a file without a needed column stops with the columns it does have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.paths import plain_name
from mmer.data.readers import read_csv, read_sheet, read_text

CLASS_VIEWS = ("er", "er3", "fer", "fer3")  # views holding class names
VALUE_VIEWS = ("valence", "arousal", "intensity")
VALUE_RANGES = {"valence": (-1.0, 1.0), "arousal": (-1.0, 1.0), "intensity": (0.0, 3.0)}  # the release's scales
EYE_FEATURES = ("gaze_x", "gaze_y", "pupil_left", "pupil_right", "fixation", "saccade", "speed", "valid")


@dataclass
class EmerSample:
    name: str
    subject: str
    classes: dict[str, int] = field(default_factory=dict)  # view -> class index (absent: unlabelled)
    values: dict[str, float] = field(default_factory=dict)  # valence / arousal / intensity


def read_labels(path: Path, columns: dict[str, str], classes: dict[str, list[str]],
                integer_labels: str | None) -> tuple[list[EmerSample], dict[str, str], dict[str, str]]:
    """``EMER_label.xlsx`` (or .csv) -> (samples, {view: column} of the views the sheet has, {sample: problem}).

    ``columns`` maps our names (sample, subject, er, er3, fer, fer3, valence, arousal, intensity) to the sheet's.
    Class cells are class names (any case) unless ``integer_labels`` is ``zero_based`` / ``one_based``: then numbers
    index the class list. A problem (unknown class name, a number without ``integer_labels``, a non-numeric value,
    a value outside :data:`VALUE_RANGES`) is returned per sample as a message naming the file and row; the caller
    decides to stop or skip.
    """

    if not path.is_file():
        raise DataError(f"{path}: label sheet not found; EMER needs EMER_label.xlsx (data.label_file)")
    df = read_sheet(path, "label sheet")
    df.columns = [str(c).strip() for c in df.columns]
    for key in ("sample", "subject"):
        if columns[key] not in df.columns:
            raise DataError(f"{path}: no column '{columns[key]}' (data.label_columns.{key}); the sheet has "
                            f"{list(df.columns)}: set data.label_columns.{key} to the right one")
    views = {v: columns[v] for v in (*CLASS_VIEWS, *VALUE_VIEWS) if columns.get(v) in df.columns}
    samples, problems, first_row = [], {}, {}
    for row, rec in enumerate(df.to_dict("records"), start=2):
        name = str(rec[columns["sample"]]).strip()
        if not name or name == "nan":
            continue
        if name in first_row:  # two rows for one sample would make two recordings of it: neither is kept
            problems[name] = (f"{path} row {row}: sample '{name}' already has row {first_row[name]}; give each "
                              "sample one row")
            samples = [s for s in samples if s.name != name]
            continue
        first_row[name] = row
        try:  # a sample name becomes the file names faces/<name>, eye/<name>.csv, ...
            plain_name(name, f"{path} row {row}")
        except DataError as exc:
            problems[name] = str(exc)
            continue
        sample = EmerSample(name, str(rec[columns["subject"]]).strip())
        try:
            for view, col in views.items():
                cell = rec[col]
                if cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() == "":
                    continue  # unlabelled in this view: masked
                if view in CLASS_VIEWS:
                    sample.classes[view] = _class_index(cell, classes["7" if view in ("er", "fer") else "3"],
                                                        integer_labels, f"{path} row {row}, column '{col}'")
                else:
                    try:
                        value = float(str(cell).replace(",", "."))
                    except ValueError:
                        raise DataError(f"{path} row {row}, column '{col}': '{cell}' is not a number") from None
                    lo, hi = VALUE_RANGES[view]
                    if not lo <= value <= hi:  # also NaN / inf written as text
                        raise DataError(f"{path} row {row}, column '{col}': {view} {cell} is outside [{lo:g}, {hi:g}]"
                                        f", EMER's scale; fix the cell (or leave it empty to mask this view)")
                    sample.values[view] = value
        except DataError as exc:
            problems[name] = str(exc)
            continue
        samples.append(sample)
    return samples, views, problems


def _class_index(cell: object, names: list[str], integer_labels: str | None, where: str) -> int:
    text = str(cell).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if integer_labels not in ("zero_based", "one_based"):
            raise DataError(f"{where}: the label is the number {text}; say what numbers mean with "
                            f"data.integer_labels=zero_based or one_based (indexes into {names})")
        index = int(number) - (integer_labels == "one_based")
        if not 0 <= index < len(names) or number != int(number):
            raise DataError(f"{where}: label {text} is outside the {len(names)} classes {names}")
        return index
    lowered = [n.lower() for n in names]
    if text.lower() not in lowered:
        raise DataError(f"{where}: unknown class '{text}'; known classes are {names} (data.classes7 / classes3)")
    return lowered.index(text.lower())


def read_set_file(path: Path) -> dict[str, int]:
    """``emer_set.txt``: one ``<sample> <fold>`` per line (whitespace, comma or tab separated; folds 1..5 or
    0..4) -> {sample: 0-based fold}."""
    folds = {}
    for n, line in enumerate(read_text(path, "set file").splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 2 or not parts[1].isdigit():
            raise DataError(f"{path} line {n}: expected '<sample> <fold>' (fold 0..4 or 1..5), got '{line.strip()}'")
        if parts[0] in folds:
            raise DataError(f"{path} line {n}: sample '{parts[0]}' is listed twice")
        folds[parts[0]] = int(parts[1])
    if folds and min(folds.values()) == 1:
        folds = {k: v - 1 for k, v in folds.items()}
    return folds


def read_eye_table(path: Path, columns: dict[str, str]) -> dict[str, np.ndarray]:
    """A Tobii Pro export (tab / comma / semicolon separated, or .xlsx) -> {our name: array} for the mapped columns
    it has (numbers with a decimal comma are read too; ``event`` stays text). Needs the timestamp and gaze x / y."""
    import pandas as pd

    if path.suffix in (".xlsx", ".xls"):
        df = read_sheet(path, "eye-movement table")
    else:
        header = read_text(path, "eye-movement table").partition("\n")[0]
        sep = max(("\t", ";", ","), key=header.count)  # a decimal comma never appears in the header line
        df = read_csv(path, "eye-movement table", sep=sep, dtype=object)
    df.columns = [str(c).strip() for c in df.columns]
    needed = [k for k in ("timestamp", "gaze_x", "gaze_y") if columns[k] not in df.columns]
    if needed:
        raise DataError(f"{path}: no usable gaze columns: missing {[columns[k] for k in needed]} "
                        f"(data.eye_columns.{', data.eye_columns.'.join(needed)}); the table has {list(df.columns)}")
    out = {}
    for key, col in columns.items():
        if col not in df.columns:
            continue
        if key == "event":
            out[key] = df[col].fillna("").astype(str).str.strip().str.lower().to_numpy()
        else:
            text = df[col].fillna("").astype(str).str.strip()
            values = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
            bad = values.isna() & ~text.str.lower().isin(["", "nan"])  # empty / nan: no sample there (a blink)
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(f"{path} row {i + 2}, column '{col}': '{text.iloc[i]}' is not a number "
                                f"({int(bad.sum())} such cells); re-export the table")
            out[key] = values.to_numpy(np.float64)
    check_eye_values(path, out, columns)
    return out


#: what an eye can physically give, per column (a human pupil is 1.5 to 9 mm across)
PLAUSIBLE = {"pupil_left": (0.0, 20.0), "pupil_right": (0.0, 20.0)}


def check_eye_values(path: Path, table: dict[str, np.ndarray], columns: dict[str, str]) -> None:
    """Timestamps that go back (rows out of order) and physically impossible values (a pupil of 1e30 mm) stop
    with the file, row and column: binned by time, either would pass into the features unseen."""
    t = table["timestamp"]
    rows = np.flatnonzero(np.isfinite(t))
    back = np.flatnonzero(np.diff(t[rows]) < 0)
    if len(back):
        i, j = rows[back[0]], rows[back[0] + 1]
        raise DataError(f"{path} row {j + 2}, column '{columns['timestamp']}': {t[j]:g} is earlier than row {i + 2}'s "
                        f"{t[i]:g} ({len(back)} such rows); the rows are out of order: sort the export by time")
    for key, (low, high) in PLAUSIBLE.items():
        if key not in table:
            continue
        values = table[key]
        bad = np.flatnonzero(np.isfinite(values) & ((values < low) | (values > high)))
        if len(bad):
            raise DataError(f"{path} row {bad[0] + 2}, column '{columns[key]}': {values[bad[0]]:g} is not a pupil "
                            f"diameter in millimetres (expected {low:g} to {high:g}; {len(bad)} such cells); "
                            "re-export the table")


def bin_index(t: np.ndarray, steps: int) -> np.ndarray:
    """Equal-duration bins over [min t, max t] of the finite timestamps: bin of each row (-1 for no timestamp)."""
    finite = np.isfinite(t)
    out = np.full(len(t), -1)
    if not finite.any():
        return out
    lo, hi = t[finite].min(), t[finite].max()
    span = hi - lo if hi > lo else 1.0
    out[finite] = np.minimum(((t[finite] - lo) / span * steps).astype(int), steps - 1)
    return out


def bin_mean(values: np.ndarray, bins: np.ndarray, steps: int) -> np.ndarray:
    """Mean of the finite values in each bin -> (steps,), NaN for a bin without one."""
    ok = np.isfinite(values) & (bins >= 0)
    total = np.bincount(bins[ok], values[ok], minlength=steps)
    count = np.bincount(bins[ok], minlength=steps)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def eye_features(table: dict[str, np.ndarray], steps: int, screen: tuple[float, float],
                 seconds_per_unit: float = 1e-6) -> tuple[np.ndarray, ...]:
    """Resample one table to ``steps`` equal-duration bins by its own timestamps (no rate is assumed).

    Returns (eye (steps, 8) float32 :data:`EYE_FEATURES`, gaze (steps, 2) float32, mask (steps,) bool, missing
    optional columns). gaze x / y are divided by the screen size; pupil diameters stay in millimetres; fixation
    / saccade are the fraction of the bin's rows of that event type; speed is the gaze displacement per second
    (timestamps times ``seconds_per_unit``; Tobii Pro Lab writes microseconds)
    between bin centres (screen units); valid is the fraction of rows with a gaze point. The gaze stream is the
    fixation point where there is one, else the gaze point. A bin without any gaze point is masked (its features 0).
    """
    t = table["timestamp"]
    bins = bin_index(t, steps)
    n = len(t)
    gx, gy = table["gaze_x"] / screen[0], table["gaze_y"] / screen[1]
    has_gaze = np.isfinite(gx) & np.isfinite(gy)
    missing = [k for k in ("pupil_left", "pupil_right", "event", "fixation_x", "fixation_y") if k not in table]
    cols = {"gaze_x": bin_mean(gx, bins, steps), "gaze_y": bin_mean(gy, bins, steps)}
    for side in ("pupil_left", "pupil_right"):  # raw millimetres: the level between clips carries arousal
        cols[side] = bin_mean(table.get(side, np.full(n, np.nan)), bins, steps)
    event = table.get("event", np.full(n, "", dtype=object))
    for kind in ("fixation", "saccade"):
        cols[kind] = bin_mean(np.array([e == kind for e in event], np.float64), bins, steps)
    centres = bin_mean(t, bins, steps) * seconds_per_unit
    dt = np.gradient(centres) if steps > 1 else np.ones(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.hypot(np.gradient(cols["gaze_x"]), np.gradient(cols["gaze_y"])) / np.abs(dt)
    cols["speed"] = speed
    cols["valid"] = bin_mean(has_gaze.astype(np.float64), bins, steps)
    mask = np.isfinite(cols["gaze_x"]) & np.isfinite(cols["gaze_y"])
    eye = np.nan_to_num(np.stack([cols[k] for k in EYE_FEATURES], 1), nan=0.0, posinf=0.0, neginf=0.0)
    fx = table.get("fixation_x", np.full(n, np.nan)) / screen[0]
    fy = table.get("fixation_y", np.full(n, np.nan)) / screen[1]
    use_fix = np.isfinite(fx) & np.isfinite(fy)
    px, py = np.where(use_fix, fx, gx), np.where(use_fix, fy, gy)
    gaze = np.nan_to_num(np.stack([bin_mean(px, bins, steps), bin_mean(py, bins, steps)], 1), nan=0.0)
    eye[~mask], gaze[~mask] = 0.0, 0.0
    return eye.astype(np.float32), gaze.astype(np.float32), mask, missing
