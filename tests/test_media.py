"""Media cut short: a file whose header survives (an AVI, a fast-start MP4, a WAV) still opens and decodes without
a word from FFmpeg, so what was decoded is compared with what the file and the annotation promise. Every data
module that decodes media turns a shortfall into bad input: an error naming the file by default, a counted skip
with ``data.on_bad_input=skip`` (the dialogue datasets mask that utterance's modality and count it)."""

import shutil

import numpy as np
import pytest

from mmer.core.errors import DataError
from mmer.data.media import decode_audio, decode_frames, iter_frames, wav_header_seconds
from mmer.data_modules.fixtures.datasets import AUDIO_RATE, write_video, write_wav
from tests.conftest import fixture_root


def cut(path, keep=0.5):
    """Keep the first ``keep`` of the file's bytes (its header stays intact)."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _frames(n, h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def _tone(seconds, rate=AUDIO_RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    made = {"avi": root / "a.avi", "mp4": root / "b.mp4", "wav": root / "c.wav"}
    write_video(made["avi"], _frames(150), _tone(5.0), fps=30)
    write_video(made["mp4"], _frames(138), _tone(5.52), fps=25, faststart=True)
    write_wav(made["wav"], _tone(3.0, 16000), 16000)
    for name, path in list(made.items()):
        shutil.copy(path, root / f"cut_{path.name}")
        cut(root / f"cut_{path.name}", 0.4)
        made[f"cut_{name}"] = root / f"cut_{path.name}"
    return made


def test_complete_files_decode_in_full(files):
    assert len(decode_frames(files["avi"], 16)) == 150 and len(list(iter_frames(files["avi"]))) == 150
    assert len(decode_frames(files["mp4"], 16)) == 138
    assert abs(len(decode_audio(files["avi"])) / 16000 - 5.0) < 0.05
    assert abs(len(decode_audio(files["mp4"])) / 16000 - 5.52) < 0.1
    assert len(decode_audio(files["wav"])) == 48000 and wav_header_seconds(files["wav"]) == 3.0


@pytest.mark.parametrize("name, decode, promise", [
    ("cut_avi", lambda p: decode_frames(p, 16), "of the 150 frames"),
    ("cut_avi", lambda p: list(iter_frames(p)), "of the 150 frames"),
    ("cut_avi", decode_audio, "of the 5 seconds"),  # the AVI's audio header says nothing: its video's length does
    ("cut_mp4", lambda p: decode_frames(p, 16), "of the 138 frames"),
    ("cut_wav", decode_audio, "of the 3 seconds"),  # FFmpeg measures a WAV by its size; its header says 3 s
])
def test_a_file_cut_short_is_named_with_what_it_promised(files, name, decode, promise):
    with pytest.raises(DataError, match=rf"{files[name].name}: the (video|soundtrack) is truncated: .* {promise}"):
        decode(files[name])


def test_a_cut_inside_a_compressed_packet_is_an_error_too(files):
    with pytest.raises(DataError, match=r"cut_b.mp4: (the soundtrack|audio) is (unreadable or )?truncated"):
        decode_audio(files["cut_mp4"])


def test_the_tolerance_is_a_fraction_of_the_promise(files):
    assert len(decode_frames(files["cut_mp4"], 16, tolerance=0.9)) < 138  # allowed: decoded what is there
    with pytest.raises(DataError, match="media_tolerance=0.5"):
        decode_frames(files["cut_mp4"], 16, tolerance=0.5)


def test_a_soundtrack_must_also_cover_the_annotation(files):
    wave = decode_audio(files["avi"], covers=(5.0, "vid.txt (150 frames at 30 fps)"))
    assert len(wave) == 80000
    with pytest.raises(DataError, match=r"truncated: 5 of the 8 seconds that vid.txt \(240 frames at 30 fps\)"):
        decode_audio(files["avi"], covers=(8.0, "vid.txt (240 frames at 30 fps)"))


def _copy(dataset, tmp_path_factory, tmp_path):
    return shutil.copytree(fixture_root(dataset, tmp_path_factory), tmp_path / dataset,
                           ignore=shutil.ignore_patterns(".mmer_cache"))


def test_affwild2_an_avi_cut_in_half_is_refused_or_skipped(tmp_path_factory, tmp_path, caplog):
    """Before: the half AVI's log-mel rows past its sound repeated the last row for 146 frames, silently."""
    from mmer.data_modules.affwild2 import AffWild2DataModule

    root = _copy("affwild2", tmp_path_factory, tmp_path)
    cut(root / "batch2" / "vid_c.avi")
    args = dict(root=str(root), num_folds=2, window=100, hop=60)
    with pytest.raises(DataError, match=r"vid_c.avi: the soundtrack is truncated: .* of the 9.33\d* seconds"):
        AffWild2DataModule(**args).prepare_data()
    dm = AffWild2DataModule(**args, on_bad_input="skip")
    dm.prepare_data()
    dm.setup()
    assert list(dm.skipped) == ["vid_c"] and "vid_c" not in {r.id for r in dm.recordings}
    assert "skipped 1 of 10 recordings" in caplog.text


def test_biovid_a_faststart_mp4_cut_short_is_refused_or_skipped(tmp_path_factory, tmp_path):
    """Before: a fast-start BioVid video cut short cached 46 of its 138 frames, silently."""
    from mmer.data_modules.biovid import BioVidDataModule

    root = _copy("biovid", tmp_path_factory, tmp_path)
    video = sorted((root / "video").glob("*/*.mp4"))[2]
    write_video(video, _frames(138), None, fps=25, faststart=True)
    cut(video, 0.35)
    args = dict(root=str(root), face_size=16, num_folds=3)
    with pytest.raises(DataError, match=rf"{video.name}: the video is truncated: \d+ of the 138 frames"):
        BioVidDataModule(**args).prepare_data()
    dm = BioVidDataModule(**args, on_bad_input="skip")
    dm.prepare_data()
    dm.setup("fit")
    assert list(dm.skipped) == [video.stem] and len(dm.recordings) == 59


def test_emer_a_face_video_cut_short_is_refused_or_skipped(tmp_path_factory, tmp_path):
    from mmer.config.composer import compose
    from mmer.data_modules.emer import EmerDataModule

    root = _copy("emer", tmp_path_factory, tmp_path)
    sample = sorted(p.name for p in (root / "faces").iterdir())[0]
    shutil.rmtree(root / "faces" / sample)  # its face comes from the video instead
    write_video(root / "videos" / f"{sample}.mp4", _frames(60), None, fps=25, faststart=True)
    cut(root / "videos" / f"{sample}.mp4", 0.3)
    data = compose(["experiment=emert_emer"]).data
    args = dict(root=str(root), label_columns=dict(data.label_columns), eye_columns=dict(data.eye_columns),
                face_size=16, num_folds=5)
    with pytest.raises(DataError, match=rf"{sample}.mp4: the video is truncated: \d+ of the 60 frames"):
        EmerDataModule(**args).prepare_data()
    dm = EmerDataModule(**args, on_bad_input="skip")
    dm.prepare_data()
    assert list(dm.skipped) == [sample]


def test_groupwalk_a_video_that_ends_before_its_annotation_is_refused_or_skipped(tmp_path_factory, tmp_path):
    from mmer.data_modules.fixtures.groupwalk import FRAMES
    from mmer.data_modules.groupwalk import GroupWalkDataModule

    root = _copy("groupwalk", tmp_path_factory, tmp_path)
    write_video(root / "videos" / "v02.mp4", _frames(FRAMES, 120, 160), None, fps=10, faststart=True)
    cut(root / "videos" / "v02.mp4", 0.3)
    with pytest.raises(DataError, match=rf"v02.mp4: the video is truncated: \d+ of the {FRAMES} frames"):
        GroupWalkDataModule(root=str(root), segment_frames=16, num_folds=3).prepare_data()
    dm = GroupWalkDataModule(root=str(root), segment_frames=16, num_folds=3, on_bad_input="skip")
    dm.prepare_data()
    assert dm.skipped and all(k.startswith("v02__") for k in dm.skipped)


def test_dialogue_clips_cut_short_are_masked_and_counted(tmp_path_factory, tmp_path):
    """MELD and IEMOCAP keep an utterance whose clip is bad (its text stays): that modality is masked, counted and
    the reason says the file was truncated."""
    from mmer.data_modules.iemocap import IemocapDataModule
    from mmer.data_modules.meld import MeldDataModule

    meld = _copy("meld", tmp_path_factory, tmp_path)
    clip = meld / "dev_splits_complete" / "dia1_utt3.mp4"
    write_video(clip, _frames(48, 48, 64), _tone(2.0), fps=24, faststart=True)
    cut(clip, 0.4)
    dm = MeldDataModule(root=str(meld), clips=True)
    dm.prepare_data()
    why = dm.bad_clips["dev/dia1/utt3"]
    assert "audio: " in why and "visual: " in why and why.count("truncated") == 2

    iemocap = _copy("iemocap", tmp_path_factory, tmp_path)
    wav = sorted((iemocap / "Session1" / "sentences" / "wav").glob("*/*.wav"))[0]
    cut(wav, 0.5)
    dm = IemocapDataModule(root=str(iemocap), clips=True)
    dm.prepare_data()
    (key,) = [k for k in dm.bad_clips if k.endswith(wav.stem)]
    assert f"{wav.name}: the soundtrack is truncated" in dm.bad_clips[key]


def test_the_audio_front_end_puts_a_tone_in_its_band_and_appends_deltas():
    """mmer.data.audio is the one log-mel / MFCC front end (Aff-Wild2, MELD/IEMOCAP and RAVDESS features call it)."""
    import torchaudio

    from mmer.data.audio import log_mel, mfcc, speech_window

    sr, hop = 16000, 160
    wave = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(sr) / sr)).astype(np.float32)
    spec = log_mel(wave, sr, hop, n_mels=64, n_fft=400)
    assert spec.shape == (sr // hop + 1, 64) and spec.dtype == np.float32
    banks = torchaudio.functional.melscale_fbanks(201, 0.0, sr / 2, 64, sr).numpy()  # (freq bins, mels)
    expected = int(banks[round(1000 / (sr / 400))].argmax())  # the band whose filter peaks at the tone's FFT bin
    assert abs(int(np.median(spec[2:-2].argmax(1))) - expected) <= 1
    win, n_fft = speech_window(sr)
    assert (win, n_fft) == (400, 512)
    with_deltas = log_mel(wave, sr, hop, 64, n_fft, win, deltas=True)
    assert with_deltas.shape[1] == 192 and np.allclose(with_deltas[:, :64], log_mel(wave, sr, hop, 64, n_fft, win))
    assert mfcc(wave, sr, hop, n_fft, win).shape == (sr // hop + 1, 39)
