"""Messages that sent users the wrong way (issue 28, class 6): a GPU asked for on a machine without one, a bad WAV
reported as a video, and ``data.on_bad_input=skip`` that did not skip an unreadable RAVDESS WAV."""

from __future__ import annotations

import shutil

import pytest
import torch

from mmer.cli import main
from mmer.core.errors import DataError
from mmer.data.media import decode_audio, has_audio
from mmer.data_modules.ravdess import RavdessDataModule
from tests.conftest import TINY, fixture_root


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_on_a_machine_without_one_names_the_accelerator_not_the_device_count(tmp_path, capsys):
    assert main(["cv", *TINY, "trainer.accelerator=gpu", f"paths.output_root={tmp_path / 'runs'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: trainer.accelerator=gpu: torch sees no GPU") and "devices<=0" not in err
    assert not (tmp_path / "runs").exists()


def test_a_bad_wav_is_reported_as_a_wav(tmp_path):
    bad = tmp_path / "take.wav"
    bad.write_bytes(b"RIFF\x00\x01garbage" * 10)
    for read in (decode_audio, has_audio):
        with pytest.raises(DataError, match=r"take.wav: cannot open the WAV file"):
            read(bad)
    clip = tmp_path / "clip.mkv"
    clip.write_bytes(b"not a container")
    with pytest.raises(DataError, match=r"clip.mkv: cannot open the audio file"):
        decode_audio(clip)


def test_skip_leaves_an_unreadable_ravdess_wav_out_and_counts_it(tmp_path_factory, tmp_path):
    root = tmp_path / "ravdess"
    shutil.copytree(fixture_root("ravdess", tmp_path_factory), root)
    bad = sorted((root / "Actor_02").glob("*.wav"))[0]
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=rf"{bad.name}: not a readable WAV file .*data.on_bad_input=skip"):
        RavdessDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), num_folds=3).prepare_data()
    dm = RavdessDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), num_folds=3, on_bad_input="skip")
    dm.prepare_data()
    dm.setup()
    key = f"Actor_02/{bad.stem}"
    assert key in dm.skipped and key not in {r.id for r in dm.index()}
    assert len(dm.skipped) == 1


def test_a_table_printed_into_a_log_keeps_every_column_name_whole(capsys):
    from mmer.evaluation.report import print_table

    columns = [f"cv/oof_a_long_score_name_{k}" for k in range(5)]  # wider than 80 characters together
    print_table("scores", [("pooled out-of-fold", [0.5] * 5)], columns)
    printed = capsys.readouterr().out
    assert all(c in printed for c in columns) and "…" not in printed
