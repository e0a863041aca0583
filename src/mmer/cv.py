"""k-fold cross-validation runner with CCC-centering merge (``../shared/METRICS.md``).

For each fold k (a fresh model and trainer): train on the other folds, select the checkpoint on fold k's own
validation split, then predict (300/200 windows, stitched to frames) (a) fold k's validation videos: out-of-fold
predictions, scored as ``fold{k}/val/...`` and pooled as ``cv/oof_...``; (b) the held-out partition that no fold
trains on, scored as ``fold{k}/test/...``. The folds' held-out predictions are merged per video by CCC centering
and scored as ``cv/ccc_*`` beside ``cv/fold_mean_ccc_*`` (the mean single-fold score on the same videos).

Run folder: ``<paths.output_root>/<name>/<config hash>/`` holding config.yaml, provenance.json, metrics.csv,
fold{k}/ (checkpoints/, oof_predictions.csv, test_predictions.csv, done.json), merged_test_predictions.csv,
summary.json, table.txt and predictions.png. A fold with done.json is never recomputed; a fold killed mid-training
resumes from checkpoints/last.ckpt; a changed config hashes to a new folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmer.errors import ConfigError
from mmer.predictions import Table, merge_tables, read_table, score_table, stitch_predict_outputs, write_table
from mmer.provenance import atomic_write_text, config_hash, provenance

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    fold: int
    status: str  # "trained", "resumed" or "cached"
    oof: Table
    test: Table
    scores: dict[str, float]


@dataclass
class CVResult:
    run_dir: Path
    summary: dict[str, float]
    folds: list[FoldResult] = field(default_factory=list)
    table: str = ""


def run_dir_for(cfg: Any) -> Path:
    from omegaconf import OmegaConf

    container = OmegaConf.to_container(cfg, resolve=True)
    return Path(cfg.paths.output_root) / str(cfg.name) / config_hash(container)


def _frame_head(cfg: Any) -> tuple[str, str]:
    """(head name, target name) of the one per-frame regression head the CV runner merges."""
    frame_heads = [(name, h.get("target") or name) for name, h in cfg.model.heads.items()
                   if h.task == "frame_regression"]
    if len(frame_heads) != 1:
        raise ConfigError(f"the CV runner merges exactly one frame_regression head; this config has "
                          f"{len(frame_heads)} ({[n for n, _ in frame_heads]})")
    return frame_heads[0]


def _targets(dm: Any, recordings: list, target: str) -> tuple[Table, Table]:
    targets, masks = {}, {}
    for rec in recordings:
        t, m = dm.targets_of(rec)
        targets[rec.id], masks[rec.id] = t[target].astype(np.float64), m[target].astype(bool)
    return targets, masks


def _train_fold(cfg: Any, dm: Any, k: int, fold_dir: Path, sink: Any, head: str) -> tuple[Table, Table, str]:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from mmer.config import build_module
    from mmer.loggers import FoldLogger

    L.seed_everything(int(cfg.seed) + k, workers=True, verbose=False)
    dm.set_fold(k)
    model = build_module(cfg, dm.input_spec())
    ckpt_dir = fold_dir / "checkpoints"
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=cfg.cv.monitor, mode=cfg.cv.mode,
                                 save_last=True, enable_version_counter=False)
    trainer = L.Trainer(**cfg.trainer, logger=FoldLogger(sink, k), callbacks=[checkpoint],
                        default_root_dir=str(fold_dir))
    last = ckpt_dir / "last.ckpt"
    status = "resumed" if last.exists() else "trained"
    trainer.fit(model, datamodule=dm, ckpt_path=str(last) if last.exists() else None)
    if trainer.interrupted:  # never predict from (and mark done) a partially trained fold
        raise KeyboardInterrupt(f"fold {k} was interrupted; rerun the same command to resume it from {last}")
    best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else ckpt_dir / "best.ckpt"
    if not best.exists():
        best = last
    lengths = {r.id: r.num_frames for r in dm.recordings}
    tables = []
    for split in ("val", "test"):
        outputs = trainer.predict(model, dataloaders=dm.predict_loader(split), ckpt_path=str(best))
        tables.append(stitch_predict_outputs(outputs, head, lengths))
    return tables[0], tables[1], status


def run_fold(cfg: Any, dm: Any, k: int, run_dir: Path, sink: Any, dims: list[str],
             test_targets: tuple[Table, Table]) -> FoldResult:
    """Train (or resume, or reuse) fold k and return its stitched predictions and scores.

    test_targets: (targets, masks) of the held-out videos, loaded once per job.
    """
    head, target = _frame_head(cfg)
    fold_dir = run_dir / f"fold{k}"
    done = fold_dir / "done.json"
    dm.set_fold(k)
    if done.exists():
        _warn_if_other_code(fold_dir, k)
        oof, _ = read_table(fold_dir / "oof_predictions.csv", dims)
        test, _ = read_table(fold_dir / "test_predictions.csv", dims)
        return FoldResult(k, "cached", oof, test, json.loads(done.read_text())["scores"])
    fold_dir.mkdir(parents=True, exist_ok=True)
    if not (fold_dir / "provenance.json").exists():  # a resumed fold keeps the commit it started at
        atomic_write_text(fold_dir / "provenance.json", json.dumps({**provenance(int(cfg.seed) + k, run_dir.name),
                                                                    "fold": k}, indent=2))
    oof, test, status = _train_fold(cfg, dm, k, fold_dir, sink, head)
    oof_t, oof_m = _targets(dm, dm.split("val"), target)
    scores = {f"fold{k}/val/{key}": v for key, v in score_table(oof, oof_t, oof_m, dims).items()}
    scores.update({f"fold{k}/test/{key}": v for key, v in score_table(test, *test_targets, dims).items()})
    write_table(fold_dir / "oof_predictions.csv", oof, dims)
    write_table(fold_dir / "test_predictions.csv", test, dims)
    atomic_write_text(done, json.dumps({"fold": k, "status": status, "scores": scores}, indent=2))
    return FoldResult(k, status, oof, test, scores)


def _warn_if_other_code(fold_dir: Path, k: int) -> None:
    """Finished folds are reused by config hash; say so loudly when the code has changed since."""
    from mmer.provenance import git_commit

    recorded = json.loads((fold_dir / "provenance.json").read_text()).get("git_commit")
    current = git_commit()
    if recorded and current and recorded != current:
        log.warning("fold %d was computed at commit %s and the code is now at %s; its results are reused because "
                    "the config is unchanged. Delete %s (or set paths.output_root) to recompute it.",
                    k, recorded, current, fold_dir)


def prepare(cfg: Any) -> tuple[Any, Path]:
    """Build and check the data module (every bad-input check happens here, before any training or writing)."""
    from mmer.config import build_datamodule

    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    if dm.num_folds != cfg.cv.folds:
        raise ConfigError(f"data.num_folds={dm.num_folds} differs from cv.folds={cfg.cv.folds}")
    return dm, run_dir_for(cfg)


def run_cv(cfg: Any) -> CVResult:
    """Run (or resume) the CV job described by a composed config and return its summary."""
    from omegaconf import OmegaConf

    from mmer.loggers import MetricSink
    from mmer.report import plot_predictions, print_table, score_rows

    dm, run_dir = prepare(cfg)
    head, target = _frame_head(cfg)
    dims = dm.target_spec()[target]
    folds = list(cfg.cv.only_folds) if cfg.cv.get("only_folds") else list(range(cfg.cv.folds))
    run_dir.mkdir(parents=True, exist_ok=True)
    container = OmegaConf.to_container(cfg, resolve=True)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg))
    atomic_write_text(run_dir / "provenance.json", json.dumps(provenance(int(cfg.seed), run_dir.name), indent=2))
    log.info("run folder: %s", run_dir)

    logger_cfg = OmegaConf.to_container(cfg.logger)
    test_targets = _targets(dm, dm.split("test"), target)
    sink = MetricSink(run_dir, name=f"{cfg.name}-{run_dir.name}", config=container, **logger_cfg)
    try:
        results = []
        for k in folds:
            log.info("fold %d/%d", k + 1, cfg.cv.folds)
            results.append(run_fold(cfg, dm, k, run_dir, sink, dims, test_targets))
            log.info("fold %d: %s", k, results[-1].status)
        merged = merge_tables([r.test for r in results])
        summary = _summarise(results, merged, test_targets, dm, target, dims)
        write_table(run_dir / "merged_test_predictions.csv", merged, dims)
        if hasattr(dm, "export_predictions"):  # a dataset's own submission format, e.g. ABAW's
            dm.export_predictions(run_dir / "submission", merged)
        test_t, test_m = test_targets
        text = print_table(f"{cfg.name}: {len(results)}-fold CV ({run_dir})", score_rows(summary, folds, dims), dims)
        atomic_write_text(run_dir / "table.txt", text)
        atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
        shown = sorted(merged)[: int(cfg.cv.plot_videos)]
        plot_predictions(run_dir / "predictions.png", shown, merged, test_t, test_m, [r.test for r in results], dims)
        sink.summary(summary)
    finally:
        sink.finish()
    return CVResult(run_dir, summary, results, text)


def _summarise(results: list[FoldResult], merged: Table, test_targets: tuple[Table, Table], dm: Any, target: str,
               dims: list[str]) -> dict[str, float]:
    summary: dict[str, float] = {}
    for r in results:
        summary.update(r.scores)
    summary.update({f"cv/{k}": v for k, v in score_table(merged, *test_targets, dims).items()})
    keys = [f"ccc_{d}" for d in dims] + ["ccc_mean"]
    for key in keys:
        summary[f"cv/fold_mean_{key}"] = float(np.mean([r.scores[f"fold{r.fold}/test/{key}"] for r in results]))
    oof = {v: a for r in results for v, a in r.oof.items()}
    oof_t, oof_m = _targets(dm, [rec for rec in dm.split("trainval") if rec.id in oof], target)
    summary.update({f"cv/oof_{k}": v for k, v in score_table(oof, oof_t, oof_m, dims).items()})
    return summary
