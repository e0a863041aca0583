"""Paths confined to the data root (issue 28, class 2): a name read from the data with path components is refused
naming its file and line, and a file whose real path (after symlinks) is outside data.root is refused naming the
link and the setting that allows it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmer.core.errors import DataError
from mmer.data.paths import DataRoot, plain_name
from mmer.data_modules.biovid import BioVidDataModule
from mmer.data_modules.biovid_files import read_samples_csv
from mmer.data_modules.ravdess import RavdessDataModule
from tests.conftest import fixture_root


@given(st.text(alphabet=st.characters(blacklist_characters="/\\\x00"), min_size=1, max_size=12))
def test_one_component_names_pass_unchanged(name):
    if name in (".", ".."):
        with pytest.raises(DataError):
            plain_name(name, "x.csv, line 2")
    else:
        assert plain_name(name, "x.csv, line 2") == name


@pytest.mark.parametrize("name", ["../S002/trial", "/etc/passwd", "a/b", "a\\b", "..", "", "a\x00b"])
def test_names_with_path_components_are_refused_naming_the_source(name):
    with pytest.raises(DataError, match=r"x.csv, line 7: .* is not a plain name"):
        plain_name(name, "x.csv, line 7")


def test_a_link_out_of_the_root_is_refused_unless_allowed_and_then_said_once(tmp_path, caplog):
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir(), outside.mkdir()
    (outside / "clip.wav").write_bytes(b"x")
    (root / "clip.wav").symlink_to(outside / "clip.wav")
    (root / "inner.wav").write_bytes(b"y")
    (root / "alias.wav").symlink_to(root / "inner.wav")  # a link that stays inside is fine
    guard = DataRoot(root, "ravdess")
    assert guard.check(root / "alias.wav") == root / "alias.wav"
    with pytest.raises(DataError, match=r"ravdess: .*clip.wav \(a link to .*elsewhere/clip.wav\) is outside the "
                                        r"data root .*\+data.allow_outside_root=true"):
        guard.check(root / "clip.wav")
    with pytest.raises(DataError, match="outside the data root"):
        DataRoot(root, "x").check(root / ".." / "elsewhere" / "clip.wav")
    allowed = DataRoot(root, "ravdess", allow_outside=True)
    with caplog.at_level(logging.WARNING, logger="mmer.data.paths"):
        allowed.check(root / "clip.wav")
        allowed.check(root / "clip.wav")
    assert sum("allow_outside_root=true" in r.getMessage() for r in caplog.records) == 1


@pytest.fixture
def biovid_copy(tmp_path_factory, tmp_path) -> Path:
    copy = tmp_path / "biovid"
    shutil.copytree(fixture_root("biovid", tmp_path_factory), copy)
    return copy


def test_a_biovid_sample_name_leaving_its_folder_is_refused(biovid_copy):
    table = biovid_copy / "samples.csv"
    lines = table.read_text().splitlines()
    fields = lines[1].split("\t")
    other = lines[-1].split("\t")  # another subject's trial, reached through ../
    fields[5] = f"../{other[1]}/{other[5]}"
    table.write_text("\n".join([lines[0], "\t".join(fields), *lines[2:]]) + "\n")
    with pytest.raises(DataError, match=r"samples.csv, line 2, sample_name: '\.\./.*' is not a plain name"):
        read_samples_csv(table)


def test_a_biovid_recording_linked_from_outside_the_root_is_refused(biovid_copy, tmp_path):
    bio = next((biovid_copy / "biosignals_filtered").rglob("*_bio.csv"))
    moved = tmp_path / "elsewhere.csv"
    shutil.move(bio, moved)
    bio.symlink_to(moved)
    dm = BioVidDataModule(root=str(biovid_copy), cache_dir=str(tmp_path / "cache"), modalities=("gsr",))
    with pytest.raises(DataError, match=rf"{bio.name} \(a link to .*elsewhere.csv\) is outside the data root"):
        dm.prepare_data()


def test_a_ravdess_clip_linked_from_outside_is_refused_and_read_when_allowed(tmp_path_factory, tmp_path):
    root = tmp_path / "ravdess"
    shutil.copytree(fixture_root("ravdess", tmp_path_factory), root)
    clip = sorted((root / "Actor_01").glob("*.wav"))[0]
    moved = tmp_path / "other_copy" / clip.name
    moved.parent.mkdir()
    shutil.move(clip, moved)
    clip.symlink_to(moved)
    with pytest.raises(DataError, match=rf"{clip.name} \(a link to .*other_copy.*\) is outside the data root"):
        RavdessDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), num_folds=3).prepare_data()
    dm = RavdessDataModule(root=str(root), cache_dir=str(tmp_path / "cache"), num_folds=3, allow_outside_root=True)
    dm.prepare_data()
    assert len(dm.index()) == len(list(root.glob("Actor_*/*.wav")))  # the linked clip among them


def test_an_affwild2_crop_folder_linked_from_another_disk_is_refused(tmp_path_factory, tmp_path):
    from mmer.data_modules.affwild2 import AffWild2DataModule

    root = tmp_path / "affwild2"
    shutil.copytree(fixture_root("affwild2", tmp_path_factory), root)
    crops = sorted((root / "cropped_aligned").iterdir())[0]
    moved = tmp_path / "other_disk" / crops.name
    shutil.move(crops, moved)
    crops.symlink_to(moved, target_is_directory=True)
    dm = AffWild2DataModule(root=str(root), cache_dir=str(tmp_path / "cache"), num_folds=2, window=100, hop=60)
    with pytest.raises(DataError, match=rf"cropped_aligned/{crops.name} \(a link to .*other_disk.*\) is outside"):
        dm.prepare_data()
