"""A CV job's scores as one flat summary, in one key grammar (also ``mmer evaluate``'s):

- ``fold{k}/{split}/{score}``: fold k's model on a split (``val``: its own validation recordings, out of fold;
  ``test``: the held-out partition; ``train``: the training split of an official-split dataset);
- ``cv/val_mean_{score}``, ``cv/val_std_{score}``: over the folds' own validation scores;
- ``cv/{score}``: the folds' held-out predictions merged by the task's rule, then scored;
  ``cv/fold_mean_{score}``: the mean single-fold score on the same recordings;
- ``cv/oof_{score}``: every fold's out-of-fold predictions pooled, then scored;
- ``{split name}/{score}``: an official-split dataset's scores under its papers' names (``dev/f1_weighted``);
- ``time/*``, ``data/*``: where the time went; inputs a dataset masked or left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mmer.data.base import FoldedDataModule
from mmer.evaluation.evaluator import Evaluator
from mmer.evaluation.report import print_table
from mmer.evaluation.tables import Table


def fold_key(k: int, split: str, score: str) -> str:
    return f"fold{k}/{split}/{score}"


def merged_key(score: str) -> str:
    return f"cv/{score}"


def fold_mean_key(score: str) -> str:
    return f"cv/fold_mean_{score}"


def has_labels(targets: tuple[Table, Table]) -> bool:
    """Whether (targets, masks) hold any labelled row."""
    return any(np.any(m) for m in targets[1].values())


def held_out_scores(fold_scores: Mapping[int, Mapping[str, float]], merged: Mapping[str, float],
                    split: str = "test") -> dict[str, float]:
    """Each fold's scores on the held-out recordings, their mean and the merge's, in the summary's grammar."""
    summary = {fold_key(k, split, key): v for k, scores in fold_scores.items() for key, v in scores.items()}
    return summary | merged_scores(merged, fold_scores, list(merged))


def merged_scores(merged: Mapping[str, float], fold_scores: Mapping[int, Mapping[str, float]],
                  keys: Sequence[str]) -> dict[str, float]:
    """cv/* (the merge's scores) and cv/fold_mean_* of ``keys`` (the mean of the folds' held-out scores)."""
    out = {merged_key(key): v for key, v in merged.items()}
    out.update({fold_mean_key(key): float(np.mean([scores[key] for scores in fold_scores.values()])) for key in keys})
    return out


def summarise(fold_scores: Sequence[Mapping[str, float]], folds: Sequence[int], merged: dict[str, float],
              oof: dict[str, float], keys: Sequence[str]) -> dict[str, float]:
    """fold{k}/*; cv/val_mean_* and cv/val_std_* over the folds' own validation scores; with a held-out partition
    (``merged``: the merge's scores) cv/* and cv/fold_mean_*; cv/oof_* (``oof``: the pooled out-of-fold scores)."""
    summary: dict[str, float] = {}
    for scores in fold_scores:
        summary.update(scores)
    for key in keys:
        vals = [summary[fold_key(k, "val", key)] for k in folds]
        summary[f"cv/val_mean_{key}"], summary[f"cv/val_std_{key}"] = float(np.mean(vals)), float(np.std(vals))
    if merged:
        held_out = {k: {key: summary[fold_key(k, "test", key)] for key in keys} for k in folds}
        summary.update(merged_scores(merged, held_out, keys))
    summary.update({f"cv/oof_{k}": v for k, v in oof.items()})
    return summary


def official_split(dm: FoldedDataModule, folds: Sequence[int]) -> bool:
    """A dataset with one official split (``split_names``, one fold) run as such."""
    return bool(dm.split_names) and dm.num_folds == 1 and list(folds) == [0]


def split_aliases(summary: dict[str, float], dm: FoldedDataModule, ev: Evaluator,
                  folds: Sequence[int]) -> dict[str, float]:
    """Official-split datasets (one fold; ``dm.split_names`` such as MELD's train/dev/test): the scores again as
    ``<split>/<metric>`` (``dev/f1_weighted``, ``dev/acc``), the names their papers report."""
    if not official_split(dm, folds):
        return {}
    out = {}
    for split, name in dm.split_names.items():
        for key in ev.score_keys:
            if fold_key(0, split, key) in summary:
                out[f"{name}/{key}"] = summary[fold_key(0, split, key)]
        if f"{name}/accuracy" in out:
            out[f"{name}/acc"] = out[f"{name}/accuracy"]
    return out


def score_rows(summary: dict[str, float], folds: Sequence[int], keys: Sequence[str], merge_name: str,
               held_out: bool) -> list[tuple[str, list[float]]]:
    """Rows (label, [value per key]) of the CV table from a flat summary of ``fold{k}/...`` / ``cv/...`` keys."""
    rows = [(f"fold {k}: own validation (OOF)", [summary[fold_key(k, "val", c)] for c in keys]) for k in folds]
    rows.append(("mean over folds: own validation", [summary[f"cv/val_mean_{c}"] for c in keys]))
    rows.append(("std over folds: own validation", [summary[f"cv/val_std_{c}"] for c in keys]))
    if held_out:
        rows += [(f"fold {k}: held-out", [summary[fold_key(k, "test", c)] for c in keys]) for k in folds]
        rows.append(("mean of single folds: held-out", [summary[fold_mean_key(c)] for c in keys]))
        rows.append((f"{merge_name}: held-out", [summary[merged_key(c)] for c in keys]))
    rows.append(("pooled out-of-fold", [summary[f"cv/oof_{c}"] for c in keys]))
    return rows


def split_rows(summary: dict[str, float], split_names: dict[str, str], keys: Sequence[str]) -> list[tuple[str, list[float]]]:
    """Rows of an official-split dataset (one fold): one per split that was scored, under the name its papers use
    (``train``, ``dev``, ``test``)."""
    return [(name, [summary[fold_key(0, split, c)] for c in keys]) for split, name in split_names.items()
            if fold_key(0, split, keys[0]) in summary]


def has_held_out(summary: Mapping[str, float], ev: Evaluator) -> bool:
    """Whether a summary scores a held-out partition (its merge and fold mean), by the grammar above."""
    return fold_mean_key(ev.score_keys[0]) in summary


def cv_table(name: str, run_dir: str, summary: dict[str, float], folds: Sequence[int], ev: Evaluator,
             split_names: Mapping[str, str]) -> str:
    """Print and return a CV job's table: a job on an official split (``split_names`` given, by the job when
    :func:`official_split`: MELD, IEMOCAP six-class) scored on each official split, else each fold, their mean and
    std, the held-out merge and the pooled out-of-fold scores."""
    keys = ev.score_keys
    if split_names:
        names = [n for split, n in split_names.items() if fold_key(0, split, keys[0]) in summary]
        title = f"{name}: official {' / '.join(names)} split ({run_dir})"
        rows = split_rows(summary, split_names, keys)
    else:
        title = f"{name}: {len(folds)}-fold CV ({run_dir})"
        rows = score_rows(summary, folds, keys, ev.merge_name, has_held_out(summary, ev))
    return print_table(title, rows, keys)
