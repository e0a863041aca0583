"""k-fold cross-validation runner with fold merging (``../shared/METRICS.md``).

For each fold k (a fresh model and trainer): train on the other folds, select the checkpoint on fold k's own
validation split, then predict (a) fold k's validation recordings: out-of-fold predictions, scored as
``fold{k}/val/...``, summarised as ``cv/val_mean_...`` / ``cv/val_std_...`` and pooled as ``cv/oof_...``; (b) the
held-out partition that no fold trains on, if the dataset has one, scored as ``fold{k}/test/...``. The folds'
held-out predictions are merged by the task's rule (frame values: CCC centering per video; classes: soft vote;
sample values: mean) and scored as ``cv/...`` beside ``cv/fold_mean_...`` (the mean single-fold score on the same
recordings). What a table, score, merge and plot are is the tabled head's task (:mod:`mmer.evaluation.tasks`, through its
:class:`mmer.evaluation.evaluator.Evaluator`). A dataset with one official split (MELD) prints a train / dev / test table.

Run folder: ``<paths.output_root>/<name>/<config hash>/`` holding config.yaml, provenance.json, metrics.csv,
fold{k}/ (checkpoints/, oof_predictions.csv, test_predictions.csv, done.json), merged_test_predictions.csv,
summary.json, table.txt and predictions.png (sample classes: confusion_oof.png; sample values: values_oof.png).
A fold with done.json is never recomputed; a fold killed mid-training resumes from checkpoints/last.ckpt; a changed
config hashes to a new folder. Once a fold is done it is never resumed, so with ``cv.keep_checkpoints=weights`` (the
default) its last.ckpt is deleted and best.ckpt keeps the weights without the optimizer state: M2FNet with a
trainable MiniLM writes 2 x 286 MB per fold while training and keeps about 95 MB. ``all`` keeps both files whole.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmer.config.build import build_callbacks, build_module, prepare_datamodule
from mmer.config.devices import world_size
from mmer.core.distributed import effective_batch, gather_to_zero, is_zero
from mmer.core.errors import ConfigError, RandomInitWarning
from mmer.core.io import atomic_write, atomic_write_text, remove_leftover_temporaries
from mmer.core.locks import lock_folds, merge_lock
from mmer.data.identity import data_fingerprint
from mmer.evaluation.evaluator import Evaluator, evaluator_for
from mmer.evaluation.report import print_table, score_rows, split_rows
from mmer.evaluation.tables import Table, read_table, write_table
from mmer.evaluation.tasks import ReportData
from mmer.runs.loggers import FoldLogger, MetricSink, NullSink
from mmer.runs.provenance import config_hash, git_commit, provenance

if TYPE_CHECKING:
    from mmer.data.base import FoldedDataModule

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    fold: int
    status: str  # "trained", "resumed", "predicted" (trained before a kill, predicted now) or "cached"
    oof: Table
    test: Table
    scores: dict[str, float]
    source: Path | None = None  # the fold folder a finished fold was read from (None: computed by this job)


@dataclass
class CVResult:
    run_dir: Path
    summary: dict[str, float]
    evaluator: Evaluator  # the tabled head's: its task names the score keys
    folds: list[FoldResult] = field(default_factory=list)
    table: str = ""


def run_dir_for(cfg: Any, dm: FoldedDataModule | None = None) -> Path:
    """``<paths.output_root>/<name>/<hash>``: the hash of what the run computes (:func:`mmer.runs.provenance.config_hash`),
    of its dataset's fingerprint instead of its path (:mod:`mmer.data.identity`), so that a copy of the
    data elsewhere finds the same folder, and of the processes per optimizer step when there are several
    (:func:`mmer.config.devices.world_size`; which devices, the strategy and the accelerator are not hashed). ``dm``: the
    set-up data module (built here when not given)."""
    from omegaconf import OmegaConf


    if dm is None:

        dm = prepare_datamodule(cfg)

    container = OmegaConf.to_container(cfg, resolve=True)
    container["data_fingerprint"] = data_fingerprint(dm)
    world = world_size(cfg.trainer)
    if world > 1:  # data.batch_size is per device: N processes step on N batches (one process: no key, same hash)
        container["world_size"] = world
    return Path(cfg.paths.output_root) / str(cfg.name) / config_hash(container)


def start_from(model: Any, path: Path) -> None:
    """Load the weights of checkpoint ``path`` (``ckpt_path=``: Lightning's ``state_dict``, or a bare state dict) into
    a fold's fresh model; every key must match (a model of another architecture is refused with the differences)."""
    import torch

    if not path.is_file():
        raise ConfigError(f"ckpt_path={path}: no such checkpoint file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"ckpt_path={path} does not fit this experiment's model: {len(missing)} weights missing "
                          f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})")
    log.info("fold weights start from %s", path)


def _train_fold(cfg: Any, dm: FoldedDataModule, k: int, fold_dir: Path, sink: Any,
                ev: Evaluator) -> tuple[dict[str, Table], str, dict[str, float]]:
    """Train fold k and predict its validation split, the held-out partition and (for official-split datasets
    that name a train split, e.g. MELD) the training split, with the best checkpoint. Also returns where the time
    went: ``fit_s`` (training and per-epoch validation) and ``predict_s``."""
    import lightning as L


    L.seed_everything(int(cfg.seed) + k, workers=True, verbose=False)
    dm.set_fold(k)
    model = build_module(cfg, dm.input_spec(), dm.target_spec())
    ckpt_dir = fold_dir / "checkpoints"
    callbacks, checkpoint = build_callbacks(cfg, ckpt_dir)
    # logging at most once per epoch's batches: Lightning warns every fold when the interval exceeds an epoch
    every = min(int(cfg.trainer.log_every_n_steps), max(1, len(dm.train_dataloader())))
    # the data module shards its own loaders across DDP ranks (mmer.core.distributed): Lightning must not re-shard them
    trainer = L.Trainer(**{**cfg.trainer, "log_every_n_steps": every}, logger=FoldLogger(sink, k),
                        callbacks=callbacks, default_root_dir=str(fold_dir), use_distributed_sampler=False)
    zero = is_zero()
    if zero:
        per_device, per_step = effective_batch(dm.batch_size, trainer)
        log.info("batch: %d per device x %d processes%s = %d per optimizer step", per_device, trainer.world_size,
                 f" x {trainer.accumulate_grad_batches} accumulated" if trainer.accumulate_grad_batches > 1 else "",
                 per_step)
    last, trained = ckpt_dir / "last.ckpt", fold_dir / "trained.json"
    started = time.perf_counter()
    if trained.is_file():  # killed after training, before the fold was done: predict again, never train again
        status, best = "predicted", fold_dir / json.loads(trained.read_text())["best"]
    else:
        status = "resumed" if last.exists() else "trained"
        if cfg.get("ckpt_path") and not last.exists():
            start_from(model, Path(cfg.ckpt_path))
        trainer.fit(model, datamodule=dm, ckpt_path=str(last) if last.exists() else None, weights_only=True)
        if trainer.interrupted:  # never predict from (and mark done) a partially trained fold
            raise KeyboardInterrupt(f"fold {k} was interrupted; rerun the same command to resume it from {last}")
        best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else ckpt_dir / "best.ckpt"
        if not best.exists():
            best = last
        kept = str(best.resolve().relative_to(fold_dir.resolve()))
        if zero:
            atomic_write_text(trained, json.dumps({"fold": k, "status": status, "best": kept}))
    timing = {"fit_s": time.perf_counter() - started}
    tables = {}
    for split in ("val", "test", *(["train"] if "train" in dm.split_names else [])):
        recordings = dm.split(split)
        if not recordings:  # a dataset without a held-out partition (BioVid): out-of-fold predictions only
            tables[split] = {}
            continue
        dm.predicting = split  # its loader is built inside predict, once the process group exists (DDP shares)
        outputs = gather_to_zero(trainer.predict(model, datamodule=dm, ckpt_path=str(best), weights_only=True))
        tables[split] = ev.table(outputs, recordings) if zero else {}  # every window once, in order, on rank 0
    timing["predict_s"] = time.perf_counter() - started - timing["fit_s"]
    return tables, status, timing


def run_fold(cfg: Any, dm: FoldedDataModule, k: int, run_dir: Path, sink: Any, ev: Evaluator,
             test_targets: tuple[Table, Table]) -> FoldResult:
    """Train (or resume, or reuse) fold k and return its prediction tables and scores.

    test_targets: (targets, masks) of the held-out recordings (empty when the dataset has none), loaded once per job.
    """
    fold_dir = run_dir / f"fold{k}"
    done = fold_dir / "done.json"
    dm.set_fold(k)
    if not is_zero():  # another DDP rank: trains and predicts its share beside rank 0, writes nothing
        if done.exists():
            return FoldResult(k, "cached", {}, {}, {})
        _, status, _ = _train_fold(cfg, dm, k, fold_dir, sink, ev)
        return FoldResult(k, status, {}, {}, {})
    if done.exists():
        return load_done_fold(fold_dir, k, ev, bool(test_targets[0]))
    fold_dir.mkdir(parents=True, exist_ok=True)
    if not (fold_dir / "provenance.json").exists():  # a resumed fold keeps the commit it started at
        atomic_write_text(fold_dir / "provenance.json", json.dumps({**provenance(int(cfg.seed) + k, run_dir.name),
                                                                    "fold": k}, indent=2))
    tables, status, timing = _train_fold(cfg, dm, k, fold_dir, sink, ev)
    oof, test = tables["val"], tables["test"]
    scores = {f"fold{k}/val/{key}": v for key, v in ev.score(oof, *ev.targets(dm, dm.split("val"))).items()}
    scores.update({f"fold{k}/time/{key}": round(v, 1) for key, v in timing.items()})
    if tables.get("train"):
        scores.update({f"fold{k}/train/{key}": v
                       for key, v in ev.score(tables["train"], *ev.targets(dm, dm.split("train"))).items()})
    write_table(fold_dir / "oof_predictions.csv", oof, ev.columns)
    if test:
        if has_labels(test_targets):  # a test set without public labels is predicted, never scored
            scores.update({f"fold{k}/test/{key}": v for key, v in ev.score(test, *test_targets).items()})
        write_table(fold_dir / "test_predictions.csv", test, ev.columns)
    atomic_write_text(done, strict_json({"fold": k, "status": status, "scores": scores}))
    if cfg.cv.get("keep_checkpoints", "weights") == "weights":
        slim_checkpoints(fold_dir / "checkpoints")
    return FoldResult(k, status, oof, test, scores)


def load_done_fold(fold_dir: Path, k: int, ev: Evaluator, has_test: bool) -> FoldResult:
    """A finished fold (``done.json``) as it was written: its prediction tables and scores."""
    _warn_if_other_code(fold_dir, k)
    oof, _ = read_table(fold_dir / "oof_predictions.csv", ev.columns)
    test = read_table(fold_dir / "test_predictions.csv", ev.columns)[0] if has_test else {}
    return FoldResult(k, "cached", oof, test, read_scores(fold_dir / "done.json"), source=fold_dir)


def slim_checkpoints(ckpt_dir: Path) -> None:
    """Shrink a finished fold's checkpoints: delete last.ckpt (only a killed fold resumes from it) and drop the
    optimizer and scheduler state from best.ckpt, which is rewritten atomically (a crash leaves the old file).

    Called only after done.json is written, so an interrupted slimming can cost disk space, never a result.
    """
    import torch

    (ckpt_dir / "last.ckpt").unlink(missing_ok=True)
    best = ckpt_dir / "best.ckpt"
    if not best.is_file():
        return
    state = torch.load(best, map_location="cpu", weights_only=True)  # never unpickle code from a run folder
    if not {"optimizer_states", "lr_schedulers"} & set(state):
        return
    for key in ("optimizer_states", "lr_schedulers"):
        state.pop(key, None)
    atomic_write(best, lambda tmp: torch.save(state, tmp))


def has_labels(targets: tuple[Table, Table]) -> bool:
    return any(np.any(m) for m in targets[1].values())


def _warn_if_other_code(fold_dir: Path, k: int) -> None:
    """Finished folds are reused by config hash; say so loudly when the code has changed since."""

    recorded = json.loads((fold_dir / "provenance.json").read_text()).get("git_commit")
    current = git_commit()
    if recorded and current and recorded != current:
        log.warning("fold %d was computed at commit %s and the code is now at %s; its results are reused because "
                    "the config is unchanged. Delete %s (or set paths.output_root) to recompute it.",
                    k, recorded, current, fold_dir)


def prepare(cfg: Any) -> tuple[FoldedDataModule, Path]:
    """Build and check the data module (every bad-input check happens here, before any training or writing)."""

    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint file (give a best.ckpt of a run folder)")
    dm = prepare_datamodule(cfg)
    if cfg.cv.folds != "loso" and dm.num_folds != cfg.cv.folds:
        raise ConfigError(f"data.num_folds={dm.num_folds} differs from cv.folds={cfg.cv.folds}")
    return dm, run_dir_for(cfg, dm)


def run_cv(cfg: Any) -> CVResult:
    """Run (or resume) the CV job described by a composed config and return its summary."""
    from omegaconf import OmegaConf


    if cfg.cv.get("keep_checkpoints", "weights") not in ("weights", "all"):
        raise ConfigError(f"cv.keep_checkpoints={cfg.cv.keep_checkpoints}: choose weights (a finished fold keeps "
                          "best.ckpt's weights only) or all (best.ckpt and last.ckpt whole)")
    started = time.perf_counter()
    dm, run_dir = prepare(cfg)
    prepared = time.perf_counter() - started
    ev = evaluator_for(cfg, dm.target_spec())
    folds = list(cfg.cv.only_folds) if cfg.cv.get("only_folds") else list(range(dm.num_folds))
    if not is_zero():  # another rank of a DDP job: rank 0 holds the locks and writes everything
        return _run_other_rank(cfg, dm, run_dir, ev, folds)
    locks = lock_folds(run_dir, folds, wait=bool(cfg.cv.get("wait_for_lock", False)))  # before writing anything
    try:
        # what a killed atomic write left: in the folds this job holds, and beside them when it holds them all
        leftovers = [p for k in folds for p in remove_leftover_temporaries(run_dir / f"fold{k}")]
        if set(folds) == set(range(dm.num_folds)):
            leftovers += remove_leftover_temporaries(run_dir, recursive=False)
        if leftovers:
            log.info("removed %d temporary files left by a killed write: %s", len(leftovers), leftovers[0].name)
        container = OmegaConf.to_container(cfg, resolve=True)
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg))
        atomic_write_text(run_dir / "provenance.json", json.dumps(provenance(int(cfg.seed), run_dir.name), indent=2))
        log.info("run folder: %s", run_dir)
        test_targets = ev.targets(dm, dm.split("test"))
        sink = MetricSink(run_dir, name=f"{cfg.name}-{run_dir.name}", config=container,
                          **OmegaConf.to_container(cfg.logger))
        try:
            results = []
            for i, k in enumerate(folds):
                log.info("fold %d (%d of %d)", k, i + 1, len(folds))
                with warnings.catch_warnings():
                    if i:  # every fold rebuilds the model: what its build says, the first fold has said
                        warnings.simplefilter("ignore", RandomInitWarning)
                    results.append(run_fold(cfg, dm, k, run_dir, sink, ev, test_targets))
                log.info("fold %d: %s", k, results[-1].status)
            results, summary, text = merge_done(cfg, dm, run_dir, ev, results, test_targets,
                                                {"wall_s": time.perf_counter() - started, "prepare_s": prepared})
            sink.summary(summary)
        finally:
            sink.finish()
    finally:
        for lock in locks:
            lock.release()
    return CVResult(run_dir, summary, ev, results, text)


def merge_done(cfg: Any, dm: FoldedDataModule, run_dir: Path, ev: Evaluator, computed: list[FoldResult],
               test_targets: tuple[Table, Table], times: dict[str, float],
               elsewhere: Sequence[Path] = ()) -> tuple[list[FoldResult], dict, str]:
    """Merge this job's folds (``computed``) with every other finished fold of the run, found in ``run_dir`` or
    else in the copies of it in ``elsewhere`` (``mmer merge-run A B``), and write the run's merged outputs into
    ``run_dir``. Held under the run's merge lock, so of fold jobs running side by side the last to finish merges
    all of them. Returns (the folds merged, in fold order; summary; table)."""
    with merge_lock(run_dir):
        by_fold = {r.fold: r for r in computed}
        for k in range(dm.num_folds):
            for root in (run_dir, *elsewhere):
                if k not in by_fold and (root / f"fold{k}" / "done.json").is_file():
                    by_fold[k] = load_done_fold(root / f"fold{k}", k, ev, bool(test_targets[0]))
        missing = [k for k in range(dm.num_folds) if k not in by_fold]
        if missing and by_fold:
            log.warning("fold(s) %s of %s are not done: the merge uses folds %s (run the same command without "
                        "cv.only_folds, or with cv.only_folds=%s, then `mmer merge-run %s`)", missing, run_dir,
                        sorted(by_fold), missing, run_dir)
        results = [by_fold[k] for k in sorted(by_fold)]
        summary, text = _conclude(cfg, dm, run_dir, ev, sorted(by_fold), results, test_targets, times)
    return results, summary, text


def _run_other_rank(cfg: Any, dm: FoldedDataModule, run_dir: Path, ev: Evaluator, folds: list[int]) -> CVResult:
    """Rank r > 0 of a DDP job: the same folds in the same order as rank 0 (each fit and predict is collective),
    without locks, files, metrics or a summary."""

    results = [run_fold(cfg, dm, k, run_dir, NullSink(), ev, ({}, {})) for k in folds]
    return CVResult(run_dir, {}, ev, results, "")


def _conclude(cfg: Any, dm: FoldedDataModule, run_dir: Path, ev: Evaluator, folds: list[int],
              results: list[FoldResult], test_targets: tuple[Table, Table], times: dict[str, float]) -> tuple[dict, str]:
    """Merge the folds, score, write the run's tables, predictions, plot and summary; returns (summary, table)."""
    merged = ev.merge([r.test for r in results]) if test_targets[0] else {}
    scored = merged if has_labels(test_targets) else {}
    oof = {v: a for r in results for v, a in r.oof.items()}  # pooled out-of-fold predictions, and their targets
    pooled = (oof, ev.targets(dm, [rec for rec in dm.split("trainval") if rec.id in oof]))
    summary = _summarise(results, scored, test_targets, pooled, ev)
    aliases = _split_aliases(summary, dm, ev, folds)
    summary.update(aliases)
    summary.update({f"time/{k}": round(v, 1) for k, v in times.items()})
    for key in ("fit_s", "predict_s"):  # summed over the folds computed in this run
        summary[f"time/{key}"] = round(sum(r.scores.get(f"fold{r.fold}/time/{key}", 0.0) for r in results
                                           if r.status != "cached"), 1)
    # masked or left-out input a dataset counts (GroupWalk's missing poses, ...)
    summary.update({f"data/{k.replace(' ', '_')}": float(v) for k, v in dm.data_report().items() if v})
    skipped = dm.skipped
    if skipped:  # data.on_bad_input=skip: said again at the end, beside the scores it affects
        summary["data/skipped"] = float(len(skipped))
        log.warning("%d recordings were skipped as bad input and are in no fold: %s", len(skipped),
                    ", ".join(sorted(skipped)[:10]))
    if merged:
        write_table(run_dir / "merged_test_predictions.csv", merged, ev.columns)
        dm.export_predictions(run_dir / "submission", merged, ev.target)  # e.g. ABAW's files; most: none
    text = _report(cfg, run_dir, ev, summary, folds, results, scored, test_targets, pooled, dm)
    headline = [f"{k} {v:.4f}" for k, v in aliases.items() if k.endswith(("/f1_weighted", "/acc"))]
    footer = ("  ".join(headline) + "\n" if headline else "") + (
        f"wall time {summary['time/wall_s']:.0f} s (data preparation {summary['time/prepare_s']:.0f} s, training "
        f"{summary['time/fit_s']:.0f} s, predicting {summary['time/predict_s']:.0f} s)\n")
    print(footer, end="")
    text += footer
    atomic_write_text(run_dir / "table.txt", text)
    atomic_write_text(run_dir / "summary.json", strict_json(summary))
    return summary, text


def strict_json(values: Any) -> str:
    """JSON that strict parsers read: an undefined score (NaN, e.g. a CCC of two constant series) is null
    (:func:`read_scores` turns it back into NaN)."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps(clean(values), indent=2, allow_nan=False)


def read_scores(path: Path) -> dict[str, float]:
    """The scores of a done.json (null: NaN)."""
    return {k: float("nan") if v is None else v for k, v in json.loads(path.read_text())["scores"].items()}


def official_split(dm: FoldedDataModule, folds: list[int]) -> bool:
    """A dataset with one official split (``split_names``, one fold) run as such."""
    return bool(dm.split_names) and dm.num_folds == 1 and folds == [0]


def _split_aliases(summary: dict[str, float], dm: FoldedDataModule, ev: Evaluator, folds: list[int]) -> dict[str, float]:
    """Official-split datasets (one fold; ``dm.split_names`` such as MELD's train/dev/test): the scores again as
    ``<split>/<metric>`` (``dev/f1_weighted``, ``dev/acc``), the names their papers report."""
    names = dm.split_names
    if not official_split(dm, folds):
        return {}
    out = {}
    for split, name in names.items():
        for key in ev.score_keys:
            if f"fold0/{split}/{key}" in summary:
                out[f"{name}/{key}"] = summary[f"fold0/{split}/{key}"]
        if f"{name}/accuracy" in out:
            out[f"{name}/acc"] = out[f"{name}/accuracy"]
    return out


def _report(cfg: Any, run_dir: Path, ev: Evaluator, summary: dict[str, float], folds: list[int],
            results: list[FoldResult], merged: Table, test_targets: tuple[Table, Table],
            pooled: tuple[Table, tuple[Table, Table]], dm: FoldedDataModule) -> str:
    """Print and save the score table, and draw the task's plot (frame values: predictions over time; classes: the
    pooled out-of-fold confusion matrix; sample values: predicted against true)."""

    if official_split(dm, folds):  # MELD, IEMOCAP six-class: one model, scored on each official split
        names = [n for split, n in dm.split_names.items() if f"fold0/{split}/{ev.score_keys[0]}" in summary]
        title = f"{cfg.name}: official {' / '.join(names)} split ({run_dir})"
        rows = split_rows(summary, dm.split_names, ev.score_keys)
    else:
        title = f"{cfg.name}: {len(results)}-fold CV ({run_dir})"
        rows = score_rows(summary, folds, ev.score_keys, ev.merge_name, bool(merged))
    text = print_table(title, rows, ev.score_keys)
    atomic_write_text(run_dir / "table.txt", text)
    if ev.task.plot is not None:
        p, t = ev.labelled_rows(pooled[0], *pooled[1])
        data = ReportData(str(cfg.name), merged, *test_targets, [r.test for r in results], p, t,
                          int(cfg.cv.plot_videos))
        ev.task.plot(run_dir, ev.columns, data)
    return text


def _summarise(results: list[FoldResult], merged: Table, test_targets: tuple[Table, Table],
               pooled: tuple[Table, tuple[Table, Table]], ev: Evaluator) -> dict[str, float]:
    """fold{k}/{val,test}/*; cv/val_mean_* and cv/val_std_* over the folds' own validation scores; with a held-out
    partition cv/* (merged) and cv/fold_mean_* (mean single-fold held-out score); cv/oof_* (``pooled``: the
    out-of-fold predictions of every fold and their (targets, masks))."""
    summary: dict[str, float] = {}
    for r in results:
        summary.update(r.scores)
    for key in ev.score_keys:
        vals = [r.scores[f"fold{r.fold}/val/{key}"] for r in results]
        summary[f"cv/val_mean_{key}"], summary[f"cv/val_std_{key}"] = float(np.mean(vals)), float(np.std(vals))
    if merged:
        summary.update({f"cv/{k}": v for k, v in ev.score(merged, *test_targets).items()})
        for key in ev.score_keys:
            summary[f"cv/fold_mean_{key}"] = float(np.mean([r.scores[f"fold{r.fold}/test/{key}"] for r in results]))
    summary.update({f"cv/oof_{k}": v for k, v in ev.score(pooled[0], *pooled[1]).items()})
    return summary
