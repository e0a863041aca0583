"""A trained model outside its CV run: self-describing checkpoints, load_module anywhere, the fold ensemble
scored on a labelled copy of the data (``mmer evaluate``), export, and the bad inputs around them."""

import shutil

import numpy as np
import pytest
import torch

from mmer.core.errors import ConfigError

TINY = ["experiment=jmt_synthetic", "data.num_subjects=6", "data.test_subjects=2", "++data.min_frames=120",
        "++data.max_frames=300", "data.window=100", "data.hop=60", "data.batch_size=4", "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false", "logger=csv", "cv.folds=2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    return run_cv(compose([*TINY, f"paths.output_root={tmp_path_factory.mktemp('runs')}"]))


def _predict(module, dm, recordings, ev):
    import lightning as L

    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False,
                        enable_model_summary=False)
    return ev.table(trainer.predict(module, dataloaders=dm.predict_loader(recordings)), recordings)


def test_a_copied_checkpoint_rebuilds_the_model_and_its_predictions_anywhere(run, tmp_path):
    from mmer.config.build import prepare_datamodule
    from mmer.evaluation.tables import read_table
    from mmer.model.module import MultimodalModule
    from mmer.runs import load_module

    elsewhere = tmp_path / "somewhere" / "model.ckpt"
    elsewhere.parent.mkdir()
    shutil.copy(run.run_dir / "fold1" / "checkpoints" / "best.ckpt", elsewhere)
    with pytest.raises(TypeError, match=r"from mmer.runs import load_module"):  # the model layer builds no models
        MultimodalModule.load_from_checkpoint(str(elsewhere))
    module = load_module(elsewhere)
    assert not module.training and module.description["target_spec"] == {"va": ["valence", "arousal"]}
    dm = prepare_datamodule(_cfg(run), fold=1)
    written, _ = read_table(run.run_dir / "fold1" / "oof_predictions.csv", run.evaluator.columns)
    again = _predict(module, dm, dm.split("val"), run.evaluator)
    assert sorted(again) == sorted(written)
    for rec in written:
        np.testing.assert_allclose(again[rec], written[rec], atol=1e-5)  # the CSV keeps 6 decimals


def _cfg(run):
    from mmer.runs.folder import run_config

    return run_config(run.run_dir)


def test_evaluate_on_a_copy_of_the_data_reproduces_the_run_and_writes_its_outputs(run):
    import json

    from mmer.commands.evaluate import evaluate_run

    summary, out = evaluate_run(run.run_dir, name="same_data")
    for key in run.evaluator.score_keys:  # the same held-out partition: the CV's merged scores, to the digit
        assert summary[f"cv/{key}"] == pytest.approx(run.summary[f"cv/{key}"], abs=1e-9)
        assert summary[f"fold0/test/{key}"] == pytest.approx(run.summary[f"fold0/test/{key}"], abs=1e-9)
        # one key grammar for `mmer cv` and `mmer evaluate`: the same keys, the same values
        assert summary[f"cv/fold_mean_{key}"] == pytest.approx(run.summary[f"cv/fold_mean_{key}"], abs=1e-9)
    assert {p.name for p in out.iterdir()} >= {"fold0_predictions.csv", "fold1_predictions.csv", "summary.json",
                                               "merged_predictions.csv", "table.txt", "predictions.png"}
    written = json.loads((out / "summary.json").read_text())
    assert written["scores"]["cv/ccc_mean"] == summary["cv/ccc_mean"]
    assert "fold ensemble" in written["protocol"]["evaluation"] and "concordance" in written["protocol"]["metrics"]
    with pytest.raises(ConfigError, match=r"data.window is 120, the model was trained with 100"):
        evaluate_run(run.run_dir, ["data.window=120"], name="other_window")
    with pytest.raises(ConfigError, match=r"modality 'audio' is .*'dim': 12.* trained on .*'dim': 24"):
        evaluate_run(run.run_dir, ["data.audio_dim=12"], name="other_audio")


def test_bad_checkpoints_and_run_folders_are_named(run, tmp_path):
    from mmer.runs.checkpoints import load_module
    from mmer.runs.folder import load_run

    with pytest.raises(ConfigError, match="no such checkpoint"):
        load_module(tmp_path / "missing.ckpt")
    (tmp_path / "noise.ckpt").write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ConfigError, match=r"noise.ckpt: not a readable PyTorch checkpoint"):
        load_module(tmp_path / "noise.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(ConfigError, match=r"foreign.ckpt: carries no mmer model description"):
        load_module(tmp_path / "foreign.ckpt")
    state = torch.load(run.run_dir / "fold0" / "checkpoints" / "best.ckpt", weights_only=True)
    state["mmer"]["format"] = 99
    torch.save(state, tmp_path / "future.ckpt")
    with pytest.raises(ConfigError, match=r"future.ckpt: model description format 99, this mmer reads 1"):
        load_module(tmp_path / "future.ckpt")
    empty = tmp_path / "empty_run"
    empty.mkdir()
    shutil.copy(run.run_dir / "config.yaml", empty / "config.yaml")
    with pytest.raises(ConfigError, match="no finished fold"):
        load_run(empty)
    with pytest.raises(ConfigError, match="not a run folder"):
        load_run(tmp_path)
    old = tmp_path / "old_run"  # written before the data modules moved under mmer: data_modules.* targets
    shutil.copytree(run.run_dir, old, ignore=shutil.ignore_patterns("evaluate", "export", "predict"))
    (old / "config.yaml").write_text((old / "config.yaml").read_text().replace("mmer.data_modules.", "data_modules."))
    assert load_run(old).cfg.data._target_ == "mmer.data_modules.synthetic.SyntheticAVDataModule"


def test_export_gives_the_checkpoints_outputs(run, tmp_path):
    from mmer.commands.export import example_batch, export_run
    from mmer.config.build import prepare_datamodule
    from mmer.runs.checkpoints import load_module

    path = export_run(run.run_dir, fold=0, out=tmp_path / "fold0.pt")
    exported = torch.jit.load(str(path))
    module = load_module(run.run_dir / "fold0" / "checkpoints" / "best.ckpt")
    dm = prepare_datamodule(_cfg(run))
    batch = example_batch(dm)
    mods = [m for m in module.backbones if m in batch.inputs]
    with torch.no_grad():
        expected = module(batch)["va"]
        got = exported(*[batch.inputs[m] for m in mods], *[batch.masks[m] for m in mods])
    torch.testing.assert_close(got, expected)
    other = next(iter(dm.predict_loader(dm.split("trainval")[1:2])))  # another window of the same shape
    with torch.no_grad():
        torch.testing.assert_close(exported(*[other.inputs[m][:1] for m in mods], *[other.masks[m][:1] for m in mods]),
                                   module(type(other)({m: other.inputs[m][:1] for m in mods},
                                                      {m: other.masks[m][:1] for m in mods}))["va"])
    assert (tmp_path / "fold0.pt.json").is_file()


def test_onnx_export_runs_in_onnxruntime_with_the_checkpoints_outputs(run, tmp_path):
    import onnxruntime

    from mmer.commands.export import example_batch, export_run
    from mmer.config.build import prepare_datamodule
    from mmer.runs.checkpoints import load_module

    path = export_run(run.run_dir, fold=1, fmt="onnx", out=tmp_path / "fold1.onnx")
    module = load_module(run.run_dir / "fold1" / "checkpoints" / "best.ckpt")
    batch = example_batch(prepare_datamodule(_cfg(run)))
    mods = [m for m in module.backbones if m in batch.inputs]
    session = onnxruntime.InferenceSession(str(path))
    feed = {f"x_{m}": batch.inputs[m].numpy() for m in mods} | {f"mask_{m}": batch.masks[m].numpy() for m in mods}
    assert [i.name for i in session.get_inputs()] == list(feed)
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, feed)[0], module(batch)["va"].numpy(), atol=1e-5)


def test_predict_a_raw_video_with_and_without_faces_resumes_and_flags(affwild2_run, tmp_path):
    import pandas as pd

    from mmer.commands.predict import predict_files
    from mmer.core.errors import DataError
    from mmer.data_modules.fixtures.datasets import AFFWILD2_VIDEOS, write_video

    run, root = affwild2_run
    video = root / "batch1" / "vid_b.mp4"
    frames = AFFWILD2_VIDEOS["vid_b"][1]
    plain = pd.read_csv(predict_files(run.run_dir, [video], tmp_path / "plain") / "vid_b.csv")
    assert len(plain) == frames and plain["frame"].tolist() == list(range(1, frames + 1))
    assert np.isfinite(plain[["valence", "arousal"]].to_numpy()).all() and not plain["face_found"].any()
    assert plain["time_s"].iloc[30] == pytest.approx(1.0, abs=1e-3)  # the fixture's 30 fps
    out = predict_files(run.run_dir, [video], tmp_path / "faces", faces=root / "cropped_aligned", abaw=True)
    faced = pd.read_csv(out / "vid_b.csv")
    assert faced["face_found"].sum() == frames - 3  # the fixture drops 3 crops per video
    assert not np.allclose(faced["valence"], plain["valence"])  # the faces are used
    assert (out / "vid_b.png").is_file() and (out / "abaw" / "vid_b.txt").is_file()
    stamp = (out / "vid_b.csv").stat().st_mtime_ns
    silent = tmp_path / "in" / "silent.mp4"
    write_video(silent, np.full((40, 24, 32, 3), 90, np.uint8), None, fps=30)
    broken = tmp_path / "in" / "broken.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(DataError, match=r"1 of 3 inputs could not be predicted .*broken.mp4: cannot open the video"):
        predict_files(run.run_dir, [video, tmp_path / "in"], out, faces=root / "cropped_aligned")
    assert (out / "vid_b.csv").stat().st_mtime_ns == stamp  # done before: skipped, not recomputed
    quiet = pd.read_csv(out / "silent.csv")  # no soundtrack: predicted from what is there
    assert len(quiet) == 40 and np.isfinite(quiet[["valence", "arousal"]].to_numpy()).all()
    assert "broken.mp4" in (out / "failed.txt").read_text() and not (out / "broken.csv").exists()
    predict_files(run.run_dir, [video], out, detector=None)  # its faces from elsewhere (here none): predicted again
    assert not pd.read_csv(out / "vid_b.csv")["face_found"].any()
    assert not list(out.glob(".*.tmp"))


def test_evaluate_an_affwild2_run_on_a_second_copy_of_the_data(affwild2_run, tmp_path):
    from mmer.commands.evaluate import evaluate_run

    run, root = affwild2_run
    copy = shutil.copytree(root, tmp_path / "second", ignore=shutil.ignore_patterns(".mmer_cache"))
    summary, out = evaluate_run(run.run_dir, [f"data.root={copy}"])
    assert summary["cv/ccc_mean"] == pytest.approx(run.summary["cv/ccc_mean"], abs=1e-6)
    assert out.name == "second" and (out / "predictions.png").is_file()


def test_predict_new_dialogues_with_a_text_model(tmp_path_factory, tmp_path):
    import pandas as pd

    from mmer.commands.predict import predict_files
    from mmer.config.composer import compose
    from mmer.cv import run_cv
    from tests.conftest import fixture_root

    cfg = compose(["experiment=m2fnet_meld", f"data.root={fixture_root('meld', tmp_path_factory)}",
                   "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "logger=csv",
                   f"paths.output_root={tmp_path / 'runs'}"])
    run = run_cv(cfg)
    csv = tmp_path / "in" / "episode.csv"
    csv.parent.mkdir()
    csv.write_text('Sr No.,Utterance,Speaker,Dialogue_ID,Utterance_ID\n1,"I am so happy for you!",Ross,4,0\n'
                   '2,"Stop lying to me!",Rachel,4,1\n3,"Okay, I will check.",Joey,7,2\n')
    (tmp_path / "in" / "notes.txt").write_text("not a dialogue")  # left aside, with a warning
    out = predict_files(run.run_dir, [tmp_path / "in"], tmp_path / "out")
    table = pd.read_csv(out / "episode.csv")
    assert table["dialogue"].tolist() == ["episode/dia4", "episode/dia4", "episode/dia7"]
    assert table["utterance"].tolist() == ["utt0", "utt1", "utt2"]
    probs = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert set(table["prediction"]) <= {c[2:] for c in table.columns if c.startswith("p_")}


def test_faces_detected_in_a_new_video_are_cropped_in_the_training_layout(affwild2_run, tmp_path, monkeypatch):
    """Without --faces, a detector's faces become aligned crops in the cropped_aligned layout (MTCNN when installed;
    here the white-square stand-in), frames without one are flagged, and a contact sheet shows the crops."""
    import pandas as pd

    from mmer.commands.predict import predict_files
    from mmer.data_modules.fixtures.datasets import write_video
    from tests.conftest import bright_faces, square_video

    run, _ = affwild2_run
    video = tmp_path / "in" / "square.mp4"
    write_video(video, square_video(60, absent=range(20, 30)), np.random.default_rng(0).normal(0, 0.1, 88200), fps=30)
    before = bright_faces.seen
    out = predict_files(run.run_dir, [video], tmp_path / "out", detector=bright_faces)
    table = pd.read_csv(out / "square.csv")
    assert table["face_found"].tolist() == [int(k not in range(20, 30)) for k in range(60)]
    assert np.isfinite(table[["valence", "arousal"]].to_numpy()).all()
    crops = sorted((out / ".faces" / "square").glob("*.jpg"))
    assert len(crops) == 50 and crops[0].name == "00001.jpg"
    assert (out / "square.faces.png").is_file() and (out / ".faces" / "square" / "faces.csv").is_file()
    once = bright_faces.seen - before  # frames shown to detect one video's faces
    (out / "square.csv").unlink()  # its crops are kept: predicting again reads them, detects nothing again
    again = predict_files(run.run_dir, [video], tmp_path / "out", detector=bright_faces)
    assert bright_faces.seen - before == once and pd.read_csv(again / "square.csv").equals(table)
    video.touch()  # a changed video is detected again
    predict_files(run.run_dir, [video], tmp_path / "out", detector=bright_faces)
    assert bright_faces.seen - before == 2 * once > 0
    # so is the same video with a detector set otherwise (MTCNN's min_face, say): its settings are in the record
    monkeypatch.setattr(bright_faces, "settings", {"name": "bright", "threshold": 200}, raising=False)
    predict_files(run.run_dir, [video], tmp_path / "out", detector=bright_faces)
    assert bright_faces.seen - before == 3 * once


def test_a_silent_soundtrack_is_a_missing_one_and_a_phone_video_keeps_its_times(affwild2_run, tmp_path, caplog):
    """Edge cases of real files at predict time: a soundtrack of digital silence predicts exactly as no soundtrack
    (audio masked, said once); a variable-frame-rate video's time_s are its frames' own time stamps."""
    import pandas as pd

    from mmer.commands.predict import predict_files
    from mmer.data_modules.fixtures.datasets import write_video
    from mmer.data_modules.fixtures.phone import write_timed_video
    from tests.conftest import bright_faces, square_video

    run, _ = affwild2_run
    frames = square_video(45)
    write_video(tmp_path / "in" / "mute.mp4", frames, None, fps=30)
    write_video(tmp_path / "in" / "silent.mp4", frames, np.zeros(66150, np.float32), fps=30)
    out = predict_files(run.run_dir, [tmp_path / "in"], tmp_path / "out", detector=bright_faces)
    mute, silent = (pd.read_csv(out / f"{n}.csv") for n in ("mute", "silent"))
    np.testing.assert_allclose(silent[["valence", "arousal"]], mute[["valence", "arousal"]], atol=1e-6)
    assert "silent.mp4: its soundtrack is silent throughout" in caplog.text
    times = np.cumsum([0] + [1 / 30] * 20 + [0.2] + [1 / 30] * 20)
    write_timed_video(tmp_path / "phone" / "vfr.mp4", square_video(42), times)
    vfr = pd.read_csv(predict_files(run.run_dir, [tmp_path / "phone" / "vfr.mp4"], tmp_path / "out2",
                                    detector=bright_faces) / "vfr.csv")
    np.testing.assert_allclose(vfr["time_s"], times, atol=2e-3)
    assert "variable frame rate" in caplog.text
