"""A run's identity is what it computes: a copy of the dataset elsewhere reuses the finished run and its feature
cache; changed labels do not."""

from __future__ import annotations

import shutil

from mmer.config.composer import compose
from mmer.cv import prepare, run_cv
from tests.conftest import fixture_root


def overrides(root, out, cache):
    return [f"data.root={root}", "experiment=cnn_ravdess", "cv.folds=2", "data.actors=[1,2,3,4]",
            "trainer.max_epochs=1", "logger=csv", "trainer.enable_progress_bar=false", f"paths.output_root={out}",
            f"data.cache_dir={cache}"]


def test_a_moved_copy_of_the_dataset_reuses_the_finished_run_and_its_cache(tmp_path, tmp_path_factory):
    original = fixture_root("ravdess", tmp_path_factory)
    copy = tmp_path / "scratch" / "ravdess"
    shutil.copytree(original, copy)  # copy2: names, sizes and times kept, as cp -a / rsync -a
    first = run_cv(compose(overrides(original, tmp_path / "runs", tmp_path / "cache")))
    features = sorted((tmp_path / "cache").rglob("*.npy"))
    again = run_cv(compose(overrides(copy, tmp_path / "runs", tmp_path / "cache")))
    assert again.run_dir == first.run_dir and [f.status for f in again.folds] == ["cached", "cached"]
    assert sorted((tmp_path / "cache").rglob("*.npy")) == features  # nothing extracted again
    # another label is another dataset: RAVDESS labels are in the names; a happy take renamed as a sad one
    (copy / "Actor_01" / "03-01-03-01-01-01-01.wav").rename(copy / "Actor_01" / "03-01-04-01-01-02-01.wav")
    _, changed = prepare(compose(overrides(copy, tmp_path / "runs", tmp_path / "cache")))
    assert changed.path != first.run_dir


def test_a_read_only_copy_caches_outside_itself_and_writes_nothing_into_it(tmp_path, tmp_path_factory, monkeypatch,
                                                                          caplog):
    """Without data.cache_dir a media dataset caches in <root>/.mmer_cache; where this process cannot write there
    (a read-only or shared copy) the cache goes to $MMER_CACHE_DIR/<dataset>, said once, and the copy is untouched."""
    import logging
    import os

    from mmer.config.build import prepare_datamodule
    from mmer.config.paths import default_experiment
    from mmer.data import cache as cache_module

    copy = tmp_path / "biovid_ro"
    shutil.copytree(fixture_root("biovid", tmp_path_factory), copy)
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    monkeypatch.setenv("MMER_CACHE_DIR", str(tmp_path / "home_cache"))
    real_access = os.access  # as root every path is writable: pretend this copy is not
    monkeypatch.setattr(cache_module.os, "access",
                        lambda p, mode: False if str(p).startswith(str(copy)) else real_access(p, mode))
    caplog.set_level(logging.INFO, logger="mmer.data.cache")
    prepare_datamodule(compose([f"experiment={default_experiment('biovid')}", f"data.root={copy}",
                                "data.face_size=32", "logger=csv"]))
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before  # nothing written into the copy
    assert list((tmp_path / "home_cache" / "biovid").rglob("*.npy"))
    assert caplog.text.count("is read-only here: its feature cache goes to") == 1
