"""Property-based fuzzing of every dataset file parser: any bytes (random, or a valid file with a slice replaced)
either parse or raise mmer's own DataError naming the file, never another exception (a traceback for the user)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from mmer.config.paths import config_dir
from mmer.core.errors import DataError
from mmer.data_modules import affwild2_files, biovid_files, emer_files, groupwalk_files, iemocap, meld

EMER = OmegaConf.to_container(OmegaConf.load(config_dir() / "data" / "emer.yaml"))
EYE = EMER["eye_columns"]
POSE = ",".join(["1.0,2.0,0.9"] * 25)


def xlsx_bytes() -> bytes:
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"sample": ["s01_c1"], "subject": ["s01"], "ER_7": ["happiness"]}).to_excel(buffer, index=False)
    return buffer.getvalue()


XLSX = xlsx_bytes()


def h5_bytes() -> bytes:
    import io

    import h5py
    import numpy as np

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as fh:
        fh["gait000"] = np.zeros((4, 48))
    return buffer.getvalue()

#: parser name -> (file name, a valid file, parse(path))
PARSERS = {
    "affwild2 VA": ("vid.txt", b"valence,arousal\n0.1,0.2\n-5,-5\n0.3,-0.4\n", affwild2_files.read_va_file),
    "affwild2 EXPR": ("vid.txt", (",".join(affwild2_files.EXPR_CLASSES) + "\n0\n4\n-1\n").encode(),
                      affwild2_files.read_expr_file),
    "affwild2 AU": ("vid.txt", (",".join(affwild2_files.AU_NAMES) + "\n" + ",".join(["0", "1"] * 6) + "\n").encode(),
                    affwild2_files.read_au_file),
    "MELD CSV": ("train_sent_emo.csv", b"Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,"
                 b'Episode,StartTime,EndTime\n1,"Hi, you.",Ross,joy,positive,0,0,1,1,"00:00:01,000","00:00:02,000"\n',
                 meld.read_meld_csv),
    "GroupWalk CSV": ("annotations.csv", b"video,agent,frame,x1,y1,x2,y2,label\nv01,a0,0,1,2,30,40,happy\n"
                      b"v01,a0,1,2,3,31,41,happy\n", groupwalk_files.read_annotations),
    "OpenPose JSON": ("v01_000000000000_keypoints.json",
                      ('{"people": [{"pose_keypoints_2d": [' + POSE + "]}]}").encode(),
                      groupwalk_files.read_openpose_frame),
    "EMER set file": ("emer_set.txt", b"s01_c1 1\ns02_c1 2\n", emer_files.read_set_file),
    "EMER eye table": ("s01_c1.tsv", ("\t".join(EYE.values()) + "\n" + "\t".join(
        ["1000", "960", "540", "3.1", "3.2", "Fixation", "960", "540"]) + "\n").encode(),
        lambda p: emer_files.read_eye_table(p, EYE)),
    "EMER labels (xlsx)": ("EMER_label.xlsx", XLSX, lambda p: emer_files.read_labels(
        p, EMER["label_columns"], {"7": EMER["classes7"], "3": EMER["classes3"]}, None)),
    "EMER labels": ("EMER_label.csv", b"sample,subject,ER_7,FER_7\ns01_c1,s01,happiness,neutral\n",
                    lambda p: emer_files.read_labels(p, EMER["label_columns"],
                                                     {"7": EMER["classes7"], "3": EMER["classes3"]}, None)),
    "BioVid samples": ("samples.csv", b"subject_id\tsubject_name\tclass_id\tclass_name\tsample_id\tsample_name\n"
                       b"1\t071309_w_21\t0\tBL1\t0\t071309_w_21-BL1-081\n", biovid_files.read_samples_csv),
    "BioVid biosignals": ("071309_w_21-BL1-081_bio.csv", b"time\tgsr\tecg\n0\t1.5\t0.1\n1000\t1.6\t0.2\n",
                          lambda p: biovid_files.read_bio_csv(p, ["gsr"])),
    "E-Gait features": ("features.h5", h5_bytes(), groupwalk_files.read_egait),
    "IEMOCAP labels": ("Ses01F_impro01.txt", b"[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n",
                       iemocap.read_evaluation),
    "IEMOCAP transcript": ("Ses01F_impro01.txt", b"Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n",
                           iemocap.read_transcription),
}


def damaged(valid: bytes):
    """Random bytes, or the valid file with one slice replaced by random bytes (most bugs hide near valid input)."""
    edit = st.tuples(st.integers(0, len(valid)), st.integers(0, len(valid)), st.binary(max_size=24))
    return st.one_of(st.binary(max_size=300),
                     edit.map(lambda e: valid[:min(e[0], e[1])] + e[2] + valid[max(e[0], e[1]):]))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_valid_sample_parses(name, tmp_path):
    file, valid, parse = PARSERS[name]
    (tmp_path / file).write_bytes(valid)
    parse(tmp_path / file)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_any_bytes_parse_or_raise_a_data_error_naming_the_file(name):
    file, valid, parse = PARSERS[name]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(damaged(valid))
    def check(content: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / file
            path.write_bytes(content)
            try:
                parse(path)
            except DataError as exc:
                assert file in str(exc), str(exc)

    check()
