"""Shared fixtures. Tests never touch W&B (logger=csv) and write only under pytest's tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# A small synthetic dataset so that CV smoke runs take seconds.
TINY = ["data.num_subjects=6", "data.test_subjects=2", "++data.min_frames=120", "++data.max_frames=420",
        "data.window=100", "data.hop=60", "data.batch_size=4", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false", "logger=csv"]


@pytest.fixture
def compose_tiny(tmp_path):
    """compose_tiny(*overrides) -> config on the tiny synthetic data, writing runs under tmp_path."""
    from mmer.config import compose

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
