"""k-fold cross-validation runner with fold merging (docs/reference/definitions.md).

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
import signal
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import OmegaConf

from mmer.config.build import build_callbacks, build_module, dry_run
from mmer.core.distributed import effective_batch, gather_to_zero, is_zero
from mmer.core.errors import ConfigError, RandomInitWarning, Stopped
from mmer.core.io import atomic_write_text
from mmer.core.versions import git_commit
from mmer.cv.prepare import prepare, start_from
from mmer.cv.protocol import describe_protocol, protocol_text
from mmer.cv.summary import cv_table, fold_key, has_labels, official_split, split_aliases, summarise
from mmer.data.base import FoldedDataModule
from mmer.evaluation.evaluator import Evaluator, evaluator_for
from mmer.evaluation.tables import Table, read_table, write_table
from mmer.evaluation.tasks import ReportData
from mmer.runs.checkpoints import AtomicCheckpointIO
from mmer.runs.folder import FoldFolder, RunFolder, strict_json
from mmer.runs.loggers import FoldLogger, MetricSink, NullSink
from mmer.runs.provenance import provenance

log = logging.getLogger(__name__)


RESUME = ("the checkpoint of its last finished epoch is kept ({last}, where it has one): rerun the same command to "
          "resume; finished folds are reused")


@contextmanager
def stopped_by_signal(fold: FoldFolder, doing: str) -> Iterator[None]:
    """Lightning ends a fit on SIGTERM with ``SIGTERMException`` (a ``SystemExit`` whose code is 0: a scheduler, or
    ``mmer train && next``, would see success) and on Ctrl-C with ``sys.exit(1)`` after logging below our level:
    either becomes one :class:`~mmer.core.errors.Stopped` line saying where the run stopped and how it resumes."""
    try:
        yield
    except SIGTERMException:
        raise Stopped(f"fold {fold.index} was stopped by SIGTERM while {doing}; {RESUME.format(last=fold.last)}",
                      signal.SIGTERM) from None
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        raise Stopped(f"fold {fold.index} was interrupted (Ctrl-C) while {doing}; {RESUME.format(last=fold.last)}",
                      signal.SIGINT) from None


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
    held_out: bool = False  # scored on a labelled held-out partition (cv/* and cv/fold_mean_*), not only out of fold


@dataclass
class CVJob:
    """What every step of one CV job reads: the composed config, the set-up data module, the run folder, the
    tabled head's evaluator, the folds this job computes and the held-out (targets, masks), loaded once."""

    cfg: Any
    dm: FoldedDataModule
    run: RunFolder
    ev: Evaluator
    folds: list[int]
    test_targets: tuple[Table, Table]
    started: float = field(default_factory=time.perf_counter)
    prepared_s: float = 0.0

    @classmethod
    def create(cls, cfg: Any, dm: FoldedDataModule | None = None, run: RunFolder | None = None) -> CVJob:
        """Build and check everything before anything is written (every bad-input check happens here)."""
        started = time.perf_counter()
        if dm is None or run is None:
            dm, run = prepare(cfg)
        folds = list(cfg.cv.only_folds) if cfg.cv.get("only_folds") else list(range(dm.num_folds))
        if not set(folds) <= set(run.done_folds()):  # a finished job is merged again, never rebuilt
            dry_run(cfg, dm, run.fold(0).checkpoints)
        ev = evaluator_for(cfg, dm.target_spec())
        return cls(cfg, dm, run, ev, folds, ev.targets(dm, dm.split("test")), started,
                   time.perf_counter() - started)

    @property
    def has_test(self) -> bool:
        return bool(self.test_targets[0])

    # -------------------------------------------------------------------------------------------------- the job
    def run_all(self) -> CVResult:
        """Run (or resume) every fold of this job, then merge every finished fold of the run."""
        if not is_zero():  # another rank of a DDP job: rank 0 holds the locks and writes everything
            results = [self.run_fold(k, NullSink()) for k in self.folds]
            return CVResult(self.run.path, {}, self.ev, results, "")
        locks = self.run.lock_folds(self.folds, wait=bool(self.cfg.cv.get("wait_for_lock", False)))
        try:
            leftovers = self.run.remove_leftovers(self.folds, set(self.folds) == set(range(self.dm.num_folds)))
            if leftovers:
                log.info("removed %d temporary files left by a killed write: %s", len(leftovers), leftovers[0].name)
            container = OmegaConf.to_container(self.cfg, resolve=True)
            atomic_write_text(self.run.config_file, OmegaConf.to_yaml(self.cfg))
            atomic_write_text(self.run.provenance_file,
                              json.dumps(provenance(int(self.cfg.seed), self.run.hash), indent=2))
            log.info("run folder: %s", self.run.path)
            sink = MetricSink(self.run.path, name=f"{self.cfg.name}-{self.run.hash}", config=container,
                              **OmegaConf.to_container(self.cfg.logger))
            try:
                results = []
                for i, k in enumerate(self.folds):
                    log.info("fold %d (%d of %d)", k, i + 1, len(self.folds))
                    with warnings.catch_warnings():
                        if i:  # every fold rebuilds the model: what its build says, the first fold has said
                            warnings.simplefilter("ignore", RandomInitWarning)
                        results.append(self.run_fold(k, sink))
                    log.info("fold %d: %s", k, results[-1].status)
                result = self.merge(results)
                sink.summary(result.summary)
            finally:
                sink.finish()
        finally:
            for lock in locks:
                lock.release()
        return result

    def times(self) -> dict[str, float]:
        return {"wall_s": time.perf_counter() - self.started, "prepare_s": self.prepared_s}

    # -------------------------------------------------------------------------------------------------- a fold
    def run_fold(self, k: int, sink: Any) -> FoldResult:
        """Train (or resume, or reuse) fold k and return its prediction tables and scores."""
        fold = self.run.fold(k)
        self.dm.set_fold(k)
        damage = fold.damage() if fold.is_done else []  # every rank decides before rank 0 changes anything
        if fold.is_done and not damage:
            return self.load_done(fold) if is_zero() else FoldResult(k, "cached", {}, {}, {})
        redo = fold.best if damage else None  # predictions recomputed from the checkpoint, never the training
        if not is_zero():  # another DDP rank: trains and predicts its share beside rank 0, writes nothing
            _, status, _ = self.train_fold(fold, sink, redo)
            return FoldResult(k, status, {}, {}, {})
        if damage:
            log.warning("fold %d was done, but %s: its predictions are recomputed from its checkpoint", k,
                        "; ".join(damage))
            fold.reopen()
        fold.path.mkdir(parents=True, exist_ok=True)
        if not fold.provenance_file.exists():  # a resumed fold keeps the commit it started at
            atomic_write_text(fold.provenance_file, json.dumps(
                {**provenance(int(self.cfg.seed) + k, self.run.hash), "fold": k}, indent=2))
        tables, status, timing = self.train_fold(fold, sink, redo)
        scores = self.fold_scores(k, tables, timing)
        write_table(fold.oof_predictions, tables["val"], self.ev.columns)
        if tables["test"]:
            write_table(fold.test_predictions, tables["test"], self.ev.columns)
        fold.mark_done(status, scores)
        if self.cfg.cv.get("keep_checkpoints", "weights") == "weights":
            fold.slim_checkpoints()
        return FoldResult(k, status, tables["val"], tables["test"], scores)

    def fold_scores(self, k: int, tables: dict[str, Table], timing: dict[str, float]) -> dict[str, float]:
        """fold{k}/val/* (own validation), fold{k}/time/*, fold{k}/train/* (official splits that name one) and
        fold{k}/test/* (a held-out partition with public labels: one without them is predicted, never scored)."""
        ev, dm = self.ev, self.dm
        scores = {fold_key(k, "val", key): v for key, v in ev.score(tables["val"], *ev.targets(dm, dm.split("val"))).items()}
        scores.update({fold_key(k, "time", key): round(v, 1) for key, v in timing.items()})
        if tables.get("train"):
            scores.update({fold_key(k, "train", key): v
                           for key, v in ev.score(tables["train"], *ev.targets(dm, dm.split("train"))).items()})
        if tables["test"] and has_labels(self.test_targets):
            scores.update({fold_key(k, "test", key): v for key, v in ev.score(tables["test"], *self.test_targets).items()})
        return scores

    def train_fold(self, fold: FoldFolder, sink: Any,
                   redo: Path | None = None) -> tuple[dict[str, Table], str, dict[str, float]]:
        """Train fold k and predict its validation split, the held-out partition and (for official-split datasets
        that name a train split, e.g. MELD) the training split, with the best checkpoint (``redo``: predict only,
        from that checkpoint). Also returns where the time went: ``fit_s`` (training and per-epoch validation) and
        ``predict_s``."""
        cfg, dm, k = self.cfg, self.dm, fold.index
        L.seed_everything(int(cfg.seed) + k, workers=True, verbose=False)
        dm.set_fold(k)
        model = build_module(cfg, dm.input_spec(), dm.target_spec())
        callbacks, checkpoint = build_callbacks(cfg, fold.checkpoints)
        # logging at most once per epoch's batches: Lightning warns every fold when the interval exceeds an epoch
        every = min(int(cfg.trainer.log_every_n_steps), max(1, len(dm.train_dataloader())))
        # the data module shards its own loaders across DDP ranks (mmer.core.distributed): Lightning must not
        trainer = L.Trainer(**{**cfg.trainer, "log_every_n_steps": every}, logger=FoldLogger(sink, k),
                            callbacks=callbacks, default_root_dir=str(fold.path), use_distributed_sampler=False,
                            plugins=[AtomicCheckpointIO()])  # checkpoints renamed into place when complete
        if is_zero():
            per_device, per_step = effective_batch(dm.batch_size, trainer)
            log.info("batch: %d per device x %d processes%s = %d per optimizer step", per_device, trainer.world_size,
                     f" x {trainer.accumulate_grad_batches} accumulated" if trainer.accumulate_grad_batches > 1 else "",
                     per_step)
        started = time.perf_counter()
        if redo is not None:
            status, best = "predicted", redo
        elif fold.state == "trained":  # killed after training, before the fold was done: predict again, never train
            status, best = "predicted", fold.trained_checkpoint()
        else:
            status, best = self.fit(fold, trainer, model, checkpoint)
        timing = {"fit_s": time.perf_counter() - started}
        tables = self.predict_splits(trainer, model, best)
        timing["predict_s"] = time.perf_counter() - started - timing["fit_s"]
        return tables, status, timing

    def fit(self, fold: FoldFolder, trainer: Any, model: Any, checkpoint: Any) -> tuple[str, Path]:
        """Train a new or resumable fold; returns (status, the checkpoint that predicts), noted in trained.json."""
        resume = fold.state == "resumable"
        status = "resumed" if resume else "trained"
        if self.cfg.get("ckpt_path") and not resume:
            start_from(model, Path(self.cfg.ckpt_path))
        with stopped_by_signal(fold, "training"):
            trainer.fit(model, datamodule=self.dm, ckpt_path=str(fold.last) if resume else None, weights_only=True)
        if trainer.interrupted:  # never predict from (and mark done) a partially trained fold
            raise Stopped(f"fold {fold.index} was interrupted while training; {RESUME.format(last=fold.last)}",
                          signal.SIGINT)
        best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else fold.best
        if not best.exists():
            best = fold.last
        if is_zero():
            fold.mark_trained(status, best)
        return status, best

    def predict_splits(self, trainer: Any, model: Any, best: Path) -> dict[str, Table]:
        """The best checkpoint's tables of val, test and (official splits that name one) train, on rank 0."""
        dm, tables = self.dm, {}
        for split in ("val", "test", *(["train"] if "train" in dm.split_names else [])):
            recordings = dm.split(split)
            if not recordings:  # a dataset without a held-out partition (BioVid): out-of-fold predictions only
                tables[split] = {}
                continue
            # the split's loader is built inside predict, once the process group exists (each DDP rank its share)
            with stopped_by_signal(self.run.fold(dm.fold), "predicting"):
                outputs = gather_to_zero(trainer.predict(model, datamodule=dm.prediction_split(split),
                                                         ckpt_path=str(best), weights_only=True))
            tables[split] = self.ev.table(outputs, recordings) if is_zero() else {}  # every window once, in order
        return tables

    def load_done(self, fold: FoldFolder, checked: bool = True) -> FoldResult:
        """A finished fold as it was written: its prediction tables and scores (said loudly when the code has
        changed since: finished folds are reused by config hash). ``checked=False``: its files are checked here,
        and a damaged one stops the merge (only a training job recomputes a fold)."""
        damage = [] if checked else fold.damage()
        if damage:
            raise ConfigError(f"fold {fold.index} cannot be merged: {'; '.join(damage)}. Rerun the CV job with the "
                              f"same settings: it recomputes that fold's predictions from its checkpoint")
        recorded, current = fold.recorded_commit(), git_commit()
        if recorded and current and recorded != current:
            log.warning("fold %d was computed at commit %s and the code is now at %s; its results are reused "
                        "because the config is unchanged. Delete %s (or set paths.output_root) to recompute it.",
                        fold.index, recorded, current, fold.path)
        oof, _ = read_table(fold.oof_predictions, self.ev.columns)
        test = read_table(fold.test_predictions, self.ev.columns)[0] if self.has_test else {}
        return FoldResult(fold.index, "cached", oof, test, fold.scores(), source=fold.path)

    # -------------------------------------------------------------------------------------------------- merging
    def merge(self, computed: list[FoldResult], elsewhere: Sequence[RunFolder] = ()) -> CVResult:
        """Merge this job's folds (``computed``) with every other finished fold of the run, found in this run
        folder or else in copies of it (``elsewhere``: ``mmer merge-run A B``), and write the run's merged outputs
        into this run folder, under its merge lock (of fold jobs side by side, the last to finish merges all)."""
        with self.run.merge_lock():
            by_fold = {r.fold: r for r in computed}
            for k in range(self.dm.num_folds):
                for root in (self.run, *elsewhere):
                    if k not in by_fold and root.fold(k).is_done:
                        by_fold[k] = self.load_done(root.fold(k), checked=False)
            missing = [k for k in range(self.dm.num_folds) if k not in by_fold]
            if missing and by_fold:
                log.warning("fold(s) %s of %s are not done: the merge uses folds %s (run the same command without "
                            "cv.only_folds, or with cv.only_folds=%s, then `mmer merge-run %s`)", missing,
                            self.run.path, sorted(by_fold), missing, self.run.path)
            results = [by_fold[k] for k in sorted(by_fold)]
            summary, text = self.conclude(results)
        return CVResult(self.run.path, summary, self.ev, results, text, self.has_test and has_labels(self.test_targets))

    def conclude(self, results: list[FoldResult]) -> tuple[dict[str, float], str]:
        """Merge the folds, score, write the run's tables, predictions, plot and summary; returns (summary, table)."""
        ev, dm, run = self.ev, self.dm, self.run
        folds = [r.fold for r in results]
        merged = ev.merge([r.test for r in results]) if self.has_test else {}
        scored = merged if has_labels(self.test_targets) else {}
        oof = {v: a for r in results for v, a in r.oof.items()}  # pooled out-of-fold predictions, and their targets
        pooled = (oof, ev.targets(dm, [rec for rec in dm.split("trainval") if rec.id in oof]))
        summary = summarise([r.scores for r in results], folds, ev.score(scored, *self.test_targets) if scored else {},
                            ev.score(pooled[0], *pooled[1]), ev.score_keys)
        aliases = split_aliases(summary, dm, ev, folds)
        summary.update(aliases)
        summary.update({f"time/{k}": round(v, 1) for k, v in self.times().items()})
        for key in ("fit_s", "predict_s"):  # summed over the folds computed in this run
            summary[f"time/{key}"] = round(sum(r.scores.get(fold_key(r.fold, "time", key), 0.0) for r in results
                                               if r.status != "cached"), 1)
        # masked or left-out input a dataset counts (GroupWalk's missing poses, ...)
        summary.update({f"data/{k.replace(' ', '_')}": float(v) for k, v in dm.data_report().items() if v})
        if dm.skipped:  # data.on_bad_input=skip: said again at the end, beside the scores it affects
            summary["data/skipped"] = float(len(dm.skipped))
            log.warning("%d recordings were skipped as bad input and are in no fold: %s", len(dm.skipped),
                        ", ".join(sorted(dm.skipped)[:10]))
        if merged:
            write_table(run.merged_test_predictions, merged, ev.columns)
            dm.export_predictions(run.submission, merged, ev.target)  # e.g. ABAW's files; most: none
        text = self.report(summary, results, scored, pooled)
        headline = [f"{k} {v:.4f}" for k, v in aliases.items() if k.endswith(("/f1_weighted", "/acc"))]
        footer = ("  ".join(headline) + "\n" if headline else "") + (
            f"wall time {summary['time/wall_s']:.0f} s (data preparation {summary['time/prepare_s']:.0f} s, training "
            f"{summary['time/fit_s']:.0f} s, predicting {summary['time/predict_s']:.0f} s)\n")
        protocol = describe_protocol(self.cfg, dm, ev, folds)
        footer += protocol_text(protocol)
        print(footer, end="")
        text += footer
        atomic_write_text(run.table_file, text)
        atomic_write_text(run.summary_file, strict_json({**summary, "protocol": protocol}))
        return summary, text

    def report(self, summary: dict[str, float], results: list[FoldResult], merged: Table,
               pooled: tuple[Table, tuple[Table, Table]]) -> str:
        """Print the score table and draw the task's plot (frame values: predictions over time; classes: the pooled
        out-of-fold confusion matrix; sample values: predicted against true); returns the table's text."""
        cfg, ev = self.cfg, self.ev
        folds = [r.fold for r in results]
        text = cv_table(str(cfg.name), str(self.run.path), summary, folds, ev,
                        self.dm.split_names if official_split(self.dm, folds) else {})
        if ev.task.plot is not None:
            p, t = ev.labelled_rows(pooled[0], *pooled[1])
            data = ReportData(str(cfg.name), merged, *self.test_targets, [r.test for r in results], p, t,
                              int(cfg.cv.plot_videos))
            ev.task.plot(self.run.path, ev.columns, data)
        return text


def run_cv(cfg: Any) -> CVResult:
    """Run (or resume) the CV job described by a composed config and return its summary."""
    return CVJob.create(cfg).run_all()
