"""``mmer cv -m`` / ``mmer train -m``: Hydra multirun, one CV job per combination of the swept values.

    mmer cv -m cv.only_folds=[0],[1],[2]                     one job per fold, all into one run folder
    mmer cv -m model.optimizer.lr=1e-3,1e-4 seed=0,1         four runs (four run folders)
    mmer cv -m hydra/launcher=submitit_slurm hydra.launcher.partition=gpu cv.only_folds=[0],[1],[2]
                                                             the same as SLURM jobs (pip install "mmer[slurm]")

Each job is a plain ``mmer cv`` with its overrides, run by Hydra's launcher: the basic launcher (the default) runs
them one after another in this process; hydra-submitit-launcher's ``submitit_slurm`` submits them as SLURM jobs
(``submitit_local``: as local processes). Before the first job starts every job is composed and checked, so an
override that does not compose stops the sweep with nothing trained. Hydra writes each job's config and overrides
to ``<hydra.sweep.dir>/<job>/.hydra/`` (default sweep dir: ``<paths.output_root>/multirun/<date>_<time>``); mmer
adds ``run_dir.txt`` there (the job's run folder) or ``error.txt`` (why it stopped). Fold jobs of one run share
its folder (each holds only its folds' locks) and each merges what is done when it ends, so the last merges all;
``mmer merge-run RUN_DIR`` merges again on demand.

DDP inside a job needs a launcher that starts one process per device (``submitit_slurm`` with
``hydra.launcher.tasks_per_node=N``): the basic launcher cannot, and such a job is refused before anything runs.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmer.config.checks import check_settings
from mmer.config.composer import compose, finish, is_hydra_setting
from mmer.config.devices import world_size
from mmer.config.paths import config_dir
from mmer.core.errors import ConfigError, MmerError
from mmer.core.logs import quiet_logs
from mmer.cv.job import run_cv
from mmer.cv.merge_run import config_differences
from mmer.runs.folder import RunFolder

log = logging.getLogger(__name__)

#: launchers that start every process of a multi-device job themselves (SLURM tasks): DDP works inside their jobs
PROCESS_PER_DEVICE_LAUNCHERS = ("submitit_slurm",)


def expand(overrides: Sequence[str]) -> list[list[str]]:
    """The jobs of a basic sweep: the cartesian product of every swept override's values, in Hydra's order
    (``a=1,2 b=x,y`` -> ``[a=1 b=x], [a=1 b=y], [a=2 b=x], [a=2 b=y]``). Hydra settings are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if not is_hydra_setting(o)])
    except HydraException as exc:
        raise ConfigError(f"config error: {exc}") from None
    choices = []
    for o in parsed:
        key = o.get_key_element()
        if not o.is_sweep_override():
            choices.append([o.input_line])
        elif o.is_discrete_sweep():
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            raise ConfigError(f"{o.input_line}: the basic sweeper sweeps lists of values (key=a,b,c, range(...), "
                              "choice(...)); for interval() use a W&B sweep (experiments/sweeps/)")
    return [list(job) for job in itertools.product(*choices)]


def launcher_of(overrides: Sequence[str]) -> str:
    """The Hydra launcher a multirun uses: ``hydra/launcher=NAME`` on the line, else ``basic``."""
    names = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("hydra/launcher=")]
    return names[-1] if names else "basic"


def check_jobs(overrides: Sequence[str]) -> list[tuple[list[str], Any]]:
    """Compose and check every job of the sweep (nothing runs yet); returns (job overrides, config) per job."""
    run_keys = [o for o in overrides if o.lstrip("+~").startswith("hydra.run.")]
    if run_keys:
        raise ConfigError(f"{run_keys[0]}: under -m each job's Hydra folder is <hydra.sweep.dir>/<job number>; set "
                          "hydra.sweep.dir=DIR (the run folders follow paths.output_root)")
    launcher = launcher_of(overrides)
    jobs = []
    for i, job in enumerate(expand(overrides)):
        try:
            cfg = compose(job)
            check_settings(cfg)
        except MmerError as exc:
            raise ConfigError(f"multirun job {i} ({' '.join(job)}): {exc}") from None
        if world_size(cfg.trainer) > 1 and launcher not in PROCESS_PER_DEVICE_LAUNCHERS:
            raise ConfigError(f"multirun job {i} ({' '.join(job)}): trainer.devices={cfg.trainer.devices} "
                              f"num_nodes={cfg.trainer.get('num_nodes', 1)} under hydra/launcher={launcher}, which runs one process per job; "
                              "DDP needs one per device: set trainer.devices=1 for the sweep, use "
                              "hydra/launcher=submitit_slurm hydra.launcher.tasks_per_node=N, or run each job as "
                              "its own `mmer cv trainer=ddp ...` (torchrun / srun)")
        jobs.append((job, cfg))
    return jobs


def _job(cfg: Any) -> None:
    """One multirun job (Hydra's task function): ``mmer cv`` on the job's config, noted in its Hydra folder."""
    from hydra.core.hydra_config import HydraConfig

    out = Path(HydraConfig.get().runtime.output_dir)
    quiet_logs(uses_lightning=True)  # a submitit job is a fresh process: the same log levels and filters as `mmer cv`
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)  # as `mmer cv` logs, not [HYDRA] ...
    try:
        result = run_cv(finish(cfg))
    except MmerError as exc:  # the job's own clear message; the sweep goes on with the other jobs
        log.error("error: %s", exc)
        (out / "error.txt").write_text(f"{exc}\n")
        return
    (out / "run_dir.txt").write_text(f"{result.run_dir.resolve()}\n")


def run_multirun(overrides: Sequence[str]) -> int:
    """Check every job, run the sweep under Hydra, then say which run folder each job wrote (0: every job
    finished; 2: some stopped with an error)."""
    import hydra

    overrides = list(overrides)
    jobs = check_jobs(overrides)
    if not any(o.lstrip("+").startswith("hydra.sweep.dir=") for o in overrides):
        root = Path(str(jobs[0][1].paths.output_root)).resolve()
        overrides.append(f"hydra.sweep.dir={root / 'multirun' / time.strftime('%Y-%m-%d_%H-%M-%S')}")
    sweep_dir = Path(next(o for o in overrides if o.lstrip("+").startswith("hydra.sweep.dir=")).split("=", 1)[1])
    log.info("multirun: %d jobs, all composed and checked; Hydra's job folders in %s", len(jobs), sweep_dir)
    app = hydra.main(config_path=str(config_dir()), config_name="config", version_base="1.3")(_job)
    argv = sys.argv
    sys.argv = [argv[0], "--multirun", *overrides]
    try:
        app()
    finally:
        sys.argv = argv
    return report(sweep_dir)


def report(sweep_dir: Path) -> int:
    """Print each job of a finished sweep (its overrides and run folder, or its error) and each run folder's folds;
    warn when jobs that differ only in ``cv.only_folds`` wrote different run folders."""
    import yaml

    outs = sorted((p for p in Path(sweep_dir).iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    jobs = [yaml.safe_load((o / ".hydra" / "overrides.yaml").read_text()) if (o / ".hydra").is_dir() else []
            for o in outs]
    common = set.intersection(*map(set, jobs)) if jobs else set()
    rows, folders = [], {}
    for out, job in zip(outs, jobs):
        swept = " ".join(o for o in job if o not in common) or "(no swept values)"
        if (out / "run_dir.txt").is_file():
            run = Path((out / "run_dir.txt").read_text().strip())
            rows.append(f"  job {out.name}: {swept} -> {run}")
            siblings = tuple(o for o in job if not o.startswith("cv.only_folds="))
            folders.setdefault(siblings, set()).add(run)
        else:
            why = (out / "error.txt").read_text().strip() if (out / "error.txt").is_file() else "did not finish"
            rows.append(f"  job {out.name}: {swept} -> error: {why}")
    print(f"multirun {sweep_dir}: {len(rows)} jobs", *rows, sep="\n")
    for run in sorted({r for runs in folders.values() for r in runs}):
        done = RunFolder(run).done_folds()
        print(f"  {run}: folds {done} done; summary.json merges them")
    for siblings, runs in folders.items():
        if len(runs) > 1:
            first, *rest = sorted(runs)
            why = "; ".join(config_differences(first, other)[0] for other in rest)
            log.warning("fold jobs %s wrote %d run folders, which are not merged together (%s)",
                        " ".join(siblings) or "(no other overrides)", len(runs), why)
    return 0 if all("-> error:" not in r for r in rows) else 2
