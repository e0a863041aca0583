"""``mmer evaluate RUN_DIR data.root=DIR [--split test|trainval|all] [--name NAME]``: a finished run's fold ensemble
scored on a labelled copy of a dataset, the way the CV runner scores its held-out partition.

Every fold's model predicts the chosen recordings; the folds are merged by the task's rule (CCC centering for
frame values, soft vote for classes, mean for sample values), after the same post-processing (``cv.clip_folds``,
``cv.smooth``). The table (each fold, their mean, the merge) is printed and written with the predictions, the
task's plot and ``summary.json`` to ``RUN_DIR/evaluate/<name>/``, in the CV job's key grammar
(:mod:`mmer.cv.summary`: ``fold{k}/<split>/*``, ``cv/fold_mean_*``, ``cv/*`` for the merge). Data whose modalities, input shapes, label names
or input-shaping settings differ from the checkpoints' are refused before anything is predicted.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmer.config.build import prepare_datamodule
from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write_text
from mmer.cv.summary import fold_key, fold_mean_key, has_labels, held_out_scores, merged_key
from mmer.data.perturb import Perturbation, SourceNoise, perturbed_loader
from mmer.evaluation.evaluator import evaluator_for
from mmer.evaluation.report import print_table
from mmer.evaluation.tables import write_table
from mmer.evaluation.tasks import ReportData
from mmer.runs.checkpoints import prediction_trainer
from mmer.runs.folder import load_run, strict_json

SPLITS = ("test", "trainval", "all", "oof")
#: data settings that never change what a model sees (where the data lives, how it is loaded, what is checked)
NOT_SHAPING = frozenset({"_target_", "root", "cache_dir", "batch_size", "num_workers", "pin_memory", "on_bad_input",
                         "media_tolerance", "num_folds", "seed", "test_list", "max_dialogues", "check_finite",
                         "fold0_official", "layout", "test_subjects", "num_subjects", "videos_per_subject",
                         "set_file", "label_file", "val_fraction"})


def check_matches(description: dict[str, Any], cfg: Any, dm: Any) -> None:
    """Refuse data the checkpoints were not trained for: other modalities or input specs, other label names, or
    other values of settings that shape the inputs (window, face size, audio features, ...)."""
    from dataclasses import asdict

    from omegaconf import OmegaConf

    problems = []
    spec = {m: asdict(s) for m, s in dm.input_spec().items()}
    for m, trained in description["input_spec"].items():
        if m not in spec:
            problems.append(f"modality '{m}' is missing (the data gives {sorted(spec)})")
        elif spec[m] != trained:
            problems.append(f"modality '{m}' is {spec[m]}, the model was trained on {trained}")
    targets = dm.target_spec()
    for t, names in description["target_spec"].items():
        if t in targets and list(targets[t]) != list(names):
            problems.append(f"target '{t}' has the names {list(targets[t])}, the model predicts {list(names)}")
    trained_data = description["config"].get("data", {})
    data = OmegaConf.to_container(cfg.data, resolve=True)
    for key in sorted(set(trained_data) | set(data)):
        if key not in NOT_SHAPING and trained_data.get(key) != data.get(key):
            problems.append(f"data.{key} is {data.get(key)!r}, the model was trained with {trained_data.get(key)!r}")
    if problems:
        raise ConfigError("this data does not match the run's checkpoints: " + "; ".join(problems))


@dataclass
class Evaluation:
    """A finished run opened for scoring: its fold ensemble, its data (checked against the checkpoints) and the
    tabled head's evaluator; each call scores one split, perturbed or not."""

    run: Any
    dm: Any
    ev: Any
    spread: dict = field(default_factory=dict)  # (fold, modality) -> the fold's training statistics

    @classmethod
    def open(cls, run_dir: str | Path, overrides: Sequence[str] = ()) -> Evaluation:
        run = load_run(run_dir, overrides)
        dm = prepare_datamodule(run.cfg)
        check_matches(run.description, run.cfg, dm)
        return cls(run, dm, evaluator_for(run.cfg, dm.target_spec()))

    def check(self, perturbations: Sequence[Perturbation]) -> list[str]:
        """What each perturbation does to this run's inputs (refusing those that do not fit)."""
        if sum(p.kind == "acoustic" for p in perturbations) > 1:
            raise ConfigError("--perturb: one acoustic condition at a time (it reaches every input computed from "
                              "the recording's sound)")
        return [p.check(self.dm.input_spec(), self.dm.acoustic_inputs()) for p in perturbations]

    @contextmanager
    def loading(self, recordings: Sequence[Any], perturbations: Sequence[Perturbation], seed: int) -> Iterator[None]:
        """While predicting ``recordings``: an acoustic perturbation's noise added to their sound as the data module
        loads them (:class:`~mmer.data.perturb.SourceNoise`); nothing else is perturbed at loading."""
        acoustic = [p for p in perturbations if p.kind == "acoustic"]
        if not acoustic:
            yield
            return
        self.dm.noise_at_source(SourceNoise(acoustic[0].level, seed, frozenset(r.id for r in recordings)))
        try:
            yield
        finally:
            self.dm.noise_at_source(None)

    def fitted(self, perturbations: Sequence[Perturbation], fold: int) -> list[Perturbation]:
        """The perturbations as fold ``fold``'s model meets them: noise on features scaled to that fold's training
        recordings (:meth:`Perturbation.fitted`; each fold's statistics read once, whatever the number of
        conditions). Leaves the data module on that fold."""
        self.dm.set_fold(fold)

        def statistics(modality: str) -> tuple:
            if (fold, modality) not in self.spread:
                self.spread[fold, modality] = self.dm.input_statistics(modality)
            return self.spread[fold, modality]

        return [p.fitted(self.dm.input_spec(), statistics) for p in perturbations]

    def held_out(self, split: str, perturbations: Sequence[Perturbation] = (), seed: int = 0) -> tuple:
        """The fold ensemble on ``split`` (test, trainval, all): (summary, fold tables, merged table, targets,
        recordings)."""
        dm, ev, cfg = self.dm, self.ev, self.run.cfg
        recordings = dm.recordings if split == "all" else dm.split(split)
        if not recordings:
            raise ConfigError(f"the data ({cfg.data.get('root') or 'generated'}) has no '{split}' recordings; choose "
                              f"another --split (oof: each fold's own validation recordings)")
        targets = ev.targets(dm, recordings)
        if not has_labels(targets):
            raise ConfigError(f"the '{split}' recordings carry no labels to score; use `mmer predict` for unlabelled "
                              f"data")
        trainer = prediction_trainer(cfg, bool(cfg.trainer.enable_progress_bar))
        tables = {}
        for k, model in self.run.models():
            loader = perturbed_loader(dm.predict_loader(recordings), self.fitted(perturbations, k), seed)
            with self.loading(recordings, perturbations, seed):
                tables[k] = ev.table(trainer.predict(model, dataloaders=loader), recordings)
        merged = ev.merge(list(tables.values()))
        scored = {k: ev.score(table, *targets) for k, table in tables.items()}
        return held_out_scores(scored, ev.score(merged, *targets), split), tables, merged, targets, recordings

    def out_of_fold(self, perturbations: Sequence[Perturbation] = (), seed: int = 0) -> dict[str, float]:
        """Each fold's model on its own validation recordings (the folds as the run dealt them), pooled and scored:
        ``cv/oof_<score>``, the run's own out-of-fold protocol (its summary's numbers when nothing is perturbed)."""
        dm, ev = self.dm, self.ev
        trainer = prediction_trainer(self.run.cfg, False)
        pooled: dict = {}
        for k, model in self.run.models():
            fitted = self.fitted(perturbations, k)  # on fold k now
            recordings = dm.split("val")
            loader = perturbed_loader(dm.predict_loader(recordings), fitted, seed)
            with self.loading(recordings, perturbations, seed):
                pooled.update(ev.table(trainer.predict(model, dataloaders=loader), recordings))
        targets = ev.targets(dm, [r for r in dm.split("trainval") if r.id in pooled])
        return {f"cv/oof_{k}": v for k, v in ev.score(pooled, *targets).items()}

    def scores(self, split: str, perturbations: Sequence[Perturbation] = (), seed: int = 0) -> dict[str, float]:
        """The summary's scores of ``split`` (``oof``: out of fold; else the fold ensemble's)."""
        if split == "oof":
            return self.out_of_fold(perturbations, seed)
        return self.held_out(split, perturbations, seed)[0]


def evaluate_run(run_dir: str | Path, overrides: Sequence[str] = (), split: str = "test",
                 name: str | None = None, perturb: Sequence[str] = (), seed: int = 0,
                 write: bool = True) -> tuple[dict[str, float], Path]:
    """Score the run's fold ensemble (module doc); returns (summary, output folder). ``perturb``: perturbations of
    the inputs (:mod:`mmer.data.perturb`, ``audio=noise:snr_db=10``), drawn from ``seed``; ``write``: the outputs
    below (not for perturbed or out-of-fold scores, which are printed and returned)."""

    if split not in SPLITS:
        raise ConfigError(f"--split {split}: choose one of {list(SPLITS)}")
    perturbations = [Perturbation.parse(p) for p in perturb]
    evaluation = Evaluation.open(run_dir, overrides)
    for p, effect in zip(perturbations, evaluation.check(perturbations)):
        print(f"perturbed: {p.label}: {effect}")
    run, ev, cfg = evaluation.run, evaluation.ev, evaluation.run.cfg
    if split == "oof":
        return evaluation.out_of_fold(perturbations, seed), run.run.path
    summary, tables, merged, targets, recordings = evaluation.held_out(split, perturbations, seed)
    if not write:
        return summary, run.run.path
    keys = ev.score_keys
    name = name or Path(str(cfg.data.get("root") or "data")).name
    out = run.run.evaluate_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    rows = [(f"fold {k}", [summary[fold_key(k, split, c)] for c in keys]) for k in tables]
    rows += [("mean of single folds", [summary[fold_mean_key(c)] for c in keys]),
             (ev.merge_name, [summary[merged_key(c)] for c in keys])]
    where = cfg.data.get("root") or cfg.data._target_.rsplit(".", 1)[-1]
    text = print_table(f"{cfg.name}: {len(tables)} folds on {len(recordings)} '{split}' recordings of {where}", rows,
                       keys)
    for k, table in tables.items():
        write_table(out / f"fold{k}_predictions.csv", table, ev.columns)
    write_table(out / "merged_predictions.csv", merged, ev.columns)
    if ev.task.plot is not None:
        pred, true = ev.labelled_rows(merged, *targets)
        ev.task.plot(out, ev.columns, ReportData(f"{cfg.name} on {name}", merged, *targets, list(tables.values()),
                                                  pred, true, int(cfg.cv.plot_videos)))
    atomic_write_text(out / "table.txt", text)
    protocol = {"evaluation": f"the fold ensemble ({len(tables)} folds, {ev.merge_name}) on the {len(recordings)} "
                              f"'{split}' recordings of {where}", "metrics": ev.task.definition(ev.columns)}
    atomic_write_text(out / "summary.json", strict_json({"run": str(run_dir), "split": split, "folds": list(tables),
                                                          "data": str(cfg.data.get("root")), "scores": summary,
                                                          "protocol": protocol}))
    print(f"written to {out}")
    return summary, out



def run(args: argparse.Namespace) -> int:
    summary, out = evaluate_run(args.run_dir, args.overrides, args.split, args.name, args.perturb, args.seed,
                                write=not args.perturb and args.split != "oof")
    if args.perturb or args.split == "oof":
        keys = [k for k in summary if k.startswith("cv/")]
        print_table(f"{Path(args.run_dir).name}: {args.split}" + (f", perturbed: {', '.join(args.perturb)}"
                                                                   if args.perturb else ""),
                    [("scores", [summary[k] for k in keys])], keys)
    if args.json:
        atomic_write_text(Path(args.json), strict_json({"run": str(args.run_dir), "split": args.split,
                                                        "perturb": list(args.perturb), "seed": args.seed,
                                                        "scores": summary}))
    return 0
