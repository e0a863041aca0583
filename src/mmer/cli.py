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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

from mmer.commands.options import MULTIRUN_HELP, add_overrides, add_run_overrides, is_override
from mmer.config import available, config_dir
from mmer.core.errors import MmerError
from mmer.core.io import NO_ROOM, output_error
from mmer.core.logs import quiet_logs


# ---------------------------------------------------------------------------------- each command's arguments
def ablate_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def ablation_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def baseline_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p, "the experiment whose windows and folds the reference uses, e.g. experiment=jmt_stress_predict")


def check_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_a", help="a run folder, or several separated by commas (a set of seed runs)")
    p.add_argument("run_b", help="the same for B; the differences are B - A")
    p.add_argument("--unit", default="recording", choices=["recording", "group"],
                   help="the independent unit resampled and permuted (group: the folds' grouping, e.g. the subject)")
    p.add_argument("--json", default=None, help="also write the differences as JSON to this file")
    p.add_argument("--plot", default="compare.png", help="the plot of the differences (default: compare.png)")
    p.add_argument("--resamples", type=int, default=2000, help="paired bootstrap resamples")
    p.add_argument("--permutations", type=int, default=5000,
                   help="permutations at most (every swap pattern when there are fewer: an exact p-value)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    add_run_overrides(p)


def config_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def cv_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cfg", choices=["job", "all"], default=None,
                   help="print the composed config (job: without the hydra section, which mmer does not use) and exit")
    p.add_argument("-m", "--multirun", action="store_true", help=MULTIRUN_HELP)
    add_overrides(p)


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["test", "trainval", "all", "oof"],
                   help="which recordings of the data to score (default: its held-out partition; oof: each fold's "
                        "model on its own validation recordings, pooled)")
    p.add_argument("--name", default=None, help="output folder RUN_DIR/evaluate/NAME (default: the data root's name)")
    p.add_argument("--perturb", action="append", default=[], metavar="MODALITY=KIND[:PARAM=VALUE]",
                   help="perturb an input at test time: audio=drop, audio=noise:snr_db=10, visual=frames:drop=0.3, "
                        "text=words:drop=0.3 (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbations")
    p.add_argument("--json", default=None, help="write the scores as JSON to this file")
    add_run_overrides(p)


def explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--split", default="val", choices=["val", "test"])
    p.add_argument("--fold", type=int, default=None)
    p.add_argument("--time-window", type=int, default=None,
                   help="steps per time window of the average distribution (default: the dataset's, 250 frames or "
                        "5 utterances)")
    p.add_argument("--scene-model", help="TorchScript scene classifier (Places365 style); needs --scene-labels")
    p.add_argument("--scene-labels")
    p.add_argument("--anp-model", help="TorchScript adjective-noun-pair scorer; needs --anp-vocab")
    p.add_argument("--anp-vocab")
    add_run_overrides(p)


def export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--fold", type=int, default=None, help="default: the first finished fold")
    p.add_argument("--format", default="torchscript", choices=["torchscript", "onnx"])
    p.add_argument("--out", default=None, help="default: RUN_DIR/export/fold<K>.<pt|onnx>")
    add_run_overrides(p)


def extract_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def fetch_weights_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="torchvision:<arch>:<WEIGHTS> (torchvision:resnet18:DEFAULT) or hf:<model id>")


def make_fixture_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="a dataset with a fixture (a wrong name lists them)")
    p.add_argument("dir")


def merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+")
    p.add_argument("-o", "--output", required=True)


def merge_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="the run folder the merge is written to, then copies of it holding other finished folds; "
                        "key=value: changes to its config (data.root=/moved/copy)")


def predict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", help="files, or folders of them (every readable file inside)")
    p.add_argument("--out", default=None, help="default: RUN_DIR/predict; inputs whose CSV is there are skipped")
    p.add_argument("--faces", default=None, help="face crops in the cropped_aligned layout: DIR/<video>/00001.jpg")
    p.add_argument("--abaw", action="store_true", help="also write the ABAW submission files (Aff-Wild2 models)")
    p.add_argument("--detector", default="mtcnn", choices=["mtcnn", "none"],
                   help="without --faces: detect faces with MTCNN (pip install --no-deps facenet-pytorch) or not")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a change to the run's config, e.g. --set trainer.accelerator=cpu")


def pretrain_arguments(p: argparse.ArgumentParser) -> None:
    add_overrides(p)


def robustness_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir")
    p.add_argument("--split", default=None, choices=["test", "oof"],
                   help="default: the held-out partition when the run has one, else out of fold")
    p.add_argument("--seed", type=int, default=0, help="seed of the perturbations")
    p.add_argument("--json", default=None, help="also write every condition's scores as JSON to this file")
    p.add_argument("--plot", default=None, help="default: RUN_DIR/robustness.png")
    add_run_overrides(p)


def summarize_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders that differ only in the seed")
    p.add_argument("--json", default=None, help="also write the aggregate as JSON to this file")


def sweep_local_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")
    p.add_argument("--count", type=int, default=4)
    add_overrides(p)


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--experiment", default=None, help="another experiment than the dataset's default")
    cv_arguments(p)


# ---------------------------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Command:
    """One ``mmer`` command: its name on the command line, its module in :mod:`mmer.commands` (whose ``run(args)
    -> int`` runs it), a one-line help, its arguments (kept here, so that ``mmer --help`` and ``mmer NAME --help``
    import no command) and whether it runs Lightning (its log levels are set before the command starts)."""

    name: str
    module: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    uses_lightning: bool = True

    def load(self) -> ModuleType:
        return importlib.import_module(f"mmer.commands.{self.module}")


COMMANDS: tuple[Command, ...] = (
    Command("train", "train", "run a dataset's default experiment (k-fold CV + merge)", train_arguments),
    Command("cv", "cv", "run a CV job from Hydra overrides (-m: one job per combination)", cv_arguments),
    Command("merge-run", "merge_run", "merge the finished folds of a run folder (and of copies of it), train none",
            merge_run_arguments),
    Command("check", "check", "fast_dev_run smoke test: one training and one validation batch of one fold",
            check_arguments),
    Command("extract", "extract", "build a dataset's feature cache (what training would do on first use)",
            extract_arguments),
    Command("pretrain", "pretrain", "adaptive-margin triplet pre-training of one modality's backbone",
            pretrain_arguments),
    Command("baseline", "baseline", "statistics + logistic regression on an experiment's windows and folds",
            baseline_arguments),
    Command("merge", "merge", "CCC-centering merge of per-fold prediction CSVs",
            merge_arguments, uses_lightning=False),
    Command("ablation", "ablation", "fusion vs single-modality ablation", ablation_arguments),
    Command("ablate", "ablate", "train and score every subset of the experiment's modalities",
            ablate_arguments),
    Command("explain", "explain", "a record and a sentence for every prediction of a finished run",
            explain_arguments),
    Command("compare", "compare", "is run B better than run A on the same items: paired intervals and p-values",
            compare_arguments),
    Command("robustness", "robustness", "the standard sweep of test-time perturbations, one modality at a time",
            robustness_arguments),
    Command("summarize", "summarize", "mean, std and 95% interval over runs that differ only in the seed",
            summarize_arguments, uses_lightning=False),
    Command("evaluate", "evaluate", "score a finished run's fold ensemble on a labelled copy of a dataset",
            evaluate_arguments),
    Command("export", "export", "export one fold's model for a fixed window (TorchScript or ONNX)",
            export_arguments),
    Command("predict", "predict", "a finished run's predictions for files without labels (videos, ...)",
            predict_arguments),
    Command("fetch-weights", "fetch_weights", "download pretrained weights by name into their cache (needs network)",
            fetch_weights_arguments, uses_lightning=False),
    Command("sweep-local", "sweep_local", "run a W&B sweep YAML offline with the sweeps engine",
            sweep_local_arguments),
    Command("config", "config", "print the resolved config", config_arguments, uses_lightning=False),
    Command("make-fixture", "make_fixture", "write a tiny dataset in an owner's on-disk layout",
            make_fixture_arguments, uses_lightning=False),
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
            command.arguments(p)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """A command line as ``mmer`` reads it (what :func:`main` runs, and what the docs' test checks every command
    shown in the docs with); a bad one exits with argparse's message (code 2)."""
    argv = list(argv)
    name = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(name if name in BY_NAME else "")
    args, extra = parser.parse_known_args(argv)
    takes = hasattr(args, "overrides")  # key=value after an option: `mmer sweep-local FILE --count 1 key=value`
    stray = [a for a in extra if not (takes and is_override(a))]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    command = BY_NAME[args.cmd]
    quiet_logs(command.uses_lightning)
    try:
        return command.load().run(args)
    except MmerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a write outside mmer's own (a library's log file): still one line, naming the file
        if exc.errno not in NO_ROOM:
            raise
        print(f"error: {output_error(Path(exc.filename or '.'), exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
