"""Reading the BioVid Heat Pain Database Part A release (docs/reference/datasets.md)::

    <root>/biosignals_filtered/<subject>/<sample>_bio.csv   tab-separated: time, gsr, ecg, emg_trapezius (512 Hz)
    <root>/video/<subject>/<sample>.mp4                     frontal video, 25 fps
    <root>/samples.csv                                     tab-separated: subject_id, subject_name, class_id,
                                                            class_name, sample_id, sample_name

Columns are read by header name. Without ``samples.csv`` the subject is the folder and the class is the middle
field of the sample name (``071309_w_21-BL1-081``). Every error names the file (and line) and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmer.core.errors import DataError
from mmer.data.paths import plain_name
from mmer.data.readers import read_csv
from mmer.data.records import ABSURD

CLASSES = ("BL1", "PA1", "PA2", "PA3", "PA4")
BIO_COLUMNS = {"gsr": "gsr", "ecg": "ecg", "emg": "emg_trapezius"}  # modality -> CSV column
SAMPLE_RATE = 512


@dataclass(frozen=True)
class BioVidSample:
    subject: str
    class_name: str
    name: str


def _read_tsv(path: Path):
    """A BioVid tab-separated table as strings (empty cells stay ""), through the one reader of dataset tables."""
    return read_csv(path, "tab-separated table", sep="\t", dtype=str, keep_default_na=False)


def _require_columns(df, path: Path, needed: list[str]) -> None:
    cols = [c.strip() for c in df.columns]
    missing = [c for c in needed if c not in cols]
    if missing:
        raise DataError(f"{path}: no column(s) {missing}; found {cols}. BioVid files are tab-separated with a "
                        f"header line; check the file is the original release (or rename the column)")


def _check_class(class_name: str, where: str) -> None:
    if class_name not in CLASSES:
        raise DataError(f"{where}: unknown class '{class_name}'; BioVid Part A classes are {list(CLASSES)}")


def read_samples_csv(path: Path) -> list[BioVidSample]:
    df = _read_tsv(path)
    df.columns = [c.strip() for c in df.columns]
    _require_columns(df, path, ["subject_name", "class_name", "sample_name"])
    samples, first = [], {}
    for i, row in enumerate(df.itertuples(index=False), start=2):
        sample = BioVidSample(row.subject_name.strip(), row.class_name.strip(), row.sample_name.strip())
        if not sample.subject or not sample.name:
            raise DataError(f"{path}, line {i}: empty subject_name or sample_name")
        plain_name(sample.subject, f"{path}, line {i}, subject_name")  # names become paths under the root
        plain_name(sample.name, f"{path}, line {i}, sample_name")
        _check_class(sample.class_name, f"{path}, line {i}")
        class_id = str(getattr(row, "class_id", "")).strip()
        if class_id and class_id != str(CLASSES.index(sample.class_name)):  # the two label columns contradict
            raise DataError(f"{path}, line {i}: class_id {class_id} contradicts class_name {sample.class_name} "
                            f"(class {CLASSES.index(sample.class_name)} of {list(CLASSES)}); fix one of them")
        if first.setdefault(sample.name, i) != i:  # a second row would make a second recording of one trial
            raise DataError(f"{path}, line {i}: sample '{sample.name}' is already on line {first[sample.name]}; "
                            f"give each sample one row")
        samples.append(sample)
    if not samples:
        raise DataError(f"{path}: no sample rows under the header")
    return samples


def derive_samples(root: Path) -> list[BioVidSample]:
    """Samples from ``biosignals_filtered/<subject>/<sample>_bio.csv`` (or ``video/<subject>/<sample>.mp4``) names."""
    found = sorted((root / "biosignals_filtered").glob("*/*_bio.csv"))
    names = [(p.parent.name, p.name[: -len("_bio.csv")]) for p in found]
    if not names:
        names = [(p.parent.name, p.stem) for p in sorted((root / "video").glob("*/*.mp4"))]
    samples = []
    for subject, name in names:
        fields = name.split("-")
        if len(fields) != 3:
            raise DataError(f"{root}: sample '{name}' of subject '{subject}' is not named <subject>-<class>-<trial> "
                            f"and there is no samples.csv to say its class")
        _check_class(fields[1], f"{root}: sample '{name}'")
        samples.append(BioVidSample(subject, fields[1], name))
    return samples


def bio_path(root: Path, sample: BioVidSample) -> Path:
    return root / "biosignals_filtered" / sample.subject / f"{sample.name}_bio.csv"


def video_path(root: Path, sample: BioVidSample) -> Path:
    return root / "video" / sample.subject / f"{sample.name}.mp4"


def read_bio_csv(path: Path, columns: list[str]) -> np.ndarray:
    """The named columns of a biosignal CSV as (rows, len(columns)) float32. A value that is not a finite number
    (text, ``nan``, ``inf``) stops with the file, line and column: NaN would otherwise pass into every feature."""
    if not path.is_file():
        raise DataError(f"{path}: biosignal file is missing; it is needed for modalities {columns}")
    df = _read_tsv(path)
    df.columns = [c.strip() for c in df.columns]
    _require_columns(df, path, columns)
    out = np.empty((len(df), len(columns)), np.float32)
    for j, col in enumerate(columns):
        values = df[col].str.strip()
        try:
            out[:, j] = values.astype(np.float64)
        except ValueError:
            bad = next(i for i, v in enumerate(values) if not _is_float(v))
            raise DataError(f"{path}, line {bad + 2}: column '{col}' has the non-numeric value '{values.iloc[bad]}'"
                            ) from None
        finite = np.isfinite(out[:, j]) & (np.abs(out[:, j]) <= ABSURD)  # 1e30 is no skin conductance either
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise DataError(f"{path}, line {bad + 2}: column '{col}' has the value '{values.iloc[bad]}' "
                            f"({int((~finite).sum())} values not finite or beyond {ABSURD:g}); re-export the signal")
    if len(out) == 0:
        raise DataError(f"{path}: no rows under the header")
    if "time" in df.columns:  # samples in the order they were recorded, or the signal is scrambled
        time = df["time"].str.strip().map(lambda v: float(v) if _is_float(v) else np.nan).to_numpy(np.float64)
        step = np.diff(time)
        if not np.isfinite(time).all() or (step <= 0).any():
            bad = int(np.flatnonzero(~np.isfinite(time))[0]) if not np.isfinite(time).all() else \
                int(np.flatnonzero(step <= 0)[0]) + 1
            raise DataError(f"{path}, line {bad + 2}: the time column is not increasing there (value "
                            f"'{df['time'].iloc[bad].strip()}' after '{df['time'].iloc[max(bad - 1, 0)].strip()}'); "
                            "the rows are out of order or duplicated: re-export the signal")
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
