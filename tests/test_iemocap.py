"""IEMOCAP on a generated fixture in the IEMOCAP_full_release layout: parsing, protocols, bad input, LOSO CV."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from mmer.core.errors import ConfigError, DataError
from mmer.data_modules.iemocap import IemocapDataModule, read_evaluation
from tests.conftest import fixture_root


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory):
    return fixture_root("iemocap", tmp_path_factory)


def test_label_lines_order_and_masked_context(iemocap):
    path = next((iemocap / "Session1" / "dialog" / "EmoEvaluation").glob("*.txt"))
    labels = read_evaluation(path)
    assert len(labels) == 8 and all(code in {"hap", "exc", "sad", "neu", "ang", "fru", "xxx", "sur"}
                                    for *_, code in labels)
    dm = IemocapDataModule(root=str(iemocap))
    dm.setup("fit")
    item = dm.load(next(r for r in dm.recordings if r.id == path.stem))
    masked = [code not in {"hap", "sad", "neu", "ang", "exc", "fru"} for *_, code in sorted(labels)]
    assert item.target_masks["emotion"].tolist() == [not m for m in masked]  # xxx/sur stay as unscored context
    assert item.inputs["text"].shape == (8, 64)


def test_six_class_split_and_four_class_loso(iemocap):
    six = IemocapDataModule(root=str(iemocap))
    six.setup("fit")
    six.set_fold(0)
    assert {r.id[:5] for r in six.split("test")} == {"Ses05"} and len(six.split("val")) == 1
    assert not {r.id for r in six.split("val")} & {r.id for r in six.split("train")}
    four = IemocapDataModule(root=str(iemocap), protocol="four_class", num_folds=5)
    four.setup("fit")
    assert four.target_spec() == {"emotion": ["angry", "happy", "sad", "neutral"]} and four.split("test") == []
    for k in range(5):
        four.set_fold(k)
        assert len({r.id[:5] for r in four.split("val")}) == 1  # one whole session per fold
    with pytest.raises(ConfigError, match="cv.folds=5"):
        IemocapDataModule(root=str(iemocap), protocol="four_class", num_folds=3)


def test_bad_label_line_and_missing_text(iemocap, tmp_path):
    root = shutil.copytree(iemocap, tmp_path / "iemocap")
    path = next((root / "Session2" / "dialog" / "EmoEvaluation").glob("*.txt"))
    lines = path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("["))
    good = lines[k]
    lines[k] = good.replace("\t" + good.split("\t")[2] + "\t", "\tjoy\t")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path.name}:{k + 1}: unknown emotion code 'joy'"):
        read_evaluation(path)
    lines[k] = good
    path.write_text("\n".join(lines) + "\n")
    transcript = root / "Session2" / "dialog" / "transcriptions" / path.name
    transcript.write_text("\n".join(transcript.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(DataError, match=r"transcriptions/.*: no text for"):
        IemocapDataModule(root=str(root)).setup("fit")


@pytest.mark.slow  # 24 s
def test_four_class_loso_cv_trains_end_to_end(iemocap, tmp_path):
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    cfg = compose(["experiment=m2fnet_iemocap_4class", f"data.root={iemocap}", "trainer.max_epochs=1",
                   "trainer.enable_progress_bar=false", "logger=csv", f"paths.output_root={tmp_path / 'runs'}"])
    result = run_cv(cfg)
    assert [f.fold for f in result.folds] == [0, 1, 2, 3, 4]
    assert 0.0 <= result.summary["cv/oof_f1_weighted"] <= 1.0 and np.isfinite(result.summary["cv/val_std_accuracy"])


def test_sentence_wavs_and_video_spans_per_utterance(iemocap, tmp_path, caplog):
    from mmer.data_modules.fixtures.datasets import IEMOCAP_LEVEL

    dm = IemocapDataModule(root=str(iemocap), clips=True, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    dm.setup("fit")
    path = iemocap / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    labels = sorted(read_evaluation(path))
    item = dm.load(next(r for r in dm.recordings if r.id == "Ses01F_impro01"))
    assert item.inputs["audio"].shape == (8, 300, 64) and item.inputs["visual"].shape == (8, 4, 3, 64, 64)
    assert item.input_masks["audio"].tolist() == [u != 3 for u in range(8)]  # the fixture lacks that one wav
    assert item.input_masks["visual"].all()
    # the frames come from each utterance's own span: their brightness follows that utterance's emotion
    level = np.array([IEMOCAP_LEVEL.get(code, 0.3) for *_, code in labels])
    brightness = item.inputs["visual"].reshape(8, -1).mean(1)
    np.testing.assert_allclose(brightness, 40 + 180 * level, atol=8)
    peak = item.inputs["audio"][item.input_masks["audio"]].max((1, 2))  # log power of the tone: 2 log(amplitude) + c
    assert np.corrcoef(peak, np.log(level[item.input_masks["audio"]]))[0, 1] > 0.9
    # a dialogue without its video: visual masked, audio kept, counted once
    other = dm.load(next(r for r in dm.recordings if r.id == "Ses02M_script02"))
    assert not other.input_masks["visual"].any() and other.input_masks["audio"].all()
    assert "9 utterances have no usable clip" in caplog.text
    assert dm.bad_clips["Ses01F_impro01/Ses01F_impro01_M001"] == "audio: no audio file"


def test_a_repeated_label_line_is_named(iemocap, tmp_path):
    source = next(Path(iemocap).rglob("EmoEvaluation/*.txt"))
    lines = source.read_text().splitlines()
    label = next(line for line in lines if line.startswith("["))
    copy = tmp_path / source.name
    copy.write_text("\n".join([*lines, label]) + "\n")
    with pytest.raises(DataError, match=rf"{source.name}:{len(lines) + 1}: utterance .* already has a label line"):
        read_evaluation(copy)
