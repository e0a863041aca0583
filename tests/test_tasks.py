"""The task registry: every entry is consistent, and adding a task is one entry (docs/guides/extending.md, run as
printed) plus a head config."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import mmer.evaluation.tasks
from mmer.evaluation.evaluator import Evaluator
from mmer.evaluation.tasks import TASKS, Task
from mmer.model.heads import Head
from tests.test_module import T, make_batch, make_module

README = Path(__file__).resolve().parents[1] / "docs" / "guides" / "extending.md"  # the worked task example


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_consistent_parts(name):
    task = TASKS[name]
    columns = ["a", "b"]
    keys = task.score_keys(columns)
    assert task.primary in keys and set(task.compare_keys(columns)) <= set(keys)
    rows = np.random.default_rng(0).random((40, 2))
    true = (rows > 0.5).astype(float) if task.kind == "labels" else rows[:, :1].round() if task.predicts_classes \
        else rows + 0.1
    scores = task.scores(rows, true, columns)
    assert set(keys) <= set(scores), sorted(set(keys) - set(scores))
    merged = task.merge_tables([{"r": rows}, {"r": rows}])
    assert merged["r"].shape == rows.shape and task.merge_name


def readme_task() -> Task:
    block = re.search(r"# src/mmer/evaluation/tasks.py, inside TASKS\n(.*?)```", README.read_text(), re.S).group(1)
    return eval(block.strip().rstrip(","), vars(mmer.evaluation.tasks))


def test_a_new_task_is_one_registry_entry(monkeypatch):
    task = readme_task()
    monkeypatch.setitem(TASKS, task.name, task)
    module = make_module(heads=("va",))
    module.heads.append(Head(module.fusion.out_dim, "intensity_f", task.name, 1, target="va_one"))
    module.metrics["val_metrics"]["intensity_f"] = torch.nn.ModuleDict(task.metrics(1))
    batch = make_batch()
    batch.targets["va_one"], batch.target_masks["va_one"] = batch.targets["va"][..., :1], batch.target_masks["va"]
    logged = {}
    module.log = lambda key, value, **kw: logged.__setitem__(key, float(torch.as_tensor(value).detach()))
    assert torch.isfinite(module._shared_step(batch, "val"))
    module._log_epoch_metrics("val")
    assert {"val/ccc_0", "val/mae_mean", "val/rmse_0"} <= set(logged)
    ev = Evaluator(task, "intensity_f", "va_one", ["intensity"])
    preds = {"v": np.linspace(0, 1, T)[:, None]}
    assert ev.score_keys == ["ccc_intensity", "ccc_mean", "mae_mean"]
    assert ev.score(preds, {"v": preds["v"] * 2}, {"v": np.ones(T, bool)})["mae_mean"] == pytest.approx(0.5)
    assert ev.merge([preds, preds])["v"].shape == (T, 1)
