"""Shared fixtures. Tests never touch W&B (logger=csv) and write only under pytest's tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MMER_OFFLINE", "1")  # tests never download (mmer.core.weights)


@pytest.fixture(scope="session", autouse=True)
def feature_cache_home(tmp_path_factory):
    """Feature caches that default outside their dataset (RAVDESS: ~/.cache/mmer) go under pytest's tmp_path."""
    before = os.environ.get("MMER_CACHE_DIR")
    os.environ["MMER_CACHE_DIR"] = str(tmp_path_factory.mktemp("mmer_cache_home"))
    yield
    if before is None:
        os.environ.pop("MMER_CACHE_DIR", None)
    else:
        os.environ["MMER_CACHE_DIR"] = before
SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# A small synthetic dataset so that CV smoke runs take seconds.
TINY = ["data.num_subjects=6", "data.test_subjects=2", "++data.min_frames=120", "++data.max_frames=420",
        "data.window=100", "data.hop=60", "data.batch_size=4", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false", "logger=csv"]


@pytest.fixture
def compose_tiny(tmp_path):
    """compose_tiny(*overrides) -> config on the tiny synthetic data, writing runs under tmp_path."""
    from mmer.config.composer import compose

    def _compose(*overrides: str):
        return compose([*TINY, f"paths.output_root={tmp_path / 'runs'}", *overrides])

    return _compose


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` beside the checkout. Skips when absent locally; under CI (CI set) absence is a failure."""
    if SHARED.is_dir():
        return SHARED
    if os.environ.get("CI"):
        pytest.fail(f"{SHARED} is missing but CI is set: tests that use ../shared must not skip in CI")
    pytest.skip(f"{SHARED} not present")


@pytest.fixture(scope="session")
def tiny_speech_encoder(tmp_path_factory) -> Path:
    """A random two-layer wav2vec2 (hidden 16) saved as a local model folder: what ``SpeechEncoder`` loads."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    folder = tmp_path_factory.mktemp("wav2vec2_tiny")
    config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_feat_extract_layers=2,
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    Wav2Vec2Model(config).save_pretrained(folder)
    return folder


_FIXTURES: dict[str, Path] = {}


def fixture_root(dataset: str, tmp_path_factory) -> Path:
    """A generated dataset in the owner's layout, made once per test session (``mmer make-fixture``)."""
    if dataset not in _FIXTURES:
        from mmer.data_modules.fixtures import FIXTURES

        _FIXTURES[dataset] = FIXTURES[dataset](tmp_path_factory.mktemp(f"{dataset}_fixture"))
    return _FIXTURES[dataset]


def dataset_overrides(dataset: str, tmp_path_factory) -> list[str]:
    """Overrides that make an experiment of ``dataset`` small and point it at test data."""
    common = ["data.batch_size=4", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "logger=csv"]
    if dataset == "synthetic":
        return TINY
    if dataset in ("meld_clips", "iemocap_clips"):  # experiments that read clips: the generated layout has them
        return [f"data.root={fixture_root(dataset.removesuffix('_clips'), tmp_path_factory)}", *common]
    if dataset in ("meld", "stress_predict"):  # real files, read in place (a few dialogues, three participants)
        if not SHARED.is_dir():
            if os.environ.get("CI"):
                pytest.fail(f"{SHARED} is missing but CI is set: the {dataset} experiments must run in CI")
            pytest.skip(f"{SHARED} not present ({dataset}'s real files)")
        if dataset == "stress_predict":
            return [f"data.root={SHARED / 'data' / 'stress_predict'}", "data.participants=[2,3,4]", "cv.folds=2",
                    *common]
        return [f"data.root={SHARED / 'data' / 'meld'}", "data.max_dialogues=4", *common]
    root = f"data.root={fixture_root(dataset, tmp_path_factory)}"
    if dataset in ("groupwalk", "egait"):  # 16-frame segments: 3 samples per fixture agent
        return [root, "data.segment_frames=16", "cv.folds=3", *common]
    if dataset == "iemocap":
        return [root, *common]
    if dataset == "emer":  # small face images keep the ResNet-18 quick
        return [root, "data.face_size=32", *common]
    if dataset == "ravdess":  # 6 actors: 3 actor folds; small frames for the audio-visual experiment
        return [root, "cv.folds=3", "data.frame_size=32", *common]
    if dataset == "biovid":  # sample-level: no windows; small frames keep the 3D CNN quick
        return [root, "data.face_size=32", *common]
    return [root, "data.face_size=32", "data.window=128", "data.hop=64", *common]  # windows on a 32-frame grid


def bright_faces(frames):
    """A stand-in face detector (the :data:`mmer.data.faces.Detector` contract) for synthetic video: the face is the
    box around the pixels brighter than 200 in red, None where there are none. Counts the frames it was shown."""
    from mmer.data.faces import Face

    bright_faces.seen += len(frames)
    faces = []
    for frame in frames:
        ys, xs = np.nonzero(frame[..., 0] > 200)
        faces.append(Face((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)))
                     if len(xs) else None)
    return faces


bright_faces.seen = 0


def square_video(count: int, size: tuple[int, int] = (96, 128), absent: range = range(0)) -> np.ndarray:
    """(count, H, W, 3) uint8 frames of a 32-pixel white square drifting right by one pixel a frame on grey (the
    stand-in face of :func:`bright_faces`), missing from the frames in ``absent``."""
    h, w = size
    frames = np.full((count, h, w, 3), 60, np.uint8)
    for k in range(count):
        if k not in absent:
            x = 8 + k % max(w - 48, 1)
            frames[k, h // 2 - 16:h // 2 + 16, x:x + 32] = 255
    return frames


@pytest.fixture(scope="session")
def affwild2_run(tmp_path_factory):
    """A per-frame valence / arousal model (jmt_affwild2_light) trained one epoch on the Aff-Wild2 fixture, shared
    by the tests that predict with it: (CV result, fixture root)."""
    from mmer.config.composer import compose
    from mmer.cv import run_cv

    root = fixture_root("affwild2", tmp_path_factory)
    cfg = compose(["experiment=jmt_affwild2_light", f"data.root={root}", "data.window=100", "data.hop=60",
                   "data.batch_size=4", "cv.folds=2", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                   "logger=csv", f"paths.output_root={tmp_path_factory.mktemp('aw_runs')}"])
    return run_cv(cfg), root
