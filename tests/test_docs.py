"""The docs cannot drift from the code (issue 29): every command shown in the README and in docs/ parses with the
real parser, and its overrides compose with the real config; the generated reference pages name every command and
make target; the README is a front door of at most 200 lines whose links resolve. `make docs` builds the site with
--strict (CI runs it)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from mmer.cli import COMMANDS, parse
from mmer.config import default_experiment
from mmer.config.composer import compose

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMPOSING = {"train", "cv", "check", "config", "extract", "ablation", "ablate", "pretrain"}


def hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown_commands() -> list[tuple[str, str]]:
    """(page:line, command) of every `mmer ...` / `make ...` line in a fenced code block (continuations joined,
    comments, prompts and output left out)."""
    found = []
    for page in PAGES:
        fenced, pending, start = False, "", 0
        for i, line in enumerate(page.read_text().splitlines(), start=1):
            if line.lstrip().startswith("```"):
                fenced, pending = not fenced, ""
                continue
            if not fenced:
                continue
            text = line.strip().removeprefix("$ ")
            if pending:
                text, pending = pending + " " + text, ""
            if text.endswith("\\"):
                pending, start = text[:-1], start or i
                continue
            if re.match(r"(mmer|make) [a-z]", text):
                found.append((f"{page.relative_to(ROOT)}:{start or i}", text))
            start = 0
    return found


def words(command: str) -> list[str]:
    return shlex.split(command, comments=True)


COMMANDS_SHOWN = shown_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS_SHOWN) > 40 and any(c.startswith("make train") for _, c in COMMANDS_SHOWN)


@pytest.mark.parametrize("where,command", COMMANDS_SHOWN, ids=[w for w, _ in COMMANDS_SHOWN])
def test_every_command_in_the_docs_parses_and_composes(where, command):
    argv = words(command)
    if argv[0] == "make":
        targets = set(re.findall(r"^([a-zA-Z_-]+):", (ROOT / "Makefile").read_text(), re.M))
        assert argv[1] in targets, f"{where}: no make target {argv[1]}"
        variables = dict(a.split("=", 1) for a in argv[2:] if "=" in a)
        if argv[1] in ("train", "ablation", "ablate", "extract"):
            experiment = variables.get("EXPERIMENT") or default_experiment(variables.get("DATASET", "synthetic"))
            compose([f"experiment={experiment}", *shlex.split(variables.get("ARGS", ""))])
        return
    args = parse(argv[1:])
    overrides = [o for o in getattr(args, "overrides", []) if o.replace(" ", "") != "debug=fdr"]
    if args.cmd in COMPOSING and not getattr(args, "multirun", False):
        if args.cmd == "train":
            overrides = [f"experiment={args.experiment or default_experiment(args.dataset)}", *overrides]
        compose(overrides)


def test_the_reference_pages_name_every_command_and_target():
    module = hooks()
    commands = module.commands_reference()
    assert all(f"## `mmer {c.name}`" in commands for c in COMMANDS)
    targets = re.findall(r"^\.PHONY: (.*)$", (ROOT / "Makefile").read_text(), re.M)[0].split()
    make = module.make_reference()
    assert all(f"`make {t}`" in make for t in targets if t != "clean") and "`make clean`" in make
    config = module.config_reference()
    groups = {p.parent.name for p in (ROOT / "experiments").rglob("*.yaml")} - {"experiments", "emert"}
    assert all(f"`{g}`" in config or f"/{g}`" in config for g in groups), groups


def test_the_readme_is_a_front_door_whose_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    for must in ("make train", "make test"):
        assert must in text


def test_the_worked_extension_examples_run_and_train_together(tmp_path):
    """The four blocks of docs/guides/extending.md: each meets its contract, and the four train for one batch."""
    import functools

    import lightning as L
    import torch
    from omegaconf import OmegaConf

    from mmer.core.batch import Batch
    from mmer.evaluation.evaluator import default_monitor
    from mmer.evaluation.tasks import TASKS
    from mmer.model.heads import Head
    from mmer.model.module import MultimodalModule

    text = (ROOT / "docs" / "guides" / "extending.md").read_text()
    blocks = re.findall(r"```python\n(# example: (\w+)\n.*?)```", text, re.S)
    assert [name for _, name in blocks] == ["dataset", "backbone", "fusion", "task"]
    space: dict = {}
    try:
        for code, _ in blocks:
            exec(compile(code, "extending.md", "exec"), space)  # noqa: S102 - the page's own examples
        dm = space["ToneDataModule"](num_folds=2, batch_size=4)
        dm.prepare_data()
        dm.setup("fit")
        assert dm.data_report()["recordings skipped as bad input"] == 0 and len(dm.recordings) == 40
        batch: Batch = next(iter(dm.train_dataloader()))
        backbone = space["StepMLP"](in_dim=4)
        x, mask = batch.inputs["signal"], batch.masks["signal"]
        assert backbone(x, mask).shape == (*x.shape[:2], 32)
        fusion = space["MaskedMean"]({"signal": 32})
        none = fusion({"signal": torch.randn(2, 5, 32)}, {"signal": torch.zeros(2, 5, dtype=torch.bool)})
        assert none.shape == (2, 5, 32) and not none.abs().any()  # nothing present: zeros
        assert default_monitor(OmegaConf.create({"emotion": {"task": "classification_uar"}}), None) == "val/uar"
        model = MultimodalModule({"signal": backbone}, fusion, [Head(32, "emotion", "classification_uar", 2)],
                                 optimizer=functools.partial(torch.optim.AdamW, lr=1e-3))
        trainer = L.Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                            default_root_dir=tmp_path)
        trainer.fit(model, datamodule=dm)
        assert all(torch.isfinite(p).all() for p in model.parameters())
    finally:
        TASKS.pop("classification_uar", None)
