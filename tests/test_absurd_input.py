"""Numerically absurd input is named by file at extraction (issue 28, class 8): a float WAV of amplitude 1e29, or one
holding NaN, stops with the file's name (or is skipped and counted), never a NaN loss on an anonymous batch."""

import shutil

import numpy as np
import pytest
import soundfile

from mmer.core.errors import DataError
from mmer.data.audio import MAX_AMPLITUDE, check_waveform
from mmer.data_modules.ravdess import RavdessDataModule
from tests.conftest import fixture_root


def test_the_waveform_check_passes_recordings_and_names_the_rest():
    fine = np.sin(np.linspace(0, 100, 1600)).astype(np.float32) * 1.2  # a float file overshooting full scale a bit
    assert check_waveform("a.wav", fine) is fine
    with pytest.raises(DataError, match=r"loud.wav: audio samples reach 1e\+29, beyond \|x\| <= 100; full scale is 1.0"):
        check_waveform("loud.wav", fine * np.float32(1e29 / 1.2))
    with pytest.raises(DataError, match=r"nan.wav: 1 of 1600 audio samples are NaN or infinite"):
        check_waveform("nan.wav", np.where(np.arange(1600) == 7, np.nan, fine).astype(np.float32))
    assert MAX_AMPLITUDE < 1e29


@pytest.mark.parametrize("scale", [1e29, np.nan])
def test_a_recording_no_microphone_made_is_named_at_extraction(tmp_path, tmp_path_factory, scale):
    root = fixture_root("ravdess", tmp_path_factory)
    copy = tmp_path / "copy"
    for actor in ("Actor_01", "Actor_02"):
        shutil.copytree(root / actor, copy / actor)
    bad = copy / "Actor_02" / "03-01-05-01-01-01-02.wav"
    wave, rate = soundfile.read(str(bad), dtype="float32")
    soundfile.write(str(bad), (wave * np.float32(scale)).astype(np.float32), rate, subtype="FLOAT")
    settings = {"root": str(copy), "cache_dir": str(tmp_path / "cache"), "num_folds": 2, "modalities": ["logmel"]}
    dm = RavdessDataModule(**settings)
    with pytest.raises(DataError, match=r"03-01-05-01-01-01-02.wav: .*(full scale is 1.0|NaN or infinite)"):
        dm.prepare_data()
        dm.setup()
    skipping = RavdessDataModule(**{**settings, "cache_dir": str(tmp_path / "cache2")}, on_bad_input="skip")
    skipping.prepare_data()
    skipping.setup()
    assert "Actor_02/03-01-05-01-01-01-02" in skipping.skipped
    assert "Actor_02/03-01-05-01-01-01-02" not in {r.id for r in skipping.recordings}
