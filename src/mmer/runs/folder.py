"""The run folder: the one type that knows a run's layout, its folds' states, their locks and how to load a fold's
model. Every command reads and writes runs through it, never through path strings of its own::

    <paths.output_root>/<name>/<config hash>/      RunFolder
        config.yaml  provenance.json  metrics.csv
        fold<k>/                                   FoldFolder
            provenance.json
            checkpoints/best.ckpt  last.ckpt       last.ckpt only while the fold is not done
            trained.json                           training finished: which checkpoint predicts
            oof_predictions.csv  test_predictions.csv
            done.json                              the fold's scores; written last: its presence means done
        merged_test_predictions.csv  submission/   the held-out merge (and a dataset's submission files)
        summary.json  table.txt  *.png            the run's scores, its table and its plot
        merged_from.json                           where `mmer merge-run` read each fold
        locks/                                     one OS lock per fold, and the merge's
        evaluate/<name>/  predict/  explain/<split>/  export/

A fold is ``new`` (nothing yet), ``resumable`` (killed while training: ``last.ckpt``), ``trained`` (killed after
training, before its predictions were written: predicted again, never trained again) or ``done`` (never
recomputed).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from omegaconf import OmegaConf

from mmer.config.trust import check_targets
from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write, atomic_write_text, remove_leftover_temporaries
from mmer.core.locks import RunBusyError, RunLock
from mmer.model.description import DESCRIPTION_KEY
from mmer.runs.checkpoints import load_module, read_checkpoint
from mmer.runs.names import current_names

FoldState = Literal["new", "resumable", "trained", "done"]
#: a done fold's files that the merge and the tables read: done.json records their size and sha256, and a reuse
#: checks them first (a run folder written before the records existed is trusted as before)
VERIFIED_FILES = ("oof_predictions.csv", "test_predictions.csv")


def file_record(path: Path) -> dict[str, Any]:
    """{"bytes", "sha256"} of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def strict_json(values: Any) -> str:
    """JSON that strict parsers read: an undefined score (NaN, e.g. a CCC of two constant series) is null
    (:meth:`FoldFolder.scores` turns it back into NaN)."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return None if isinstance(v, float) and not math.isfinite(v) else v

    return json.dumps(clean(values), indent=2, allow_nan=False)


def read_scores(path: Path) -> dict[str, float]:
    """The ``scores`` of a done.json or summary-like file (null: NaN)."""
    return {k: float("nan") if v is None else v for k, v in json.loads(path.read_text())["scores"].items()}


@dataclass(frozen=True)
class FoldFolder:
    """``<run>/fold<k>/``: one fold's checkpoints, predictions and state."""

    path: Path
    index: int

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.ckpt"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def provenance_file(self) -> Path:
        return self.path / "provenance.json"

    @property
    def oof_predictions(self) -> Path:
        return self.path / "oof_predictions.csv"

    @property
    def test_predictions(self) -> Path:
        return self.path / "test_predictions.csv"

    @property
    def done_file(self) -> Path:
        return self.path / "done.json"

    @property
    def trained_file(self) -> Path:
        return self.path / "trained.json"

    @property
    def state(self) -> FoldState:
        if self.done_file.is_file():
            return "done"
        if self.trained_file.is_file():
            return "trained"
        return "resumable" if self.last.is_file() else "new"

    @property
    def is_done(self) -> bool:
        return self.done_file.is_file()

    def trained_checkpoint(self) -> Path:
        """The checkpoint a trained fold predicts with (``trained.json``)."""
        return self.path / json.loads(self.trained_file.read_text())["best"]

    def mark_trained(self, status: str, best: Path) -> None:
        kept = str(best.resolve().relative_to(self.path.resolve()))
        atomic_write_text(self.trained_file, json.dumps({"fold": self.index, "status": status, "best": kept}))

    def mark_done(self, status: str, scores: dict[str, float]) -> None:
        """Write done.json (last: its presence means done) with the fold's scores and the records of its
        :data:`VERIFIED_FILES`."""
        files = {name: file_record(self.path / name) for name in VERIFIED_FILES if (self.path / name).is_file()}
        atomic_write_text(self.done_file, strict_json({"fold": self.index, "status": status, "scores": scores,
                                                       "files": files}))

    def damage(self) -> list[str]:
        """What changed in a done fold since it finished: each of its recorded files that is missing, empty or not
        the bytes done.json records, or a done.json that cannot be read. Empty when intact (and for a done.json
        written before the records existed)."""
        try:
            record = json.loads(self.done_file.read_text())
            files = record.get("files")
            record["scores"].items()
        except (OSError, ValueError, KeyError, AttributeError, TypeError):
            return [f"{self.done_file}: not a readable completion record"]
        problems = []
        for name, want in (files or {}).items():
            path = self.path / name
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif path.stat().st_size == 0:
                problems.append(f"{path}: empty")
            elif file_record(path) != want:
                problems.append(f"{path}: changed since the fold finished ({want['bytes']} bytes then, "
                                f"{path.stat().st_size} now)")
        return problems

    def reopen(self) -> None:
        """Turn a damaged done fold back into a trained one: its predictions are recomputed from its best
        checkpoint, never its training. trained.json is written before done.json goes, so a crash in between
        leaves a done fold whose damage is found again."""
        if not self.best.is_file():
            raise ConfigError(f"fold {self.index} ({self.path}) has damaged predictions and no checkpoints/best.ckpt "
                              f"to recompute them from: delete {self.path} to train that fold again")
        read_checkpoint(self.best)  # one line naming the file when it cannot be read either
        self.mark_trained("reopened", self.best)
        self.done_file.unlink()

    def scores(self) -> dict[str, float]:
        return read_scores(self.done_file)

    def recorded_commit(self) -> str | None:
        if not self.provenance_file.is_file():
            return None
        return json.loads(self.provenance_file.read_text()).get("git_commit")

    def slim_checkpoints(self) -> None:
        """Shrink a finished fold's checkpoints: delete last.ckpt (only a killed fold resumes from it) and drop the
        optimizer and scheduler state from best.ckpt, rewritten atomically (a crash leaves the old file).

        Called only after done.json is written, so an interrupted slimming can cost disk space, never a result.
        """
        self.last.unlink(missing_ok=True)
        if not self.best.is_file():
            return
        state = torch.load(self.best, map_location="cpu", weights_only=True)  # never unpickle code from a run folder
        if not {"optimizer_states", "lr_schedulers"} & set(state):
            return
        for key in ("optimizer_states", "lr_schedulers"):
            state.pop(key, None)
        atomic_write(self.best, lambda tmp: torch.save(state, tmp))

    def lock(self) -> RunLock:
        """This fold's lock, ``<run>/locks/fold<k>.lock``, held while a job computes it."""
        run = self.path.parent
        return RunLock(run, f"fold{self.index}", f"fold {self.index} of {run}")


@dataclass(frozen=True)
class RunFolder:
    """``<paths.output_root>/<name>/<config hash>/`` (module doc)."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))  # a str from the command line

    @property
    def hash(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def provenance_file(self) -> Path:
        return self.path / "provenance.json"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def table_file(self) -> Path:
        return self.path / "table.txt"

    @property
    def merged_test_predictions(self) -> Path:
        return self.path / "merged_test_predictions.csv"

    @property
    def submission(self) -> Path:
        return self.path / "submission"

    @property
    def merged_from(self) -> Path:
        return self.path / "merged_from.json"

    def evaluate_dir(self, name: str) -> Path:
        return self.path / "evaluate" / name

    def explain_dir(self, split: str) -> Path:
        return self.path / "explain" / split

    @property
    def predict_dir(self) -> Path:
        return self.path / "predict"

    def export_file(self, fold: int, suffix: str) -> Path:
        return self.path / "export" / f"fold{fold}.{suffix}"

    def fold(self, k: int) -> FoldFolder:
        return FoldFolder(self.path / f"fold{k}", k)

    def folds(self) -> list[FoldFolder]:
        """Every fold folder present, in fold order."""
        found = [p for p in self.path.glob("fold*") if p.is_dir() and p.name[4:].isdigit()]
        return sorted((FoldFolder(p, int(p.name[4:])) for p in found), key=lambda f: f.index)

    def done_folds(self) -> list[int]:
        return [f.index for f in self.folds() if f.is_done]

    def require_run(self) -> None:
        if not self.config_file.is_file():
            raise ConfigError(f"{self.path}: not a run folder (no config.yaml); give the folder `mmer train` printed")

    def load_model(self, k: int) -> Any:
        """Fold k's model, the one way: rebuilt from the description its ``best.ckpt`` carries (in eval mode, on the
        CPU), its saved component names migrated (:mod:`mmer.runs.names`)."""
        return load_module(self.fold(k).best)

    def ensemble(self, overrides: Sequence[str] = ()) -> TrainedRun:
        """Every finished fold with the run's config (:func:`load_run`)."""
        return load_run(self.path, overrides)

    def finished_checkpoints(self) -> dict[int, Path]:
        """{fold: best.ckpt} of every done fold; a done fold without its checkpoint, or no done fold, is refused."""
        checkpoints = {k: self.fold(k).best for k in self.done_folds()}
        missing = [k for k, c in checkpoints.items() if not c.is_file()]
        if missing:
            raise ConfigError(f"{self.path}: finished fold(s) {missing} have no checkpoints/best.ckpt (deleted?); "
                              f"rerun `mmer train` with the same settings to recompute them")
        if not checkpoints:
            raise ConfigError(f"{self.path}: no finished fold (fold*/done.json with checkpoints/best.ckpt); finish "
                              f"the run first")
        return checkpoints

    # ---------------------------------------------------------------------------------------------------- locks
    def lock_folds(self, folds: list[int], wait: bool = False) -> list[RunLock]:
        """Take every fold's lock (all or none: a busy fold releases the ones already taken). One writer per fold:
        a second job on the same fold stops at once naming the holder, or waits (``cv.wait_for_lock=true``)."""
        taken: list[RunLock] = []
        try:
            for k in folds:
                taken.append(self.fold(k).lock().acquire(wait))
        except BaseException:
            for lock in taken:
                lock.release()
            raise
        return taken

    def who_computes(self, k: int) -> str | None:
        """The busy message of fold k's lock, or None when no process holds it."""
        try:
            self.fold(k).lock().acquire().release()
        except RunBusyError as exc:
            return str(exc)
        return None

    @contextmanager
    def merge_lock(self) -> Iterator[RunLock]:
        """Held while a job reads the finished folds and writes the run's merged outputs (seconds): waits its turn,
        so of fold jobs running side by side the last to finish merges all of them."""
        lock = RunLock(self.path, "merge", f"the merge of {self.path}").acquire(wait=True)
        try:
            yield lock
        finally:
            lock.release()

    def remove_leftovers(self, folds: list[int], whole_run: bool) -> list[Path]:
        """What killed atomic writes left: in the given folds (whose locks the caller holds), and beside them when
        the caller holds every fold."""
        found = [p for k in folds for p in remove_leftover_temporaries(self.fold(k).path)]
        if whole_run:
            found += remove_leftover_temporaries(self.path, recursive=False)
        return found


def run_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> Any:
    """A run folder's config.yaml with dotted ``overrides`` (``data.root=/new/place``), refused if it would build
    an object outside the trusted packages."""
    run = RunFolder(run_dir)
    run.require_run()
    saved = OmegaConf.create(current_names(OmegaConf.to_container(OmegaConf.load(run.config_file))))
    cfg = OmegaConf.merge(saved, OmegaConf.from_dotlist(list(overrides)))
    check_targets(cfg, str(run.config_file))
    return cfg


@dataclass
class TrainedRun:
    """A run folder's finished folds: ``checkpoints`` {fold: best.ckpt}, the config (with any overrides) and the
    model description of its first checkpoint."""

    run: RunFolder
    cfg: Any
    checkpoints: dict[int, Path]
    description: dict[str, Any]

    def models(self) -> Iterator[tuple[int, Any]]:
        """(fold, module in eval mode) in fold order, loaded one at a time."""
        for k in self.checkpoints:
            yield k, self.run.load_model(k)

    @property
    def run_dir(self) -> Path:
        return self.run.path


def load_run(run_dir: str | Path, overrides: Sequence[str] = ()) -> TrainedRun:
    """The fold ensemble of a run folder: every fold with ``done.json`` and ``checkpoints/best.ckpt``."""
    run = RunFolder(run_dir)
    cfg = run_config(run.path, overrides)
    checkpoints = run.finished_checkpoints()
    description = read_checkpoint(next(iter(checkpoints.values())))[DESCRIPTION_KEY]
    return TrainedRun(run, cfg, checkpoints, description)
