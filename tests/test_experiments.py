"""fast_dev_run of every experiment file (one training and one validation batch) on its dataset's test data."""

import math

import pytest

from mmer.commands.check import fast_dev_run
from mmer.config.composer import compose
from mmer.config.paths import available
from mmer.evaluation.tasks import TASKS
from tests.conftest import TINY, dataset_overrides


@pytest.mark.parametrize("experiment", available("experiment"))
def test_fast_dev_run(experiment, tmp_path_factory):
    cfg = compose([f"experiment={experiment}"])
    dataset = cfg.data._target_.rsplit(".", 2)[-2] + ("_clips" if cfg.data.get("clips") else "")
    metrics = fast_dev_run([f"experiment={experiment}", *dataset_overrides(dataset, tmp_path_factory)])
    assert "train/loss" in metrics
    for name, head in cfg.model.heads.items():
        assert f"val/{head.get('metric_prefix', '')}{TASKS[head.task].primary}" in metrics, (name, sorted(metrics))
    assert all(math.isfinite(v) for k, v in metrics.items() if "loss" in k)


def test_optimizer_and_scheduler_by_name():
    metrics = fast_dev_run(["model/optimizer=sgd", "model/scheduler=cosine", *TINY])
    assert math.isfinite(metrics["train/loss"])


def test_mixed_precision_switch():
    metrics = fast_dev_run(["trainer.precision=bf16-mixed", *TINY])
    assert math.isfinite(metrics["train/loss"])


@pytest.mark.slow
def test_torch_compile_switch():
    metrics = fast_dev_run(["model.compile=true", *TINY])
    assert math.isfinite(metrics["train/loss"])
