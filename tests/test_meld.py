"""MELD: the real CSVs in ../shared/data/meld (read in place, never copied) and hand-written bad inputs."""

import re

import numpy as np
import pytest
import torch

from mmer.core.errors import DataError
from mmer.data_modules.meld import EMOTIONS, SENTIMENTS, MeldDataModule, read_meld_csv

HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime"


@pytest.fixture
def meld(shared_dir):
    return shared_dir / "data" / "meld"


def test_label_order_is_the_official_one(meld):
    text = (meld / "SOURCE.md").read_text()
    official = dict(re.findall(r"'(\w+)':(\d)", text.split("official index order")[1].split("\n")[0]))
    assert [name for name, _ in sorted(official.items(), key=lambda kv: int(kv[1]))] == EMOTIONS
    sentiment = dict(re.findall(r"'(\w+)':(\d)", text.split("Sentiment labels (3):")[1].split("\n")[0]))
    assert [name for name, _ in sorted(sentiment.items(), key=lambda kv: int(kv[1]))] == SENTIMENTS


def test_real_csvs_parse_with_gaps_and_restarting_ids(meld):
    dev = read_meld_csv(meld / "dev_sent_emo.csv")
    assert len(dev) == 1109 and dev["Dialogue_ID"].nunique() == 114
    assert (dev["Emotion"].value_counts()["neutral"], dev["Emotion"].value_counts()["fear"]) == (470, 40)
    gaps = dev[dev["Dialogue_ID"] == 49]["Utterance_ID"].to_numpy()
    assert np.all(np.diff(gaps) > 0) and not np.array_equal(gaps, np.arange(len(gaps)))  # sorted, with a gap


def test_dialogue_batches_and_the_official_split(meld):
    dm = MeldDataModule(root=str(meld), max_dialogues=5, batch_size=3)
    dm.setup("fit")
    dm.set_fold(0)
    assert {r.id for r in dm.split("val")} == {f"dev/dia{d}" for d in range(5)}
    assert {r.id for r in dm.split("train")} == {f"train/dia{d}" for d in range(5)}  # ids restart per split
    assert dm.split("test") == []
    batch = next(iter(dm.val_dataloader()))
    text, mask = batch.inputs["text"], batch.masks["text"]
    assert text.dtype == torch.int64 and torch.equal(batch.targets["emotion"], batch.targets["emotion"].round())
    assert text.shape[:2] == mask.shape == batch.targets["emotion"].shape and text.shape[2] == 64
    lengths = mask.sum(1).tolist()
    expected = [dm.load(r).targets["emotion"].shape[0] for r in sorted(dm.split("val"), key=lambda r: r.id)[:3]]
    assert lengths == expected and (text[~mask] == 0).all()
    first = dm.load(next(r for r in dm.recordings if r.id == "dev/dia0"))  # "Oh my God, he’s lost it." / "What?"
    assert first.targets["emotion"].tolist()[:2] == [EMOTIONS.index("sadness"), EMOTIONS.index("surprise")]


def _write(path, rows):
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")


def test_bad_csvs_fail_with_the_file_and_row(tmp_path):
    row = '1,"Hi, you.",Ross,joy,positive,0,0,1,1,"00:00:01,000","00:00:02,000"'
    _write(tmp_path / "train_sent_emo.csv", [row, row.replace("joy", "happy").replace(",0,0,", ",0,1,")])
    with pytest.raises(DataError, match=r"train_sent_emo.csv, row 3: unknown emotion 'happy'"):
        read_meld_csv(tmp_path / "train_sent_emo.csv")
    _write(tmp_path / "train_sent_emo.csv", [row, row])
    with pytest.raises(DataError, match=r"row 3: dialogue 0 utterance 0 appears twice"):
        read_meld_csv(tmp_path / "train_sent_emo.csv")
    (tmp_path / "dev_sent_emo.csv").write_text("Utterance,Speaker\nhi,Ross\n")
    with pytest.raises(DataError, match=r"dev_sent_emo.csv: no column\(s\) \['Emotion'"):
        read_meld_csv(tmp_path / "dev_sent_emo.csv")
    for rows, message in (([], "a header and no utterance rows"),
                          ([row.replace("joy", "3")], r"row 2: unknown emotion '3'"),  # integer labels
                          ([row, row.replace(",0,0,", ",0,0.5,")], r"row 3: Utterance_ID '0.5' is not an integer")):
        _write(tmp_path / "train_sent_emo.csv", rows)
        with pytest.raises(DataError, match=message):
            read_meld_csv(tmp_path / "train_sent_emo.csv")
    for content in (b"", b"Sr No.,Utterance\n1,\xe9t\xe9\n"):  # empty; Latin-1 bytes
        (tmp_path / "train_sent_emo.csv").write_bytes(content)
        with pytest.raises(DataError, match=r"train_sent_emo.csv: the MELD CSV is (empty|not UTF-8 text)"):
            read_meld_csv(tmp_path / "train_sent_emo.csv")


def test_empty_utterances_and_single_dialogues_are_counted(tmp_path, caplog):
    rows = ['1,"",Ross,neutral,neutral,0,0,1,1,"00:00:01,000","00:00:02,000"',
            '2,Fine.,Rachel,anger,negative,1,0,1,1,"00:00:03,000","00:00:04,000"',
            '3,Really?,Ross,surprise,positive,1,2,1,1,"00:00:05,000","00:00:06,000"']
    _write(tmp_path / "train_sent_emo.csv", rows)
    _write(tmp_path / "dev_sent_emo.csv", [r.replace("Ross", "Joey") for r in rows[1:]])  # not a copy of train
    dm = MeldDataModule(root=str(tmp_path))
    dm.setup("fit")
    assert "1 empty utterances" in caplog.text and "1 one-utterance dialogues" in caplog.text
    item = dm.load(next(r for r in dm.recordings if r.id == "train/dia1"))
    assert item.targets["emotion"].tolist() == [EMOTIONS.index("anger"), EMOTIONS.index("surprise")]
    with pytest.raises(DataError, match="dev_sent_emo.csv is missing"):
        (tmp_path / "dev_sent_emo.csv").unlink()
        MeldDataModule(root=str(tmp_path)).setup("fit")


@pytest.fixture(scope="module")
def meld_clips(tmp_path_factory):
    from tests.conftest import fixture_root

    return fixture_root("meld", tmp_path_factory)


def test_clips_give_audio_and_frames_per_utterance_and_mask_missing_ones(meld_clips, tmp_path, caplog):
    dm = MeldDataModule(root=str(meld_clips), clips=True, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    item = dm.load(next(r for r in dm.recordings if r.id == "train/dia0"))
    assert item.inputs["audio"].shape == (4, 300, 64) and item.inputs["visual"].shape == (4, 4, 3, 64, 64)
    assert item.input_masks["audio"].tolist() == [True, False, True, True]  # the fixture has no dia0_utt1.mp4
    assert "1 utterances have no usable clip" in caplog.text
    batch = next(iter(dm.val_dataloader()))
    assert batch.inputs["visual"].shape[2:] == (4, 3, 64, 64) and batch.masks["audio"].shape == batch.masks["text"].shape


def test_corrupt_clip_is_counted_and_masked_not_fatal(meld_clips, tmp_path, caplog):
    import shutil

    root = shutil.copytree(meld_clips, tmp_path / "meld", ignore=shutil.ignore_patterns(".mmer_cache"))
    clip = root / "dev_splits_complete" / "dia1_utt3.mp4"
    clip.write_bytes(clip.read_bytes()[:300])
    dm = MeldDataModule(root=str(root), clips=True)
    dm.prepare_data()
    dm.setup("fit")
    item = dm.load(next(r for r in dm.recordings if r.id == "dev/dia1"))
    assert item.input_masks["visual"].tolist() == [True, True, False, True]
    assert "2 utterances have no usable clip" in caplog.text
    assert sorted(dm.bad_clips) == ["dev/dia1/utt3", "train/dia0/utt1"] and "dia1_utt3.mp4" in dm.bad_clips["dev/dia1/utt3"]
    caplog.clear()
    again = MeldDataModule(root=str(root), clips=True)  # the next run reads the cache: the same report
    again.prepare_data()
    assert again.bad_clips == dm.bad_clips and "2 utterances have no usable clip" in caplog.text


def test_face_crops_follow_the_scene_frames_in_the_visual_input(meld_clips, tmp_path):
    dm = MeldDataModule(root=str(meld_clips), clips=True, faces_dir=str(meld_clips / "faces"), faces_per_clip=3,
                        cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    item = dm.load(next(r for r in dm.recordings if r.id == "train/dia0"))
    visual = item.inputs["visual"]
    assert visual.shape == (4, 4 + 3, 3, 64, 64)
    has_face = visual[:, 4:].reshape(4, 3, -1).max(-1) > 0
    assert has_face.tolist() == [[False] * 3, [True, True, False], [True, True, False], [True, True, False]]
    # utt1 has no clip but has its faces: visual stays usable from the faces alone, its scene frames are blank
    assert item.input_masks["visual"].tolist() == [True, True, True, True]
    assert visual[1, :4].max() == 0 and not item.input_masks["audio"][1]
