"""``mmer robustness RUN_DIR [--split test|oof] [--seed S] [--json FILE] [--plot FILE] [key=value ...]``: the standard
sweep of test-time perturbations (:mod:`mmer.data.perturb`) over a trained run, one modality at a time.

For each input modality: removed (``drop``); a waveform or features: noise at 20, 10 and 0 dB SNR; frames or other
per-step inputs: 10, 30 and 50 % of the steps dropped; text tokens: 10, 30 and 50 % of the word pieces dropped.
Where the data module computes inputs from the recordings' sound (``acoustic_inputs``): noise in the recording at
20, 10 and 0 dB SNR, before those inputs are computed (a row ``recording noise X dB``, plotted under the first). Each
condition is scored like the clean run: on the held-out partition by the fold ensemble when there is one (``cv/*``),
else each fold's model on its own validation recordings, pooled (``cv/oof_*``). Prints one table (a row per
condition, the clean row first) and draws one plot per modality of each headline score against the level
(default ``robustness.png`` in the run folder). ``--json FILE``: ``{"split", "seed", "clean": {scores},
"noise": {modality (or "recording"): where its noise goes}, "conditions": [{"modality", "kind", "level", "label",
"name", "scores"}, ...]}``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmer.commands.evaluate import Evaluation
from mmer.core.io import atomic_write_text
from mmer.data.perturb import Perturbation
from mmer.evaluation.report import plot_robustness, print_table
from mmer.runs.folder import strict_json

NOISE_DB = (20.0, 10.0, 0.0)
SHARES = (0.1, 0.3, 0.5)


def sweep_of(spec: dict[str, Any], acoustic: Sequence[str] = ()) -> list[Perturbation]:
    """The standard conditions (module doc) for inputs of these kinds (``input_spec``), of which ``acoustic`` are
    computed from the recordings' sound."""
    conditions = [Perturbation(acoustic[0], "acoustic", db) for db in NOISE_DB] if acoustic else []
    for m, s in spec.items():
        conditions.append(Perturbation(m, "drop"))
        if s.kind in ("waveform", "features"):
            conditions += [Perturbation(m, "noise", db) for db in NOISE_DB]
        if s.kind == "frames" or s.kind == "features" and s.length != 1:
            conditions += [Perturbation(m, "frames", share) for share in SHARES]
        if s.kind == "tokens":
            conditions += [Perturbation(m, "words", share) for share in SHARES]
    return conditions


def robustness(run_dir: str | Path, split: str | None = None, seed: int = 0, overrides: Sequence[str] = ()) -> dict:
    """Score the clean run and every standard condition (module doc), with a progress bar over the conditions."""
    from tqdm.auto import tqdm

    evaluation = Evaluation.open(run_dir, overrides)
    if split is None:
        split = "test" if evaluation.dm.split("test") else "oof"
    conditions = sweep_of(evaluation.dm.input_spec(), evaluation.dm.acoustic_inputs())
    effects = [evaluation.check([c])[0] for c in conditions]
    noise = {"recording" if c.kind == "acoustic" else c.modality: effect for c, effect in zip(conditions, effects)
             if c.kind in ("noise", "acoustic")}
    clean = evaluation.scores(split, (), seed)
    rows = [{"modality": c.modality, "kind": c.kind, "level": c.level, "label": c.label, "name": c.short,
             "scores": evaluation.scores(split, [c], seed)}
            for c in tqdm(conditions, desc="robustness", unit="condition")]
    return {"split": split, "seed": seed, "noise": noise, "clean": clean, "conditions": rows,
            "keys": [("cv/" if split != "oof" else "cv/oof_") + k for k in evaluation.ev.compare_keys]}


def run(args: argparse.Namespace) -> int:
    result = robustness(args.run_dir, args.split, args.seed, args.overrides)
    keys = result.pop("keys")
    rows = [("clean", [result["clean"][k] for k in keys])]
    rows += [(c["name"], [c["scores"][k] for k in keys]) for c in result["conditions"]]
    where = "held-out partition, folds merged" if result["split"] != "oof" else "each fold on its own validation split"
    print_table(f"{Path(args.run_dir).name}: robustness ({where}; perturbation seed {args.seed})", rows, keys)
    plot = Path(args.plot) if args.plot else Path(args.run_dir) / "robustness.png"
    plot_robustness(plot, result["clean"], result["conditions"], keys)
    for modality, where in result["noise"].items():
        print(f"noise on {modality}: {where}")
    print(f"plot: {plot}")
    if args.json:
        atomic_write_text(Path(args.json), strict_json(result))
        print(f"json: {args.json}")
    return 0
