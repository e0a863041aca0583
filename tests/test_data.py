from pathlib import Path

import numpy as np
import pytest
import torch

from mmer.core.errors import ConfigError, DataError
from mmer.data.folds import grouped_kfold
from mmer.data.records import Item, ModalitySpec, Recording, require_dir
from mmer.data.windowed import WindowedDataModule, collate_windows
from mmer.data_modules.synthetic import SyntheticAVDataModule


def tiny(**kw):
    args = dict(num_subjects=6, test_subjects=2, min_frames=120, max_frames=420, window=100, hop=60, num_folds=3,
                batch_size=4)
    args.update(kw)
    dm = SyntheticAVDataModule(**args)
    dm.setup()
    return dm


def test_folds_never_split_a_group_and_are_deterministic():
    groups = [f"s{i % 7}" for i in range(40)]
    a = grouped_kfold(groups, 3, seed=1)
    assert a == grouped_kfold(list(reversed(groups)), 3, seed=1)  # independent of input order
    assert set(a) == set(groups) and set(a.values()) == {0, 1, 2}
    assert any(a != grouped_kfold(groups, 3, seed=s) for s in range(2, 6))  # the seed matters
    dm = tiny()
    for k in range(3):
        dm.set_fold(k)
        train = {r.group for r in dm.split("train")}
        val = {r.group for r in dm.split("val")}
        test = {r.group for r in dm.split("test")}
        assert val and train and not train & val and not (train | val) & test


def test_fold0_official_validation():
    groups = ["a", "b", "c", "d", "e", "f", "g"]
    a = grouped_kfold(groups, 3, seed=0, official_val_groups=["g", "a"])
    assert a["a"] == a["g"] == 0 and all(a[g] in (1, 2) for g in "bcdef")


def test_too_many_folds_is_a_clear_error():
    with pytest.raises(ConfigError, match="lower cv.folds"):
        grouped_kfold(["a", "b"], 3)


def test_synthetic_is_deterministic_from_seed():
    a, b = tiny(seed=3), tiny(seed=3)
    ra = a.split("trainval")[0]
    np.testing.assert_array_equal(a.load(ra).inputs["audio"], b.load(ra).inputs["audio"])
    assert [r.id for r in a.split("test")] == [r.id for r in b.split("test")]


@pytest.mark.parametrize("kind", ["features", "raw"])
def test_windows_and_collation_follow_the_batch_contract(kind):
    dm = tiny(input=kind)
    dm.set_fold(0)
    batch = next(iter(dm.train_dataloader()))
    spec = dm.input_spec()
    for m, s in spec.items():
        assert batch.inputs[m].shape[:2] == (batch.size, 100 * s.rate)
        assert batch.masks[m].shape == (batch.size, 100 * s.rate) and batch.masks[m].dtype == torch.bool
    assert batch.targets["va"].shape == (batch.size, 100, 2)
    assert batch.meta["num_frames"] == 100
    # unlabelled (-5) frames are masked, and only those
    va, mask = batch.targets["va"], batch.target_masks["va"]
    assert ((va[~mask] == -5) | (va[~mask] == 0)).all()  # -5 unlabelled frames or zero padding
    assert (~mask).any()
    assert (va[mask].abs() <= 1).all()


def test_prediction_windows_cover_every_frame_and_validation_tiles():
    dm = tiny()
    dm.set_fold(0)
    seen = {}
    for batch in dm.predict_loader("test"):
        for v, s, n in zip(batch.meta["recording"], batch.meta["start"].tolist(), batch.meta["valid"].tolist()):
            seen.setdefault(v, np.zeros(next(r.num_frames for r in dm.recordings if r.id == v), int))[s:s + n] += 1
    assert all((c >= 1).all() for c in seen.values())
    tiles = {}
    for batch in dm.val_dataloader():
        for v, s, n in zip(batch.meta["recording"], batch.meta["start"].tolist(), batch.meta["valid"].tolist()):
            tiles.setdefault(v, np.zeros(next(r.num_frames for r in dm.recordings if r.id == v), int))[s:s + n] += 1
    assert all((c == 1).all() for c in tiles.values())  # every frame scored exactly once in validation


def test_short_video_is_padded_with_mask():
    class One(WindowedDataModule):
        def input_spec(self):
            return {"x": ModalitySpec("features", 3, 2)}

        def target_spec(self):
            return {"va": ["valence", "arousal"]}

        def index(self):
            return [Recording("short", "g0", 50), Recording("long", "g1", 400), Recording("t", "g2", 400, "test")]

        def load(self, rec):
            n = rec.num_frames
            return Item({"x": np.ones((2 * n, 3), np.float32)}, {"va": np.zeros((n, 2), np.float32)},
                        {"va": np.ones(n, bool)})

    dm = One(window=300, hop=200, num_folds=2)
    dm.setup()
    dm.set_fold(dm.fold_of["g0"])  # the fold whose validation split holds the short video
    batch = next(iter(dm.val_dataloader()))
    assert batch.inputs["x"].shape == (1, 600, 3)
    assert batch.masks["x"][0, :100].all() and not batch.masks["x"][0, 100:].any()
    assert batch.target_masks["va"][0, :50].all() and not batch.target_masks["va"][0, 50:].any()


def test_missing_modality_in_some_items_collates_to_false_mask():
    def item(with_audio):
        inputs = {"visual": np.ones((4, 2), np.float32)}
        masks = {"visual": np.ones(4, bool)}
        if with_audio:
            inputs["audio"], masks["audio"] = np.ones((8, 3), np.float32), np.ones(8, bool)
        return {"recording": "v", "start": 0, "valid": 4, "inputs": inputs, "masks": masks,
                "targets": {"va": np.zeros((4, 2), np.float32)}, "target_masks": {"va": np.ones(4, bool)}}

    batch = collate_windows([item(True), item(False)])
    assert batch.masks["audio"][0].all() and not batch.masks["audio"][1].any()
    assert batch.inputs["audio"][1].abs().sum() == 0


def test_bad_input_errors_name_the_thing_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="longer than every video.*data.window<="):
        tiny(window=5000, hop=100)

    class Corrupted(SyntheticAVDataModule):
        """Synthetic data with one damage applied to the generated items."""

        def __init__(self, damage, **kw):
            super().__init__(num_subjects=6, test_subjects=2, min_frames=120, max_frames=420, window=100, hop=60, **kw)
            self.damage = damage

        def index(self):
            recs = super().index()
            self.damage(recs, self._items)
            return recs

    def nan_input(recs, items):
        items[recs[0].id].inputs["visual"][3, 0] = np.nan

    def unlabelled(recs, items):
        for it in items.values():
            it.target_masks["va"][:] = False

    with pytest.raises(DataError, match="recording 's00_v0', modality 'visual'.*NaN"):
        Corrupted(nan_input).setup()
    with pytest.raises(DataError, match="target .va. has no label in the train"):
        Corrupted(unlabelled).setup()
    with pytest.raises(DataError, match="does not exist.*DATA_DIR"):
        require_dir(str(tmp_path / "nope"), "affwild2")
    with pytest.raises(DataError, match="DATA_DIR="):
        require_dir(None, "affwild2")


def test_cache_names_from_ids_stay_inside_the_cache_and_cleanup_only_touches_its_own_files(tmp_path):
    from mmer.data.cache import FeatureCache, safe_relative

    root = tmp_path / "cache"
    outside = tmp_path / "frames-0123456789abcdef.npy"  # what a `../` id would have clobbered
    np.save(outside, np.zeros(1))
    cache = FeatureCache(root)
    for rec_id in ("../frames", "/etc/x", "a/../../b", "..", "train/dia0", "sub 1/vid.a"):
        path = cache.path(rec_id, "frames", "0123456789abcdef")
        assert path.resolve().is_relative_to(root.resolve()), rec_id
        cache.get_or_build(rec_id, "frames", "0123456789abcdef", lambda: np.ones(3))
    assert safe_relative("train/dia0") == Path("train/dia0")  # ordinary ids keep their readable layout
    assert safe_relative("../x") != safe_relative("__x") and outside.is_file()
    mine = root / "train/dia0/frames-mine.npy"  # a file mmer did not write, beside a superseded key
    np.save(mine, np.zeros(1))
    cache.get_or_build("train/dia0", "frames", "fedcba9876543210", lambda: np.ones(3))
    assert mine.is_file() and not (root / "train/dia0/frames-0123456789abcdef.npy").exists()


def test_no_recording_twice_and_no_group_on_both_sides_of_the_held_out_split():
    """The guard under every data module: a leak stops before any fold, whatever the dataset's own checks missed."""
    from mmer.data.records import Recording, check_partitions

    fine = [Recording("a", "s1", 10), Recording("b", "s1", 10), Recording("c", "s2", 10, "test")]
    check_partitions(fine, "demo")
    with pytest.raises(DataError, match=r"demo: recording 'a' is indexed twice \(partitions trainval and test\)"):
        check_partitions([*fine, Recording("a", "s3", 10, "test")], "demo")
    with pytest.raises(DataError, match=r"demo: group 's1' \(e.g. 'd'\) is in both the train/validation and the "
                                        r"held-out partition"):
        check_partitions([*fine, Recording("d", "s1", 10, "test")], "demo")
