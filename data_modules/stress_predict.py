"""Stress-Predict (Iqbal et al., Sensors 2022): Empatica E4 wrist sessions of about an hour per participant with
per-second stress labels (1 during the Stroop test, the interview and hyperventilation; 0 during baseline and rest).
The readers are :mod:`mmer.data_modules.e4_files` (any E4 export; WESAD's wrist folders have the same files).

Layout (``DATA_DIR``)::

    <root>/Raw_data/S02/{EDA,BVP,TEMP,ACC,HR}.csv ...            one E4 session folder per participant (SXX)
    <root>/Processed_data/Improved_All_Combined_hr_rsp_binary.csv  Participant, ..., Time(sec), Label

Samples are windows of ``window`` seconds every ``hop`` seconds over each participant's labelled seconds, kept when
at least ``agreement`` of their seconds share one label (1.0: the label is constant; the window's label is that
label). Each signal keeps its own rate: a 60 s window holds 240 EDA samples (4 Hz), 3,840 BVP (64 Hz), 240 TEMP,
1,920 x 3 ACC (32 Hz) and 60 HR (1 Hz), cut from the session by time stamp (``t0 + i / rate``), never by sample
index; steps a signal does not cover are zeros with mask False and counted. Normalisation (``normalise``):
``participant`` z-scores each signal channel with the mean and standard deviation of that participant's whole
session, labels unused (the wrist's level differs between people far more than between tasks); ``none`` keeps
raw units. Folds group windows by participant; ``test_participants`` are held out from every fold and scored by
the fold ensemble. A participant without label rows (participant 1 in the release) is left out and counted.

To use your own labels (WESAD: its ``S*.pkl`` holds 700 Hz protocol labels), write a CSV with columns
``Participant, Time(sec), Label`` (UNIX seconds, one row per labelled second, label 0 or 1) and point
``data.label_file`` at it; session folders are ``Raw_data/S<participant, two digits>``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from mmer.core.errors import ConfigError, DataError
from mmer.data.paths import plain_name
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.samples import SampleDataModule
from mmer.data_modules.e4_files import SIGNALS, Signal, read_labels, read_signal

log = logging.getLogger(__name__)
CLASSES = ["baseline", "stress"]


class StressPredictDataModule(SampleDataModule):
    """Args (besides :class:`~mmer.data.base.FoldedDataModule`'s): root (``DATA_DIR``); label_file: the per-second
    label table under root; signals: which E4 signals are modalities (eda, bvp, temp, acc, hr); window, hop: in
    seconds; agreement: the share of a window's seconds that must carry its label; normalise: participant | none;
    test_participants: held out from every fold; participants: only these (quick trials and tests; null: all)."""

    group_unit = "participant"

    def __init__(self, root: str | None = None,
                 label_file: str = "Processed_data/Improved_All_Combined_hr_rsp_binary.csv",
                 signals: Sequence[str] = ("eda", "bvp", "temp", "acc", "hr"), window: float = 60.0,
                 hop: float = 30.0, agreement: float = 1.0, normalise: Literal["participant", "none"] = "participant",
                 test_participants: Sequence[int] = (), participants: Sequence[int] | None = None,
                 **folded) -> None:
        super().__init__(**folded)
        unknown = [s for s in signals if s not in SIGNALS]
        if unknown or not signals:
            raise ConfigError(f"data.signals={list(signals)}: choose from {list(SIGNALS)}")
        if not 0.5 < agreement <= 1.0:
            raise ConfigError(f"data.agreement={agreement}: the share of a window's seconds with its label, in (0.5, 1]")
        self.root, self.label_file, self.signals = root, label_file, list(signals)
        self.window, self.hop, self.agreement, self.normalise = float(window), float(hop), agreement, normalise
        self.test_participants = [int(p) for p in test_participants]
        self.participants = None if participants is None else [int(p) for p in participants]
        self._items: dict[str, Item] = {}
        self._recordings: list[Recording] = []
        self.counts: Counter = Counter()

    def input_spec(self) -> dict[str, ModalitySpec]:
        return {s: ModalitySpec("features", SIGNALS[s].channels, length=int(round(self.window * SIGNALS[s].rate)))
                for s in self.signals}

    def target_spec(self) -> dict[str, list[str]]:
        return {"stress": CLASSES}

    # ------------------------------------------------------------------------------------------ index
    def index(self) -> list[Recording]:
        if self._recordings:
            return self._recordings
        root = Path(require_dir(self.root, "stress_predict"))
        labels = read_labels(self.data_root().check(root / self.label_file))
        sessions = sorted(p for p in (root / "Raw_data").glob("S*") if p.is_dir()) if (root / "Raw_data").is_dir() else []
        if not sessions:
            raise DataError(f"stress_predict: no Raw_data/SXX session folders under {root} (see "
                            "docs/datasets/stress_predict.md)")
        wanted = set(self.participants) if self.participants is not None else None
        missing = [p for p in self.test_participants if p not in labels]
        if missing:
            raise ConfigError(f"data.test_participants: participants {missing} have no label rows in {self.label_file}")
        recordings = []
        for folder in sessions:
            participant = int(plain_name(folder.name, str(root / "Raw_data"))[1:])
            if wanted is not None and participant not in wanted:
                continue
            if participant not in labels:
                self.counts["participants without labels (left out)"] += 1
                continue
            recordings += self._windows(folder, participant, *labels[participant])
        if not recordings:
            raise DataError(f"stress_predict: no window of {self.window:g} s with one label under {root}")
        self._recordings = recordings
        log.info("stress_predict: %d windows of %d participants (%s held out)", len(recordings),
                 len({r.group for r in recordings}), self.test_participants or "none")
        return recordings

    def _windows(self, folder: Path, participant: int, times: np.ndarray, labels: np.ndarray) -> list[Recording]:
        signals = {s: self._read(folder, s) for s in self.signals}
        start = max(x.start for x in signals.values())  # every signal recording
        end = min(x.end for x in signals.values())
        if times[0] >= end or times[-1] < start:
            raise DataError(f"{folder}: the labels ({times[0]}..{times[-1]}) lie outside the recording "
                            f"({start:.0f}..{end:.0f}); check the label table's participant numbers and times")
        outside = int(np.sum((times < start) | (times >= end)))
        self.counts["labelled seconds outside the recording"] += outside
        by_second = dict(zip(times.tolist(), labels.tolist()))
        out, partition = [], "test" if participant in self.test_participants else "trainval"
        t0 = float(times[0])
        while t0 + self.window <= times[-1] + 1:
            seconds = [by_second.get(int(t0) + k) for k in range(int(self.window))]
            known = [v for v in seconds if v is not None]
            label, count = Counter(known).most_common(1)[0] if known else (None, 0)
            if label is not None and count >= self.agreement * len(seconds):
                inputs, masks = {}, {}
                for s, signal in signals.items():
                    inputs[s], masks[s] = signal.span(t0, self.window)  # steps outside the session: mask False
                rec_id = f"S{participant:02d}/{int(t0)}"
                self._items[rec_id] = Item(inputs, {"stress": np.int64(label)}, {"stress": np.bool_(True)}, masks)
                out.append(Recording(rec_id, f"S{participant:02d}", 1, partition))
            else:
                self.counts["windows without one label (left out)"] += 1
            t0 += self.hop
        return out

    def _read(self, folder: Path, name: str) -> Signal:
        file, channels, rate = SIGNALS[name]
        signal = read_signal(self.data_root().check(folder / file), channels)
        if self.normalise == "participant":  # the participant's whole session, labels unused
            values = signal.values
            std = values.std(0)
            values = (values - values.mean(0)) / np.where(std > 0, std, 1.0)
            signal = Signal(signal.path, signal.start, signal.rate, values.astype(np.float32))
        if abs(signal.rate - rate) > 1e-6:
            raise DataError(f"{signal.path}: sample rate {signal.rate:g} Hz; the E4 writes {name} at {rate:g} Hz")
        return signal

    def load(self, rec: Recording) -> Item:
        return self._items[rec.id]

    def loaded_items(self) -> list[Item]:
        return list(self._items.values())

    def dataset_report(self) -> dict[str, int]:
        return dict(self.counts)
