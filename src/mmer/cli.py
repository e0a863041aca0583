"""``mmer`` console script: thin subcommands over library functions (which the tests call directly).

    mmer train [--dataset synthetic] [--experiment NAME] [key=value ...]   the dataset's default CV job
    mmer cv [key=value ...]                                                a CV job from explicit overrides
    mmer cv -m cv.only_folds=[0],[1] [key=a,b ...]                         Hydra multirun: one CV job per value
    mmer merge-run RUN_DIR [COPY ...]                                      merge a run's finished folds, train none
    mmer check [key=value ...]                                             fast_dev_run of one fold (smoke test)
    mmer extract [key=value ...]                                           build the dataset's feature cache
    mmer pretrain experiment=m2fnet_meld_av pretrain.modality=audio        triplet pre-training of one extractor
    mmer merge fold0.csv fold1.csv ... -o merged.csv                       CCC-centering merge of prediction CSVs
    mmer ablation [key=value ...]                                          fusion vs single-modality table
    mmer ablate experiment=emersk_groupwalk [key=value ...]                every subset of the modalities
    mmer explain RUN_DIR [--split val|test] [--scene-model M.pt ...]       explanations of a run's predictions
    mmer evaluate RUN_DIR data.root=DIR [--split test|trainval|all]        a run's fold ensemble on labelled data
    mmer export RUN_DIR [--fold K] [--format torchscript|onnx]             one fold's model for a fixed window
    mmer predict RUN_DIR INPUT... [--out DIR] [--faces DIR] [--abaw]       predictions for files without labels
    mmer fetch-weights torchvision:ARCH:NAME | hf:MODEL_ID                 pretrained weights into their cache
    mmer sweep-local SWEEP.yaml [--count N] [key=value ...]                a W&B sweep YAML, offline
    mmer config [key=value ...]                                            print the resolved config
    mmer make-fixture affwild2|biovid|meld|iemocap|groupwalk|egait|emer|ravdess DIR   a tiny dataset in the real layout
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from mmer.core.errors import MmerError

TRAINING = ("train", "cv", "merge-run", "check", "extract", "pretrain", "ablation", "ablate", "explain", "sweep-local", "evaluate",
            "export", "predict")


def quiet_logs(cmd: str) -> None:
    """What every command logs: its own INFO lines; Lightning at WARNING; known noise filtered."""
    if cmd in TRAINING:  # only they need Lightning (seconds to import): `mmer config` stays quick
        import lightning  # noqa: F401  (it sets its own log levels on import: override them after)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # DDP: the training losses are this rank's on purpose (module.MultimodalModule._shared_step)
    warnings.filterwarnings("ignore", message=r".*self.log\('train/loss[^']*', \.\.\., sync_dist=True\).*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")


def fast_dev_run(overrides: Sequence[str] = (), fold: int = 0) -> dict[str, float]:
    """One training and one validation batch of one fold, nothing written to the run folders."""
    import tempfile

    import lightning as L

    from mmer.config.compose import build_module, compose, prepare_datamodule

    cfg = compose(overrides)
    dm = prepare_datamodule(cfg, fold=fold)
    model = build_module(cfg, dm.input_spec(), dm.target_spec())
    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(**{**cfg.trainer, "enable_progress_bar": False}, fast_dev_run=True, logger=False,
                            default_root_dir=tmp)
        trainer.fit(model, datamodule=dm)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


def extract(overrides: Sequence[str] = ()) -> int:
    """Run the data module's extraction (``prepare_data``) with its progress bar; returns the recording count."""
    from mmer.config.compose import compose, prepare_datamodule

    return len(prepare_datamodule(compose(overrides)).recordings)


def catalogue() -> str:
    """The datasets (with their default experiments) and experiments, for ``--help``."""
    from mmer.config import compose as config

    try:
        import yaml

        datasets = yaml.safe_load((config.config_dir() / "datasets.yaml").read_text())
        experiments = config.available("experiment")
    except (MmerError, OSError) as exc:
        return f"(no experiments listed: {exc})"
    width = max(map(len, datasets))
    lines = ["datasets (mmer train --dataset NAME; its default experiment):"]
    lines += [f"  {name:<{width}}  {exp}" for name, exp in datasets.items()]
    lines.append("experiments (experiment=NAME, or mmer train --experiment NAME):")
    lines += [f"  {', '.join(experiments[i:i + 6])}" for i in range(0, len(experiments), 6)]
    lines.append("overrides: Hydra key=value anywhere on the line, e.g. trainer.max_epochs=5 logger=csv")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    takes = hasattr(args, "overrides")  # key=value after an option: `mmer sweep-local FILE --count 1 key=value`
    stray = [a for a in extra if not (takes and is_override(a))]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    quiet_logs(args.cmd)
    try:
        return _dispatch(args)
    except MmerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def is_override(arg: str) -> bool:
    """A Hydra override: ``key=value``, ``+key=value``, ``~key``."""
    return not arg.startswith("-") and ("=" in arg or arg.startswith("~"))


MULTIRUN_HELP = ("Hydra multirun: one CV job per combination of the comma-separated values (cv.only_folds=[0],[1]: "
                 "a job per fold); hydra/launcher=submitit_slurm runs them as SLURM jobs (pip install 'mmer[slurm]')")


def build_parser() -> argparse.ArgumentParser:
    """The ``mmer`` parser; every subcommand's ``--help`` lists the datasets and experiments."""
    epilog = catalogue()
    formatter = argparse.RawTextHelpFormatter
    parser = argparse.ArgumentParser(prog="mmer", description=__doc__, formatter_class=formatter, epilog=epilog)
    sub = parser.add_subparsers(dest="cmd", required=True)
    real_add = sub.add_parser
    sub.add_parser = lambda *a, **kw: real_add(*a, **{"epilog": epilog, "formatter_class": formatter, **kw})
    p = sub.add_parser("train", help="run a dataset's default experiment (k-fold CV + merge)")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--experiment", default=None, help="another experiment than the dataset's default")
    p.add_argument("--cfg", choices=["job", "all"], default=None,
                   help="print the composed config (job: without the hydra section, which mmer does not use) and exit")
    p.add_argument("-m", "--multirun", action="store_true", help=MULTIRUN_HELP)
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("cv", help="run a CV job from Hydra overrides")
    p.add_argument("--cfg", choices=["job", "all"], default=None, help="print the composed config and exit")
    p.add_argument("-m", "--multirun", action="store_true", help=MULTIRUN_HELP)
    p.add_argument("overrides", nargs="*")
    p = sub.add_parser("merge-run", help="merge the finished folds of a run folder (and of copies of it), train none")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="the run folder the merge is written to, then copies of it holding other finished folds; "
                        "key=value: changes to its config (data.root=/moved/copy)")
    for name, text in (("check", "fast_dev_run smoke test"),
                       ("extract", "build a dataset's feature cache (what training would do on first use)"),
                       ("pretrain", "adaptive-margin triplet pre-training of one modality's backbone"),
                       ("ablation", "fusion vs single-modality ablation"),
                       ("ablate", "train and score every subset of the experiment's modalities"),
                       ("config", "print the resolved config")):
        sub.add_parser(name, help=text).add_argument("overrides", nargs="*")
    p = sub.add_parser("merge", help="CCC-centering merge of per-fold prediction CSVs")
    p.add_argument("files", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p = sub.add_parser("make-fixture", help="write a tiny dataset in an owner's on-disk layout")
    p.add_argument("dataset")
    p.add_argument("dir")
    p = sub.add_parser("explain", help="a record and a sentence for every prediction of a finished run")
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
    p.add_argument("overrides", nargs="*", help="changes to the run's config, e.g. data.root=/new/place")
    p = sub.add_parser("evaluate", help="score a finished run's fold ensemble on a labelled copy of a dataset")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", choices=["test", "trainval", "all"],
                   help="which recordings of the data to score (default: its held-out partition)")
    p.add_argument("--name", default=None, help="output folder RUN_DIR/evaluate/NAME (default: the data root's name)")
    p.add_argument("overrides", nargs="*", help="changes to the run's config, e.g. data.root=/labelled/copy")
    p = sub.add_parser("export", help="export one fold's model for a fixed window (TorchScript or ONNX)")
    p.add_argument("run_dir")
    p.add_argument("--fold", type=int, default=None, help="default: the first finished fold")
    p.add_argument("--format", default="torchscript", choices=["torchscript", "onnx"])
    p.add_argument("--out", default=None, help="default: RUN_DIR/export/fold<K>.<pt|onnx>")
    p.add_argument("overrides", nargs="*", help="changes to the run's config, e.g. data.root=/new/place")
    p = sub.add_parser("predict", help="a finished run's predictions for files without labels (videos, ...)")
    p.add_argument("run_dir")
    p.add_argument("inputs", nargs="+", help="files, or folders of them (every readable file inside)")
    p.add_argument("--out", default=None, help="default: RUN_DIR/predict; inputs whose CSV is there are skipped")
    p.add_argument("--faces", default=None, help="face crops in the cropped_aligned layout: DIR/<video>/00001.jpg")
    p.add_argument("--abaw", action="store_true", help="also write the ABAW submission files (Aff-Wild2 models)")
    p.add_argument("--detector", default="mtcnn", choices=["mtcnn", "none"],
                   help="without --faces: detect faces with MTCNN (pip install --no-deps facenet-pytorch) or not")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a change to the run's config, e.g. --set trainer.accelerator=cpu")
    p = sub.add_parser("fetch-weights", help="download pretrained weights by name into their cache (needs network)")
    p.add_argument("spec", help="torchvision:<arch>:<WEIGHTS> (torchvision:resnet18:DEFAULT) or hf:<model id>")
    p = sub.add_parser("sweep-local", help="run a W&B sweep YAML offline with the sweeps engine")
    p.add_argument("file")
    p.add_argument("--count", type=int, default=4)
    p.add_argument("overrides", nargs="*")
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    from mmer.config import compose as config
    from mmer.core.errors import ConfigError

    if args.cmd in ("train", "cv"):
        from omegaconf import OmegaConf

        overrides = list(args.overrides)
        if args.cmd == "train":
            overrides.insert(0, f"experiment={args.experiment or config.default_experiment(args.dataset)}")
        fdr = [o for o in overrides if o.replace(" ", "") == "debug=fdr"]
        if args.multirun:
            if args.cfg or fdr:
                raise ConfigError(f"{'--cfg' if args.cfg else 'debug=fdr'} looks at one composed config: drop -m")
            from mmer.cv.multirun import run_multirun

            return run_multirun(overrides)
        if fdr:  # the lightning-hydra-template alias: one training and one validation batch of one fold
            metrics = fast_dev_run([o for o in overrides if o not in fdr])
            print({k: round(v, 4) for k, v in metrics.items()})
            return 0
        cfg = config.compose(overrides)
        if args.cfg:  # Hydra's --cfg: show what would run, run nothing (mmer composes no hydra section)
            print(OmegaConf.to_yaml(cfg))
            return 0
        from mmer.cv.runner import run_cv

        run_cv(cfg)
    elif args.cmd == "check":
        metrics = fast_dev_run(args.overrides)
        print({k: round(v, 4) for k, v in metrics.items()})
    elif args.cmd == "extract":
        print(f"cache ready: {extract(args.overrides)} recordings")
    elif args.cmd == "pretrain":
        from mmer.commands.pretrain import run_pretrain

        run_pretrain(config.compose(args.overrides))
    elif args.cmd == "ablation":
        from mmer.commands.ablation import run_ablation

        run_ablation(args.overrides)
    elif args.cmd == "ablate":
        from mmer.commands.ablation import run_subsets

        run_subsets(args.overrides)
    elif args.cmd == "explain":
        from mmer.commands.explain import explain_run
        from mmer.model.scene_scorers import SceneScorer

        scene = SceneScorer.load(args.scene_model, args.scene_labels) if args.scene_model else None
        anp = SceneScorer.load(args.anp_model, args.anp_vocab) if args.anp_model else None
        explain_run(args.run_dir, args.split, args.fold, scene, anp, args.time_window, args.overrides)
    elif args.cmd == "evaluate":
        from mmer.commands.evaluate import evaluate_run

        evaluate_run(args.run_dir, args.overrides, args.split, args.name)
    elif args.cmd == "export":
        from mmer.commands.export import export_run

        print(export_run(args.run_dir, args.fold, args.format, args.out, args.overrides))
    elif args.cmd == "predict":
        from mmer.commands.predict import predict_files

        predict_files(args.run_dir, args.inputs, args.out, args.faces, args.abaw, args.overrides,
                      None if args.detector == "none" else args.detector)
    elif args.cmd == "fetch-weights":
        from mmer.core.weights import fetch

        print(fetch(args.spec))
    elif args.cmd == "config":
        from omegaconf import OmegaConf

        print(OmegaConf.to_yaml(config.compose(args.overrides)))
    elif args.cmd == "merge-run":
        from mmer.cv.merge_run import merge_run

        merge_run(args.run_dirs[0], [d for d in args.run_dirs[1:] if not is_override(d)],
                  [d for d in args.run_dirs[1:] if is_override(d)])
    elif args.cmd == "merge":
        from mmer.evaluation.tables import merge_files

        print(merge_files(args.files, args.output))
    elif args.cmd == "make-fixture":
        from mmer.data_modules.fixtures import FIXTURES

        if args.dataset not in FIXTURES:
            raise ConfigError(f"no fixture for '{args.dataset}': choose one of {sorted(FIXTURES)}")
        print(FIXTURES[args.dataset](args.dir))
    elif args.cmd == "sweep-local":
        from mmer.commands.sweep_local import run_local_sweep

        for params, value in run_local_sweep(args.file, args.count, args.overrides):
            print(f"{value:.4f}  {params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
