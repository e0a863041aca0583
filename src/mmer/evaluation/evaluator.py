"""How the CV runner turns one head's predictions into tables, scores and a merge across folds.

An :class:`Evaluator` binds a head (its name, target and column names) to its task's registry entry
(:mod:`mmer.evaluation.tasks`): frame tasks stitch windows back to one row per step, sample tasks keep one row per item
(frame 0); scores, merge rule, table columns and plots are the task's. A table maps recording id -> (rows, columns)
array; :mod:`mmer.evaluation.tables` writes and reads it as CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mmer.core.errors import ConfigError
from mmer.evaluation.postprocess import Postprocess
from mmer.evaluation.tables import Table, stitch_predict_outputs
from mmer.evaluation.tasks import Task, get_task

if TYPE_CHECKING:
    from mmer.data.base import FoldedDataModule
    from mmer.data.records import Recording


@dataclass(frozen=True)
class Evaluator:
    """The tables and scores of head ``head`` (reading target ``target``, whose names are ``columns``)."""

    task: Task
    head: str
    target: str
    columns: list[str]  # value dimensions, class names or label names; a table row holds one value for each
    postprocess: Postprocess = Postprocess()  # raw predictions -> a fold's table (clip, smoothing): cv.clip_folds, cv.smooth

    @property
    def score_keys(self) -> list[str]:
        """The CV table's columns."""
        return self.task.score_keys(self.columns)

    @property
    def compare_keys(self) -> list[str]:
        """The columns of ablation tables."""
        return self.task.compare_keys(self.columns)

    @property
    def merge_name(self) -> str:
        return self.task.merge_name

    def table(self, outputs: Sequence[dict], recordings: Sequence[Recording]) -> Table:
        """``predict_step`` outputs of ``recordings`` -> one (rows, C) array per recording, post-processed
        (:mod:`mmer.evaluation.postprocess`: clipped and smoothed as the experiment says, identically for every fold)."""
        post = self.postprocess
        outputs = [{**o, "outputs": {self.head: post.window(o["outputs"][self.head].numpy())}} for o in outputs]
        if self.task.per_frame:
            table = stitch_predict_outputs(outputs, self.head, {r.id: r.num_frames for r in recordings})
        else:
            table = {}
            for out in outputs:
                for rec_id, row in zip(out["meta"]["recording"], out["outputs"][self.head]):
                    table[rec_id] = row.astype(np.float64)[None]
        return post.fold(table, self.columns)

    def targets(self, dm: FoldedDataModule, recordings: Sequence[Recording]) -> tuple[Table, Table]:
        """Per recording: targets (rows, D) (values, labels) or (rows, 1) (class index), and masks (rows,)."""
        targets, masks = {}, {}
        for rec in recordings:
            t, m = dm.targets_of(rec)
            rows = rec.num_frames if self.task.per_frame else 1
            targets[rec.id] = np.asarray(t[self.target], np.float64).reshape(rows, -1)
            masks[rec.id] = np.asarray(m[self.target], bool).reshape(rows)
        return targets, masks

    def labelled_rows(self, preds: Table, targets: Table, masks: Table) -> tuple[np.ndarray, np.ndarray]:
        """(predictions (N, C), targets (N, 1) or (N, D)) of every labelled row of every recording, by id."""
        ids = sorted(preds)
        return (np.concatenate([preds[r][masks[r]] for r in ids]),
                np.concatenate([targets[r][masks[r]] for r in ids]))

    def score(self, preds: Table, targets: Table, masks: Table) -> dict[str, float]:
        """The task's scores of a table, clipped first (a fold table kept unclipped for the merge is scored as the
        clipped values it stands for)."""
        return self.task.scores(*self.labelled_rows(self.postprocess.clipped(preds), targets, masks), self.columns)

    def merge(self, tables: Sequence[Table]) -> Table:
        return self.task.merge_tables(tables)


def tabled_head(heads: Any, chosen: str | None) -> str:
    """The head the CV runner tables, merges and selects checkpoints on: ``chosen`` (``cv.head``), else the only
    head."""
    if chosen is None:
        if len(heads) != 1:
            raise ConfigError(f"the CV runner tables one head and this config has {list(heads) or 'none'}: set "
                              "cv.head=<name>")
        chosen = next(iter(heads))
    if chosen not in heads:
        raise ConfigError(f"cv.head={chosen} must name a head (heads: {list(heads)})")
    return chosen


def default_monitor(heads: Any, chosen: str | None) -> str:
    """``val/<prefix><primary>``: the primary score of the tabled head's task (ccc_mean, f1_weighted, f1_mean), the
    checkpoint selection when ``cv.monitor`` is null."""
    name = tabled_head(heads, chosen)
    task = get_task(heads[name].task, f"head model.heads.{name}")
    return f"val/{heads[name].get('metric_prefix') or ''}{task.primary}"


def evaluator_for(cfg: Any, target_spec: dict[str, list[str]]) -> Evaluator:
    """The evaluator of the head the CV runner tables and merges: ``cv.head`` if set, else the only head."""
    heads = cfg.model.heads
    name = tabled_head(heads, cfg.cv.get("head"))
    target = heads[name].get("target") or name
    if target not in target_spec:
        raise ConfigError(f"head '{name}' reads target '{target}', which the data module does not provide "
                          f"(it provides {sorted(target_spec)})")
    task, columns = get_task(heads[name].task, f"head model.heads.{name}"), list(target_spec[target])
    post = Postprocess.for_task(task, columns, cfg.cv.clip_folds, cfg.cv.smooth)
    return Evaluator(task, name, target, columns, post)
