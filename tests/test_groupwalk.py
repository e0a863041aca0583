"""GroupWalk readers and data module, EMERSK's modules and subsets, E-Gait pre-training, average precision."""

import json
import shutil

import numpy as np
import pytest
import torch

from mmer.core.errors import DataError
from mmer.data_modules.groupwalk import GroupWalkDataModule
from mmer.data_modules.groupwalk_files import (
    BODY25_TO_COCO18,
    face_box,
    iou,
    masked_context,
    match_people,
    normalise_pose,
    read_openpose_frame,
)
from tests.conftest import fixture_root


def _pose(x0=50.0, y0=20.0, h=60.0):
    """A COCO-18 pose of an upright body whose box is (x0 - 15, y0, x0 + 15, y0 + h)."""
    rng = np.random.default_rng(int(x0))
    p = np.zeros((18, 3))
    p[:, 0] = x0 + rng.uniform(-12, 12, 18)
    p[:, 1] = y0 + rng.uniform(0.02, 0.98, 18) * h
    p[:, 2] = 0.9
    p[1, :2] = [x0, y0 + 0.2 * h]  # neck
    p[8, :2], p[11, :2] = [x0 - 4, y0 + 0.55 * h], [x0 + 4, y0 + 0.55 * h]  # hips
    p[0, :2] = [x0, y0 + 0.05 * h]
    return p


def _write_openpose(path, people, body25):
    listed = []
    for p in people:
        if body25:
            q = np.zeros((25, 3))
            q[list(BODY25_TO_COCO18)] = p
            p = q
        listed.append({"pose_keypoints_2d": p.reshape(-1).tolist()})
    path.write_text(json.dumps({"version": 1.3, "people": listed}))


def test_openpose_body25_and_coco18_give_the_same_joints(tmp_path):
    people = [_pose(40), _pose(110)]
    _write_openpose(tmp_path / "a_000000000000_keypoints.json", people, body25=True)
    _write_openpose(tmp_path / "b_000000000000_keypoints.json", people, body25=False)
    a = read_openpose_frame(tmp_path / "a_000000000000_keypoints.json")
    b = read_openpose_frame(tmp_path / "b_000000000000_keypoints.json")
    assert a.shape == b.shape == (2, 18, 3)
    np.testing.assert_allclose(a, np.stack(people))
    np.testing.assert_allclose(b, np.stack(people))
    (tmp_path / "bad_keypoints.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 30}]}))
    with pytest.raises(DataError, match="75.*54"):
        read_openpose_frame(tmp_path / "bad_keypoints.json")


def test_pose_is_centred_on_the_mid_hip_and_scaled_by_the_torso():
    p = np.zeros((18, 3))
    p[1] = [10, 0, 1]  # neck
    p[8], p[11] = [8, 10, 1], [12, 10, 1]  # hips: mid-hip (10, 10), torso length 10
    p[0] = [10, -5, 1]  # nose
    p[4] = [30, 30, 0.0]  # an undetected wrist
    n = normalise_pose(p)
    np.testing.assert_allclose(n[1], [0, -1, 1])
    np.testing.assert_allclose(n[0], [0, -1.5, 1])
    np.testing.assert_allclose(n[8], [-0.2, 0, 1])
    np.testing.assert_allclose(n[4], [0, 0, 0])
    p[1, 2] = 0  # no neck: the torso is unknown, the frame is masked rather than scaled by a guess
    assert normalise_pose(p) is None


def test_iou_and_matching_untracked_people():
    assert iou(np.array([0, 0, 10, 10]), np.array([0, 0, 10, 10])) == 1.0
    assert iou(np.array([0, 0, 10, 10]), np.array([20, 20, 30, 30])) == 0.0
    assert iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(1 / 3)
    boxes = [np.array([35.0, 20, 65, 80]), np.array([105.0, 20, 135, 80]), np.array([300.0, 0, 330, 60])]
    people = np.stack([_pose(150, 0, 20), _pose(120), _pose(50)])  # listed in another order, plus a bystander
    assert match_people(boxes, people) == [2, 1, None]


def test_masked_context_blacks_out_the_agent_only_and_the_face_is_the_top_of_the_box():
    frame = np.full((64, 64, 3), 200, np.uint8)
    ctx = masked_context(frame, np.array([10, 20, 30, 50]), 64)
    assert ctx.shape == (3, 64, 64)
    assert ctx[:, 21:49, 11:29].max() == 0
    assert ctx[:, :18].min() == 200 and ctx[:, :, 32:].min() == 200
    box = np.array([10.0, 20, 40, 120])
    np.testing.assert_allclose(face_box(box), [15, 20, 35, 40])  # side 0.2 x height, centred, at the top
    pose = np.zeros((18, 3))
    pose[0] = [30, 30, 1]
    np.testing.assert_allclose(face_box(box, pose), [20, 20, 40, 40])  # centred on the nose


@pytest.fixture
def groupwalk(tmp_path_factory):
    dm = GroupWalkDataModule(root=str(fixture_root("groupwalk", tmp_path_factory)), segment_frames=16, num_folds=3)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_fixture_samples_labels_and_reports(groupwalk):
    dm = groupwalk
    assert len(dm.recordings) == 36  # 12 agents x 3 segments of 16 frames
    report = dm.data_report()
    assert report["frames without an OpenPose file"] == 1
    assert report["boxes clipped to the frame"] > 0
    away = [r for r in dm.recordings if r.id.startswith("v02__a2")]
    assert away and all(not dm.load(r).input_masks["face"].any() for r in away)  # walks away: no face
    assert report["sampled frames without a visible face"] >= 3 * 4 - 1  # one of its boxes is out of the frame
    for r in dm.recordings:
        item = dm.load(r)
        assert item.inputs["face"].shape == (4, 3, 48, 48) and item.inputs["face"].dtype == np.uint8
        assert item.inputs["posture"].shape == (16, 54)
        assert dm.explain_context(r.id)["location"] in ("street", "park")


def test_untracked_poses_are_matched_to_the_right_agent(groupwalk):
    """The fixture's head drop follows the emotion: a mixed-up match (or a wrong skeleton format) would give an
    agent another agent's nose height. Nose y after normalisation = (0.08 + drop - 0.55) / 0.35."""
    from mmer.data_modules.fixtures.groupwalk import DROP

    dm = groupwalk
    for r in dm.recordings:
        item, label = dm.load(r), dm.explain_context(r.id)
        emotion = dm.target_spec()["emotion"][int(item.targets["emotion"])]
        pose = item.inputs["gait"].reshape(16, 18, 3)[item.input_masks["gait"]]
        seen = pose[:, 0, 2] > 0
        if r.id.startswith("v02__a2") or seen.sum() < 4:
            continue
        expected = (0.08 + DROP[emotion] - 0.55) / 0.35
        assert abs(np.median(pose[seen, 0, 1]) - expected) < 0.03, (r.id, label)


def test_folds_are_grouped_by_agent(groupwalk):
    dm = groupwalk
    for k in range(dm.num_folds):
        dm.set_fold(k)
        agent = lambda r: r.id.rsplit("__", 1)[0]  # noqa: E731
        assert not {agent(r) for r in dm.split("train")} & {agent(r) for r in dm.split("val")}


def test_bad_input_is_masked_counted_or_left_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("gw_bad") / "gw"
    shutil.copytree(fixture_root("groupwalk", tmp_path_factory), root, ignore=shutil.ignore_patterns(".mmer_cache"))
    rows = [f"v04,ghost,{f},5,100,12,118,sad,park,0,0,0,3" for f in range(16)]  # no pose anywhere near
    rows += [f"v04,lost,{f},500,500,520,560,happy,park,0,3,0,0" for f in range(16)]  # box outside the frame
    rows += [f"v04,odd,{f},40,20,60,80,surprised,park,0,0,0,0" for f in range(16)]  # not a GroupWalk class
    with open(root / "annotations.csv", "a") as fh:
        fh.write("\n".join(rows) + "\n")
    (root / "openpose" / "v04" / "v04_000000000003_keypoints.json").unlink()
    dm = GroupWalkDataModule(root=str(root), segment_frames=16, num_folds=3)
    dm.prepare_data()
    dm.setup("fit")
    report = dm.data_report()
    assert report["agents left out"] == 1 and "unknown label 'surprised'" in dm.left_out
    assert not any("__odd__" in r.id for r in dm.recordings)
    assert report["agents with no pose at all"] >= 2 and "v04/ghost" in dm.no_pose
    assert report["boxes outside the frame"] >= 4
    assert report["frames without an OpenPose file"] == 2
    lost = dm.load(next(r for r in dm.recordings if "__lost__" in r.id))
    assert not lost.input_masks["face"].any() and not lost.input_masks["context"].any()
    assert not lost.input_masks["gait"].any()
    # a corrupt video stops with its name, or is skipped and counted
    (root / "videos" / "v01.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match="v01.mp4"):
        GroupWalkDataModule(root=str(root), segment_frames=16, num_folds=3, cache_dir=str(root / "c2")).prepare_data()
    skip = GroupWalkDataModule(root=str(root), segment_frames=16, num_folds=3, cache_dir=str(root / "c3"),
                               on_bad_input="skip")
    skip.prepare_data()
    skip.setup("fit")
    assert len(skip.skipped) == 9 and all(k.startswith("v01__") for k in skip.skipped)


def test_every_module_subset_runs_through_the_same_model(groupwalk):
    from mmer.commands.ablate import subsets
    from mmer.config.build import build_module
    from mmer.config.composer import compose
    from mmer.data.samples import SampleDataset, collate_samples

    cfg = compose(["experiment=emersk_groupwalk", "data.segment_frames=16"])
    dm = groupwalk
    model = build_module(cfg, dm.input_spec(), dm.target_spec()).eval()
    batch = collate_samples([SampleDataset(dm, dm.recordings)[i] for i in range(6)])
    modalities = list(cfg.model.modalities)
    assert len(subsets(modalities)) == 15
    with torch.no_grad():
        full = model(batch)["emotion"]
        for subset in subsets(modalities):
            b = batch
            for m in modalities:
                if m not in subset:
                    b = b.without(m)
            out = model(b)["emotion"]
            assert out.shape == (6, 4) and torch.isfinite(out).all()
            if len(subset) < 4:
                assert not torch.allclose(out, full), subset
    # and each subset builds and trains as its own model by config
    sub = build_module(compose(["experiment=emersk_groupwalk", "model.modalities=[gait,context]"]), dm.input_spec(),
                       dm.target_spec())
    assert sorted(sub.backbones) == ["context", "gait"]


@pytest.mark.slow  # three CV jobs of EMERSK (34 s): the fast tier stays under 10 minutes; CI runs it
def test_ablate_prints_a_row_per_subset(groupwalk, tmp_path, capsys):
    from mmer.commands.ablate import run_subsets

    summaries, text = run_subsets(["experiment=emersk_groupwalk", f"data.root={groupwalk.root}",
                                   "data.segment_frames=16", "cv.folds=2", "trainer.max_epochs=1", "logger=csv",
                                   "trainer.enable_progress_bar=false", "model.modalities=[face,gait]",
                                   f"paths.output_root={tmp_path}"])
    assert list(summaries) == [("face",), ("gait",), ("face", "gait")]
    for row in ("face ", "gait ", "face + gait"):
        assert row in text
    assert "pooled out-of-fold" in text and "map" in text
    against = text.split("against all of face + gait on cv/oof_")[1].splitlines()
    assert [line.split()[0] for line in against[1:]] == ["face", "gait"]  # each subset's paired row, p last
    assert all(0 < float(line.split()[-1]) <= 1 for line in against[1:])


def test_egait_gaits_pretrain_the_gait_module_and_load_into_groupwalk(tmp_path):
    from mmer.data_modules.egait import EGaitDataModule
    from mmer.data_modules.fixtures.groupwalk import make_egait_fixture
    from mmer.model.backbones.pose import PoseSequence

    root = make_egait_fixture(tmp_path / "eg", gaits=8)
    dm = EGaitDataModule(root=str(root), segment_frames=16, num_folds=2)
    dm.setup("fit")
    assert len(dm.recordings) == 8
    item = dm.load(dm.recordings[1])
    assert item.inputs["gait"].shape == (16, 54) and item.input_masks["gait"].all()
    assert dm.target_spec()["emotion"][int(item.targets["emotion"])] == "neutral"  # label 1 in E-Gait order
    np.testing.assert_allclose(item.inputs["gait"].reshape(16, 18, 3)[:, 1, :2].mean(0), [0, -1], atol=0.05)
    # a whole mmer checkpoint: the gait backbone's part is picked out
    trained = PoseSequence(54)
    state = {"state_dict": {f"backbones.gait.{k}": v for k, v in trained.state_dict().items()}
             | {f"backbones.posture.{k}": torch.zeros_like(v) for k, v in trained.state_dict().items()}}
    torch.save(state, tmp_path / "best.ckpt")
    loaded = PoseSequence(54, weights=str(tmp_path / "best.ckpt"))
    for k, v in trained.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v)


def test_average_precision_reference():
    from mmer.evaluation.metrics import average_precision, class_average_precision

    # ranks: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-): AP = 0.5 * 1 + 0.5 * 2/3
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx(0.5 + 1 / 3)
    # a tie between a positive and a negative counts as one threshold: precision 1/2 at recall 1
    assert average_precision([0.5, 0.5], [1, 0]) == pytest.approx(0.5)
    assert np.isnan(average_precision([0.3, 0.2], [0, 0]))
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    scores = class_average_precision(probs, np.array([0, 1, 1]), ["a", "b"])
    assert scores["ap_a"] == 1.0 and scores["ap_b"] == 1.0 and scores["map"] == 1.0
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(50):
        s, y = rng.integers(0, 4, 20) / 3, rng.random(20) < 0.4
        if y.any():
            assert average_precision(s, y) == pytest.approx(sklearn.average_precision_score(y, s))


def test_two_rows_for_one_agent_frame_and_impossible_numbers_are_named(tmp_path):
    """Before: a second row for an agent's frame was dropped silently (either box could have been kept)."""
    from mmer.data_modules.groupwalk_files import read_annotations

    header = "video,agent,frame,x1,y1,x2,y2,label,votes_angry,votes_happy,votes_neutral,votes_sad\n"
    rows = [f"v01,a0,{f},10,10,40,90,happy,0,3,0,0" for f in range(4)] + ["v01,a1,0,50,10,80,90,sad,0,0,0,3"]
    path = tmp_path / "annotations.csv"
    path.write_text(header + "\n".join(rows + ["v01,a0,2,12,10,42,90,happy,0,3,0,0"]) + "\n")
    with pytest.raises(DataError, match=r"annotations.csv rows 4 and 7: agent 'a0' of video 'v01' has two rows for frame 2"):
        read_annotations(path)
    tracks, left_out = read_annotations(path, on_bad_input="skip")
    assert [t.agent for t in tracks] == ["a1"] and left_out == {"two rows for one frame": ["v01/a0"]}
    for bad, column, need in (("v01,a0,-1,10,10,40,90,happy,0,3,0,0", "frame", "a whole number >= 0"),
                              ("v01,a0,1.5,10,10,40,90,happy,0,3,0,0", "frame", "a whole number >= 0"),
                              ("v01,a0,1,10,10,40,90,happy,0,-3,0,0", "votes_happy", "a count >= 0")):
        path.write_text(header + "\n".join([rows[0], bad]) + "\n")
        with pytest.raises(DataError, match=rf"annotations.csv row 3: column '{column}' is '-?[\d.]+', not {need}"):
            read_annotations(path)


def test_a_damaged_egait_file_is_named(tmp_path):
    """Before: a corrupt features.h5 ended in h5py's traceback."""
    from mmer.data_modules.egait import EGaitDataModule
    from mmer.data_modules.fixtures.groupwalk import make_egait_fixture

    root = make_egait_fixture(tmp_path / "eg", gaits=4)
    data = (root / "features.h5").read_bytes()
    (root / "features.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"features.h5: (the file|gait '\w+') cannot be read as HDF5 numbers"):
        EGaitDataModule(root=str(root), num_folds=2).index()
    (root / "features.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"features.h5: the file cannot be read as HDF5"):
        EGaitDataModule(root=str(root), num_folds=2).index()
