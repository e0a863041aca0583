"""``mmer``: the console script, a table of commands (:data:`COMMANDS`). Each command is one module of
:mod:`mmer.commands` with ``HELP``, ``arguments(parser)`` and ``run(args) -> int``; only the module of the command
being run is imported, so ``mmer --help`` stays quick. ``key=value`` overrides may stand anywhere on the line.

    mmer train [--dataset synthetic] [--experiment NAME] [key=value ...]   the dataset's default CV job
    mmer cv -m cv.only_folds=[0],[1] [key=a,b ...]                         Hydra multirun: one CV job per value
    mmer evaluate RUN_DIR data.root=DIR [--split test|trainval|all]        a run's fold ensemble on labelled data
    mmer predict RUN_DIR INPUT... [--out DIR] [--faces DIR] [--abaw]       predictions for files without labels
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import yaml

from mmer.commands.options import is_override
from mmer.config import available, config_dir
from mmer.core.errors import MmerError
from mmer.core.logs import quiet_logs


@dataclass(frozen=True)
class Command:
    """One ``mmer`` command: its name on the command line, its module in :mod:`mmer.commands`, a one-line help
    (kept here so that ``mmer --help`` imports no command) and whether it runs Lightning (its log levels are set
    before the command starts)."""

    name: str
    module: str
    help: str
    uses_lightning: bool = True

    def load(self) -> ModuleType:
        return importlib.import_module(f"mmer.commands.{self.module}")


COMMANDS: tuple[Command, ...] = (
    Command("train", "train", "run a dataset's default experiment (k-fold CV + merge)"),
    Command("cv", "cv", "run a CV job from Hydra overrides (-m: one job per combination)"),
    Command("merge-run", "merge_run", "merge the finished folds of a run folder (and of copies of it), train none"),
    Command("check", "check", "fast_dev_run smoke test: one training and one validation batch of one fold"),
    Command("extract", "extract", "build a dataset's feature cache (what training would do on first use)"),
    Command("pretrain", "pretrain", "adaptive-margin triplet pre-training of one modality's backbone"),
    Command("merge", "merge", "CCC-centering merge of per-fold prediction CSVs", uses_lightning=False),
    Command("ablation", "ablation", "fusion vs single-modality ablation"),
    Command("ablate", "ablate", "train and score every subset of the experiment's modalities"),
    Command("explain", "explain", "a record and a sentence for every prediction of a finished run"),
    Command("evaluate", "evaluate", "score a finished run's fold ensemble on a labelled copy of a dataset"),
    Command("export", "export", "export one fold's model for a fixed window (TorchScript or ONNX)"),
    Command("predict", "predict", "a finished run's predictions for files without labels (videos, ...)"),
    Command("fetch-weights", "fetch_weights", "download pretrained weights by name into their cache (needs network)", uses_lightning=False),
    Command("sweep-local", "sweep_local", "run a W&B sweep YAML offline with the sweeps engine"),
    Command("config", "config", "print the resolved config", uses_lightning=False),
    Command("make-fixture", "make_fixture", "write a tiny dataset in an owner's on-disk layout", uses_lightning=False),
)
BY_NAME = {c.name: c for c in COMMANDS}
DESCRIPTION = ("mmer: multimodal emotion recognition on PyTorch Lightning. `mmer COMMAND --help` shows a command's "
               "options.")


def catalogue() -> str:
    """The datasets (with their default experiments) and experiments, for ``--help``."""
    try:
        datasets = yaml.safe_load((config_dir() / "datasets.yaml").read_text())
        experiments = available("experiment")
    except (MmerError, OSError) as exc:
        return f"(no experiments listed: {exc})"
    width = max(map(len, datasets))
    lines = ["datasets (mmer train --dataset NAME; its default experiment):"]
    lines += [f"  {name:<{width}}  {exp}" for name, exp in datasets.items()]
    lines.append("experiments (experiment=NAME, or mmer train --experiment NAME):")
    lines += [f"  {', '.join(experiments[i:i + 6])}" for i in range(0, len(experiments), 6)]
    lines.append("overrides: Hydra key=value anywhere on the line, e.g. trainer.max_epochs=5 logger=csv")
    return "\n".join(lines)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``mmer`` parser: every command by name; the arguments of ``only`` (every command's when None, as the
    docs' command reference reads them). Each subcommand's ``--help`` lists the datasets and experiments."""
    epilog = catalogue()
    formatter = argparse.RawTextHelpFormatter
    parser = argparse.ArgumentParser(prog="mmer", description=DESCRIPTION, formatter_class=formatter, epilog=epilog)
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help, epilog=epilog,
                           formatter_class=formatter)
        if only is None or command.name == only:
            command.load().arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(name if name in BY_NAME else "")
    args, extra = parser.parse_known_args(argv)
    takes = hasattr(args, "overrides")  # key=value after an option: `mmer sweep-local FILE --count 1 key=value`
    stray = [a for a in extra if not (takes and is_override(a))]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    command = BY_NAME[args.cmd]
    quiet_logs(command.uses_lightning)
    try:
        return command.load().run(args)
    except MmerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
