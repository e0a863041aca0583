"""Several processes: DDP on the CPU (2 gloo processes) gives the single-process answers, rank 0 alone writes, the
loaders' shares cover every item once, and layouts that cannot run are refused before anything is built."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mmer.core.distributed import ContiguousBatches, Interleaved, is_zero
from mmer.core.errors import ConfigError

TINY = ["experiment=jmt_synthetic", "data.num_subjects=6", "data.test_subjects=2", "++data.min_frames=120",
        "++data.max_frames=300", "data.window=100", "data.hop=60", "data.batch_size=4", "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false", "logger=csv", "cv.folds=2"]


@pytest.mark.parametrize("n,batch,world", [(10, 4, 2), (9, 4, 2), (17, 3, 4), (4, 4, 2), (25, 8, 3)])
def test_prediction_shares_are_the_single_process_batches_in_rank_order(n, batch, world):
    single = [list(range(i, min(i + batch, n))) for i in range(0, n, batch)]
    shared = []
    for rank in range(world):
        items = list(ContiguousBatches(n, batch, rank, world))
        shared += [items[i:i + batch] for i in range(0, len(items), batch)]
    assert shared == single  # the same batches, the same order: rank 0's outputs, then rank 1's, ...


@pytest.mark.parametrize("n,world", [(10, 2), (7, 3), (3, 3)])
def test_validation_shares_hold_every_item_once(n, world):
    seen = [i for rank in range(world) for i in Interleaved(n, rank, world)]
    assert sorted(seen) == list(range(n))


def test_rank_zero_is_read_from_every_launchers_variables(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert is_zero()
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert is_zero()
    for name in ("LOCAL_RANK", "NODE_RANK", "RANK"):  # Lightning's launcher, a second node, torchrun
        monkeypatch.setenv(name, "1")
        assert not is_zero()
        monkeypatch.setenv(name, "0")
    assert is_zero()


@pytest.mark.parametrize("override,message", [
    ("trainer.strategy=ddp_spawn", "needs every process to run the whole command"),
    ("trainer.strategy=ddq", "not a strategy Lightning knows"),
    (f"trainer.devices={(os.cpu_count() or 1) + 1}", "CPU cores"),
    ("trainer.devices=0", "at least one device"),
    ("trainer.devices=many", "give a number"),
    ("trainer.num_nodes=0", "trainer.num_nodes=0: expected an integer >= 1"),
])
def test_layouts_that_cannot_run_are_refused_before_any_training(compose_tiny, override, message):
    from mmer.config.checks import check_settings

    with pytest.raises(ConfigError, match=message):  # at compose (the schema) or at the layout check
        check_settings(compose_tiny("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=1", override))


def test_several_devices_without_ddp_are_refused(compose_tiny):
    from mmer.config.checks import check_settings

    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 CPU cores")
    with pytest.raises(ConfigError, match="trainer=ddp"):
        check_settings(compose_tiny("trainer.accelerator=cpu", "trainer.devices=2"))
    check_settings(compose_tiny("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """The tiny synthetic 2-fold CV trained by 2 gloo processes (Lightning's launcher starts the second)."""
    out = tmp_path_factory.mktemp("ddp_runs")
    overrides = [*TINY, f"paths.output_root={out}", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    # with rank 0's progress bar on: it reads the epoch's logged values on rank 0 alone (no collective may hide there)
    done = subprocess.run([sys.executable, "-m", "mmer.cli", "cv", *overrides, "trainer.enable_progress_bar=true"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0, done.stderr[-3000:]
    return overrides, out, done.stdout + done.stderr


def test_ddp_on_two_processes_predicts_every_frame_once_as_one_process_does(ddp_run):
    import lightning as L

    from mmer.config.build import prepare_datamodule
    from mmer.config.composer import compose
    from mmer.cv import run_dir_for
    from mmer.evaluation.evaluator import evaluator_for
    from mmer.evaluation.tables import read_table
    from mmer.runs import load_module

    overrides, _, output = ddp_run
    assert "batch: 4 per device x 2 processes = 8 per optimizer step" in output
    cfg = compose(overrides)  # one process: devices are not part of the run's identity, so this is the same run
    dm = prepare_datamodule(cfg)
    run_dir = run_dir_for(cfg, dm)
    assert (run_dir / "summary.json").is_file() and (run_dir / "fold1" / "done.json").is_file()
    ev = evaluator_for(cfg, dm.target_spec())
    for k in (0, 1):
        dm.set_fold(k)
        for split, name in (("test", "test_predictions.csv"), ("val", "oof_predictions.csv")):
            recordings = dm.split(split)
            written, _ = read_table(run_dir / f"fold{k}" / name, ev.columns)
            frames = pd.read_csv(run_dir / f"fold{k}" / name)
            assert not frames.duplicated(["video", "frame"]).any()
            assert {r.id: r.num_frames for r in recordings} == {v: len(a) for v, a in written.items()}
            module = load_module(run_dir / f"fold{k}" / "checkpoints" / "best.ckpt")
            trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                                enable_checkpointing=False, enable_model_summary=False)
            single = ev.table(trainer.predict(module, dataloaders=dm.predict_loader(recordings)), recordings)
            for rec in written:  # a window predicted twice (sampler padding) or lost would shift the stitched mean
                np.testing.assert_allclose(single[rec], written[rec], atol=1e-6)  # the CSV keeps 6 decimals


def test_only_rank_zero_writes(ddp_run):
    _, out, _ = ddp_run
    (metrics,) = out.glob("*/*/metrics.csv")
    rows = pd.read_csv(metrics)
    assert len(rows) and not rows.duplicated(["key", "step"]).any()  # a second writer would repeat every row
    assert len(list(out.glob("*/*"))) == 1  # one run folder, no stray output of the second process


def test_processes_started_together_take_turns_preparing_the_data(monkeypatch, tmp_path):
    """torchrun / srun: the ranks on one machine extract one after another (the later ones find the cache built);
    a single process, or Lightning's launcher (which starts the others after rank 0 prepared), never waits."""
    import fcntl

    from mmer.core.distributed import launched_together, one_at_a_time, turn_lock

    for name in ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert not launched_together()
    lock = turn_lock("cache:x").path
    with one_at_a_time("cache:x"):
        pass  # nothing to wait for, nothing taken
    monkeypatch.setenv("SLURM_NTASKS", "2")
    assert launched_together()
    with one_at_a_time("cache:x"), open(lock, "a") as other:  # another rank's attempt while this one holds it
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock, "a") as other:  # given back at the end of the block
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
