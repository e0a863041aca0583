"""A full disk or a folder mmer may not write: every file mmer writes (checkpoints included) goes to a temporary
name and is renamed when complete, and the failure is one line naming the file, the reason and the fix."""

import errno
import tempfile

import pytest
import torch

from mmer.cli import main
from mmer.core.errors import OutputError
from mmer.core.io import atomic_write, atomic_write_text
from tests.conftest import TINY


def disk_full_after(n_bytes):
    """A writer that writes ``n_bytes`` and then finds the disk full."""
    def write(tmp):
        tmp.write_bytes(b"x" * n_bytes)
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def test_a_full_disk_keeps_the_old_file_and_says_so_in_one_line(tmp_path):
    target = atomic_write_text(tmp_path / "summary.json", "old")
    with pytest.raises(OutputError) as caught:
        atomic_write(target, disk_full_after(1000))
    message = str(caught.value)
    assert "\n" not in message and str(target) in message and "the disk is full" in message and "GB free" in message
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_folder_that_may_not_be_written_is_one_line(tmp_path, monkeypatch):
    def refused(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", refused)  # as root, chmod cannot refuse: the OS's answer, simulated
    with pytest.raises(OutputError, match=r"cannot write .*table.txt: this process may not write there"):
        atomic_write_text(tmp_path / "table.txt", "x")


def test_a_checkpoint_save_on_a_full_disk_leaves_no_truncated_checkpoint(tmp_path, monkeypatch, capsys):
    real = torch.save

    def full(obj, f, *a, **k):
        if str(f).endswith(".tmp") and ".ckpt." in str(f):  # the checkpoint, half-written when the disk fills
            real({"partial": torch.zeros(10)}, f)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", full)
    code = main(["cv", *TINY, "cv.folds=2", "trainer.max_epochs=1", f"paths.output_root={tmp_path}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot write" in err[0] and ".ckpt: the disk is full" in err[0]
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob(".*.tmp"))
