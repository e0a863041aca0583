"""The protocol of a CV job's numbers, stated with them: in ``summary.json`` (``"protocol"``), under the printed
table and in ``table.txt``. A number without its protocol (which split, which grouping, which F1) cannot be compared
with another; this says:

- ``evaluation``: k-fold CV grouped by the dataset's unit (:attr:`~mmer.data.hooks.RunReportHooks.group_unit`:
  subject, actor, dialogue, ...), with the number of groups, or the dataset's official split;
- ``held_out``: the held-out partition no fold trains on (recordings and groups), or none;
- ``checkpoint``: how each fold's epoch was chosen (``cv.monitor`` on the fold's own validation split: the pooled
  out-of-fold scores come from the same split, so they are optimistic by that choice; the held-out scores are not);
- ``seeds``: 1 and the seed (``mmer summarize`` aggregates runs over seeds);
- ``metrics``: the task's score definitions over which rows and classes (:meth:`mmer.evaluation.tasks.Task.definition`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmer.cv.summary import official_split
from mmer.data.base import FoldedDataModule
from mmer.evaluation.evaluator import Evaluator


def describe_protocol(cfg: Any, dm: FoldedDataModule, ev: Evaluator, folds: Sequence[int]) -> dict[str, Any]:
    """The protocol record (module doc)."""
    trainval, test = dm.split("trainval"), dm.split("test")
    unit = dm.group_unit
    if official_split(dm, folds):
        evaluation = f"the official {' / '.join(dm.split_names.values())} split"
    else:
        evaluation = f"{dm.num_folds}-fold CV grouped by {unit} ({len({r.group for r in trainval})} groups)"
    held_out = (f"{len(test)} recordings of {len({r.group for r in test})} {unit}s, never trained on, scored by the "
                f"folds' {ev.merge_name}" if test else "none")
    return {"evaluation": evaluation, "grouping": unit, "folds": dm.num_folds, "held_out": held_out,
            "held_out_recordings": len(test),
            "checkpoint": f"each fold's epoch with the best {cfg.cv.monitor} ({cfg.cv.mode}) on its own validation "
                          f"split",
            "seeds": 1, "seed": cfg.get("seed"), "metrics": ev.task.definition(ev.columns)}


def protocol_text(protocol: dict[str, Any]) -> str:
    """The record as the lines printed under a table."""
    return (f"protocol: {protocol['evaluation']}; held out: {protocol['held_out']}; checkpoint: "
            f"{protocol['checkpoint']}; {protocol['seeds']} seed ({protocol['seed']})\n"
            f"scores: {protocol['metrics']}\n")
