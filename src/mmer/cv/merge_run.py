"""``mmer merge-run RUN_DIR [COPY ...]``: merge a run's finished folds without training any.

Fold jobs (``mmer cv -m cv.only_folds=[0],[1],[2]``, a SLURM array of ``cv.only_folds=[$SLURM_ARRAY_TASK_ID]``)
each merge what is done when they end; this merges again on demand, e.g. after a job was killed, and names the
folds still missing (and who is computing them). ``COPY``: other folders of the same run (folds computed on another
machine's disk); a fold missing from RUN_DIR is read there in place, and the merged outputs are written into
RUN_DIR. Folders of different runs are refused, naming the settings that differ.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmer.config.devices import world_size
from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write_text
from mmer.cv.job import CVJob
from mmer.cv.prepare import prepare, run_dir_for
from mmer.runs.folder import RunFolder, run_config
from mmer.runs.loggers import MetricSink
from mmer.runs.provenance import semantic_config


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def config_differences(a: Path, b: Path) -> list[str]:
    """What makes run folders ``a`` and ``b`` different runs: the settings their config.yaml files compute
    differently (``model.optimizer.lr: 0.001 vs 0.0001``), else that their data differ."""
    from omegaconf import OmegaConf

    sides = []
    for run in (a, b):
        cfg = OmegaConf.load(RunFolder(run).config_file)
        sides.append({**_flat(semantic_config(OmegaConf.to_container(cfg, resolve=True))),
                      "processes per optimizer step (trainer.devices x num_nodes)": world_size(cfg.trainer)})
    keys = sorted(set(sides[0]) | set(sides[1]))
    missing = "(not set)"
    diffs = [f"{k}: {sides[0].get(k, missing)} vs {sides[1].get(k, missing)}" for k in keys
             if sides[0].get(k, missing) != sides[1].get(k, missing)]
    return diffs or ["the same settings on different data (their dataset fingerprints differ)"]


def check_same_run(run_dir: Path, others: Sequence[Path]) -> None:
    """Refuse folders of other runs (another config hash) beside ``run_dir``, naming the differences."""
    for other in others:
        RunFolder(other).require_run()
        if other.name != run_dir.name:
            diffs = config_differences(run_dir, other)
            shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
            raise ConfigError(f"{other} is another run than {run_dir} (config hash {other.name} vs {run_dir.name}): "
                              f"{shown}. Only folds of one run are merged")


def merge_run(run_dir: str | Path, others: Sequence[str | Path] = (), overrides: Sequence[str] = ()) -> Any:
    """Merge every finished fold of ``run_dir`` (and of its copies ``others``) into run_dir's merged predictions,
    summary.json and table.txt; returns the :class:`mmer.cv.job.CVResult`. ``overrides``: changes to the run's config
    that leave what it computes alone (``data.root=/scratch/copy``)."""
    from omegaconf import OmegaConf

    started = time.perf_counter()
    run_dir, others = Path(run_dir), [Path(o) for o in others if Path(o).resolve() != Path(run_dir).resolve()]
    saved = run_config(run_dir, overrides)
    cfg = copy.deepcopy(saved)
    for key, value in (("accelerator", "cpu"), ("devices", 1), ("strategy", "auto"), ("num_nodes", 1)):
        cfg.trainer[key] = value  # nothing trains here: a run trained on 8 GPUs merges on a login node
    check_same_run(run_dir, others)
    dm, _ = prepare(cfg)
    expected = run_dir_for(saved, dm)
    if expected.name != run_dir.name:
        raise ConfigError(f"{run_dir}: its config.yaml with the data at data.root={cfg.data.get('root')} hashes to "
                          f"{expected.name}, not to the folder's name: these are not the data (or the code's hash "
                          f"rules) its folds were computed with. Point data.root=... at the data it trained on")
    run, copies = RunFolder(run_dir), [RunFolder(o) for o in others]
    done = {k for k in range(dm.num_folds) for r in (run, *copies) if r.fold(k).is_done}
    if not done:
        raise ConfigError(f"{run_dir}: no finished fold (fold*/done.json) in "
                          f"{', '.join(str(r.path) for r in (run, *copies))}: run `mmer cv` (or its fold jobs) first")
    for k in sorted(set(range(dm.num_folds)) - done):  # who is computing the missing ones, if anyone
        busy = run.who_computes(k)
        if busy:
            print(f"fold {k}: {busy}")
    job = CVJob.create(cfg, dm, run)
    job.started = started
    sink = MetricSink(run_dir, name=f"{cfg.name}-{run.hash}", config=OmegaConf.to_container(cfg, resolve=True),
                      **OmegaConf.to_container(cfg.logger))
    try:
        job.prepared_s = time.perf_counter() - started
        result = job.merge([], copies)
        sink.summary(result.summary)
    finally:
        sink.finish()
    sources = {f"fold{r.fold}": str(r.source.parent) for r in result.folds}  # every fold here was read from a root
    atomic_write_text(run.merged_from, json.dumps(sources, indent=2))
    return result
