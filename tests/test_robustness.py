"""Robustness at test time (``mmer evaluate RUN --perturb``, :mod:`mmer.data.perturb`): a level of zero gives exactly
the clean scores, removing every modality gives chance level, the perturbations are deterministic for a seed and do
what they say on a batch."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from mmer.cli import main
from mmer.commands.evaluate import evaluate_run
from mmer.core.batch import Batch
from mmer.core.errors import ConfigError
from mmer.data.perturb import Perturbation, SourceNoise, drop_tokens
from mmer.data.records import ModalitySpec


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from mmer.config.composer import compose
    from mmer.cv import run_cv
    from tests.conftest import TINY

    out = tmp_path_factory.mktemp("robust_runs")
    yield run_cv(compose([*TINY, "cv.folds=2", "trainer.max_epochs=2", f"paths.output_root={out}"]))
    shutil.rmtree(out, ignore_errors=True)


def scores(run, split, *perturb, seed=0):
    return evaluate_run(run.run_dir, split=split, perturb=perturb, seed=seed, write=False)[0]


def test_level_zero_perturbations_give_exactly_the_clean_scores(tiny_run):
    clean = scores(tiny_run, "test")
    assert clean["cv/ccc_mean"] == pytest.approx(tiny_run.summary["cv/ccc_mean"], abs=1e-6)
    same = scores(tiny_run, "test", "audio=noise:snr_db=inf", "visual=frames:drop=0")
    assert same == clean
    oof = scores(tiny_run, "oof")
    assert oof["cv/oof_ccc_mean"] == pytest.approx(tiny_run.summary["cv/oof_ccc_mean"], abs=1e-6)


def test_removing_every_modality_gives_chance_level_and_noise_hurts(tiny_run):
    clean = scores(tiny_run, "test")["cv/ccc_mean"]
    nothing = scores(tiny_run, "test", "audio=drop", "visual=drop")["cv/ccc_mean"]
    assert abs(nothing) < 0.05 < clean  # no input: a constant prediction, CCC about 0
    noisy = scores(tiny_run, "test", "audio=noise:snr_db=-10")["cv/ccc_mean"]
    assert noisy < clean
    again = scores(tiny_run, "test", "audio=noise:snr_db=-10")["cv/ccc_mean"]
    other_seed = scores(tiny_run, "test", "audio=noise:snr_db=-10", seed=1)["cv/ccc_mean"]
    assert again == noisy and other_seed != noisy


def test_the_command_prints_and_writes_the_scores(tiny_run, tmp_path, capsys):
    code = main(["evaluate", str(tiny_run.run_dir), "--perturb", "visual=frames:drop=0.5", "--json",
                 str(tmp_path / "r.json")])
    assert code == 0 and "perturbed: visual=frames:drop=0.5: steps dropped (features)" in capsys.readouterr().out
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["perturb"] == ["visual=frames:drop=0.5"] and math.isfinite(written["scores"]["cv/ccc_mean"])
    assert main(["evaluate", str(tiny_run.run_dir), "--perturb", "text=words:drop=0.3"]) == 2
    assert "reads ['audio', 'visual'], not text" in capsys.readouterr().err


def test_parsing_refuses_what_it_cannot_do():
    assert Perturbation.parse("audio=noise:snr_db=10") == Perturbation("audio", "noise", 10.0)
    assert Perturbation.parse("audio=acoustic:snr_db=0") == Perturbation("audio", "acoustic", 0.0)
    assert Perturbation.parse("audio=drop").label == "audio=drop"
    for bad in ("audio", "audio=blur", "audio=drop:x=1", "audio=noise:drop=1", "visual=frames:drop=1.5",
                "visual=frames:drop=abc", "audio=acoustic:drop=0.1", "audio=acoustic:snr_db=nan"):
        with pytest.raises(ConfigError):
            Perturbation.parse(bad)


def batch(x, mask, recordings=("a", "b")):
    return Batch({"m": x}, {"m": mask}, meta={"recording": list(recordings)})


def test_noise_has_the_asked_signal_to_noise_ratio_on_present_steps_only():
    x = torch.ones(2, 20000)
    mask = torch.ones(2, 20000, dtype=torch.bool)
    mask[1, 10000:] = False
    b = batch(x.clone(), mask.clone())
    Perturbation("m", "noise", 10.0).apply(b, seed=0)
    noise = b.inputs["m"] - x
    assert noise[0].pow(2).mean().item() == pytest.approx(0.1, rel=0.05)  # power 1, 10 dB below
    assert noise[1, 10000:].abs().max() == 0  # padding untouched
    features = torch.ones(1, 20000, 2, dtype=torch.float64) * torch.tensor([1e6, 1e-3], dtype=torch.float64)
    b = batch(features.clone(), torch.ones(1, 20000, dtype=torch.bool), ["a"])
    Perturbation("m", "noise", 20.0, scale=(10.0, 1e-4)).apply(b, seed=0)
    noise = b.inputs["m"] - features  # each feature 20 dB below its own spread in the training data
    assert noise[0].std(0).tolist() == pytest.approx([1.0, 1e-5], rel=0.05)
    spec = {"m": ModalitySpec("features", 2), "w": ModalitySpec("waveform", 1)}
    spread = lambda m: (np.zeros(2), np.array([10.0, 1e-4]))  # noqa: E731
    assert Perturbation("m", "noise", 20.0).fitted(spec, spread).scale == (10.0, 1e-4)
    for unscaled in (Perturbation("w", "noise", 20.0), Perturbation("m", "noise", math.inf), Perturbation("m", "drop")):
        assert unscaled.fitted(spec, spread) is unscaled


def test_noise_in_a_recording_has_the_asked_ratio_and_depends_on_seed_and_recording_only():
    wave = np.sin(np.linspace(0, 2000, 40000)).astype(np.float32)  # power 0.5
    noise = SourceNoise(10.0, seed=0, recordings=frozenset({"a", "b"}))
    added = noise.add(wave, "a").astype(np.float64) - wave
    assert np.mean(added ** 2) == pytest.approx(0.05, rel=0.05)
    assert np.array_equal(noise.add(wave, "a"), noise.add(wave, "a"))
    assert not np.array_equal(noise.add(wave, "a"), noise.add(wave, "b"))
    assert not np.array_equal(noise.add(wave, "a"), SourceNoise(10.0, 1, noise.recordings).add(wave, "a"))
    silent = np.zeros(100, np.float32)
    assert np.array_equal(noise.add(silent, "a"), silent)
    assert np.array_equal(SourceNoise(math.inf, 0, noise.recordings).add(wave, "a"), wave)


def test_noise_in_the_recording_is_refused_where_no_input_is_computed_from_sound(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run.run_dir), "--perturb", "audio=acoustic:snr_db=10"]) == 2
    assert "computes none of its inputs from the recordings' sound, not audio" in capsys.readouterr().err


def test_frames_and_words_dropped_in_the_asked_share():
    frames = torch.full((1, 1000, 3, 2, 2), 200, dtype=torch.uint8)
    b = batch(frames, torch.ones(1, 1000, dtype=torch.bool), ["v"])
    Perturbation("m", "frames", 0.3).apply(b, seed=0)
    dropped = ~b.masks["m"][0]
    assert dropped.float().mean().item() == pytest.approx(0.3, abs=0.05)
    assert (b.inputs["m"][0, dropped] == 0).all() and (b.inputs["m"][0, ~dropped] == 200).all()
    ids = torch.tensor([[101, *range(1000, 1100), 102, 0, 0]])
    out = drop_tokens(ids, 0.5, np.random.default_rng(0))
    kept = out[0][out[0] != 0]
    assert kept[0] == 101 and kept[-1] == 102 and 30 < len(kept) - 2 < 70
    assert torch.equal(drop_tokens(ids, 0.0, np.random.default_rng(0)), ids)
    with_context = torch.tensor([[101, 5, 6, 7, 102, 8, 9, 102, 10, 102, 0]])  # [CLS] u [SEP] past [SEP] next [SEP]
    assert drop_tokens(with_context, 1.0, np.random.default_rng(0))[0].tolist() == [101, 102, 102, 102] + [0] * 7


def test_the_standard_sweep_scores_every_condition_and_draws_them(tiny_run, tmp_path):
    code = main(["robustness", str(tiny_run.run_dir), "--json", str(tmp_path / "r.json"), "--plot",
                 str(tmp_path / "r.png")])
    assert code == 0 and (tmp_path / "r.png").stat().st_size > 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["split"] == "test"
    assert set(result["noise"]) == {"audio", "visual"} and all(w.startswith("on the ") for w in result["noise"].values())
    assert result["clean"]["cv/ccc_mean"] == pytest.approx(tiny_run.summary["cv/ccc_mean"], abs=1e-6)
    labels = [c["label"] for c in result["conditions"]]
    for m in ("audio", "visual"):
        assert f"{m}=drop" in labels and f"{m}=noise:snr_db=0" in labels and f"{m}=frames:drop=0.5" in labels
    loud = next(c for c in result["conditions"] if c["label"] == "audio=noise:snr_db=20")["scores"]["cv/ccc_mean"]
    drowned = next(c for c in result["conditions"] if c["label"] == "audio=noise:snr_db=0")["scores"]["cv/ccc_mean"]
    assert drowned < loud + 0.02  # more noise does not help
