"""A finished run's scored rows, read back for statistics across runs (``mmer compare``).

A CV run scores two sets of predictions (:mod:`mmer.cv.summary`): every fold's out-of-fold predictions pooled
(``cv/oof_<score>``) and, with a labelled held-out partition, the folds' held-out predictions merged
(``cv/<score>``). :class:`RunResults` reads both from the run folder (``fold*/oof_predictions.csv``,
``merged_test_predictions.csv``) with their targets from the data (the run's own config, ``data.root`` overridable),
as the labelled rows the run was scored on: predictions (N, C), targets (N, ...) and per row its recording and group.
Scoring them with the run's evaluator gives the summary's numbers again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from mmer.config.build import prepare_datamodule
from mmer.core.errors import ConfigError
from mmer.data.identity import data_fingerprint
from mmer.evaluation.evaluator import Evaluator, evaluator_for
from mmer.evaluation.tables import Table, read_table
from mmer.runs.folder import RunFolder, run_config

#: the scored sets and the summary prefix of their scores
SETS = {"oof": "cv/oof_", "held-out": "cv/"}
UNITS = ("recording", "group")


@dataclass(frozen=True)
class ScoredRows:
    """The labelled rows of one set of predictions, in recording-id order."""

    pred: np.ndarray       # (N, C)
    target: np.ndarray     # (N, 1) class index or (N, D) values
    recording: np.ndarray  # (N,) recording id of each row
    group: np.ndarray      # (N,) its group (subject, actor, speaker, dialogue: the folds' grouping)

    def units(self, unit: str) -> np.ndarray:
        """Each row's independent unit: its ``recording`` or its ``group``."""
        if unit not in UNITS:
            raise ConfigError(f"--unit {unit}: choose one of {list(UNITS)}")
        return self.recording if unit == "recording" else self.group


@dataclass(frozen=True)
class RunResults:
    """One finished run's scored sets (module doc)."""

    run: RunFolder
    cfg: Any
    ev: Evaluator
    fingerprint: str
    held_out: tuple[str, ...]  # the held-out partition's recording ids
    sets: dict[str, ScoredRows]

    def scores(self, rows: ScoredRows) -> dict[str, float]:
        return self.ev.task.scores(rows.pred, rows.target, self.ev.columns)

    @property
    def keys(self) -> list[str]:
        """The headline scores (the task's comparison columns)."""
        return list(self.ev.compare_keys)


def load_results(run_dir: str | Path, overrides: Sequence[str] = (), data_modules: dict | None = None) -> RunResults:
    """The scored sets of a finished run (module doc). ``data_modules``: a cache {data settings: set-up data module}
    shared by the runs of one comparison (runs on the same data build it once)."""
    run = RunFolder(run_dir)
    cfg = run_config(run.path, overrides)
    done = [f for f in run.folds() if f.is_done]
    if not done:
        raise ConfigError(f"{run.path}: no finished fold to read predictions from; finish the run first")
    key = OmegaConf.to_yaml(cfg.data)
    cache = data_modules if data_modules is not None else {}
    if key not in cache:
        cache[key] = prepare_datamodule(cfg)
    dm = cache[key]
    ev = evaluator_for(cfg, dm.target_spec())
    oof: Table = {}
    for fold in done:
        oof.update(read_table(fold.oof_predictions, ev.columns)[0])
    tables = {"oof": oof}
    if run.merged_test_predictions.is_file():
        tables["held-out"] = read_table(run.merged_test_predictions, ev.columns)[0]
    by_id = {r.id: r for r in dm.recordings}
    sets = {}
    for name, table in tables.items():
        unknown = sorted(set(table) - set(by_id))
        if unknown:
            raise ConfigError(f"{run.path}: its predictions name recordings the data does not have ({unknown[:3]}); "
                              f"point data.root at the data it was trained on")
        sets[name] = _rows(ev, ev.postprocess.clipped(table), [by_id[r] for r in sorted(table)], dm, run.path)
    held_out = tuple(sorted(r.id for r in dm.split("test")))
    return RunResults(run, cfg, ev, data_fingerprint(dm), held_out, sets)


def _rows(ev: Evaluator, table: Table, recordings: list, dm: Any, run: Path) -> ScoredRows:
    targets, masks = ev.targets(dm, recordings)
    pred, target, rec_ids, groups = [], [], [], []
    for rec in recordings:
        keep = masks[rec.id]
        if len(table[rec.id]) != len(keep):
            raise ConfigError(f"{run}: its predictions of '{rec.id}' have {len(table[rec.id])} rows, the data's "
                              f"recording {len(keep)}: they do not fit this data; point data.root at the data it was "
                              f"trained on")
        pred.append(table[rec.id][keep])
        target.append(targets[rec.id][keep])
        rec_ids += [rec.id] * int(keep.sum())
        groups += [rec.group] * int(keep.sum())
    return ScoredRows(np.concatenate(pred), np.concatenate(target), np.asarray(rec_ids), np.asarray(groups))
