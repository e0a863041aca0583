"""Signals (issue 28, class 6): SIGTERM (what a scheduler sends before it kills a job) and Ctrl-C stop a run with
one line saying where it stopped and how it resumes, and a non-zero exit code (128 + the signal), never a silent 0."""

import signal
import subprocess
import sys
import time

import pytest
from lightning.pytorch.utilities.exceptions import SIGTERMException

from mmer.cli import main
from mmer.model.module import MultimodalModule
from tests.conftest import TINY


def overrides(root, epochs=2):
    return [*TINY, "cv.folds=2", f"trainer.max_epochs={epochs}", f"paths.output_root={root}"]


@pytest.mark.parametrize("signal_name, raised, code", [("SIGTERM", SIGTERMException, 143),
                                                        ("Ctrl-C", KeyboardInterrupt, 130)])
def test_a_signal_in_the_second_epoch_stops_with_one_line_and_its_code(tmp_path, monkeypatch, capsys, signal_name,
                                                                       raised, code):
    def second_epoch(self):
        if self.current_epoch == 1:  # as Lightning raises it after the batch the signal arrived in
            raise raised()

    monkeypatch.setattr(MultimodalModule, "on_train_epoch_start", second_epoch, raising=False)
    try:
        assert main(["cv", *overrides(tmp_path)]) == code
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Lightning ignores further Ctrl-C after one
    # the one error line (an earlier test's log handler may also write to stderr in a whole-suite run)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and f"fold 0 was {'stopped by SIGTERM' if code == 143 else 'interrupted (Ctrl-C)'}" in err[0]
    assert "rerun the same command to resume" in err[0]
    last = next(tmp_path.rglob("fold0/checkpoints/last.ckpt"))  # the first epoch's checkpoint is kept
    assert last.is_file() and not list(tmp_path.rglob("fold0/done.json"))
    if code == 143:  # (once is enough: resuming is tested in test_cv.py)
        monkeypatch.undo()
        assert main(["cv", *overrides(tmp_path)]) == 0  # the same command resumes and finishes
        assert len(list(tmp_path.rglob("fold*/done.json"))) == 2


@pytest.mark.slow
def test_a_real_sigterm_mid_fold_stops_within_seconds_with_code_143(tmp_path):
    command = [sys.executable, "-m", "mmer.cli", "cv", *overrides(tmp_path, epochs=200)]
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(tmp_path.rglob("fold0/checkpoints/last.ckpt")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job.poll() is None, job.communicate()
    sent = time.monotonic()
    job.send_signal(signal.SIGTERM)
    _, err = job.communicate(timeout=120)
    assert job.returncode == 143 and time.monotonic() - sent < 60
    assert "stopped by SIGTERM while training" in err.strip().splitlines()[-1]
