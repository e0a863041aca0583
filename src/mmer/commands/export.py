"""``mmer export RUN_DIR [--fold K] [--format torchscript|onnx]``: one fold's model as a file that runs without mmer,
for a fixed window.

The exported function takes, in the order of ``inputs`` in the sidecar JSON, every modality's batch input (as the
data module's batches hold it: uint8 frames stay uint8) and then every modality's mask, and returns the tabled
head's prediction before post-processing: probabilities for classes and labels, values (unclipped) otherwise::

    outputs = exported(x_visual, x_audio, mask_visual, mask_audio)      # (B, T, C) per frame, or (B, C)

``<out>.json`` beside the file names the inputs (shape of the example window, dtype), the head, its columns and
the run it came from. The example window is the first item of the data's held-out partition (else of its
training partition), so the data must be reachable (``data.root=...``).
"""

from __future__ import annotations

import argparse
import io
import json
import warnings
from collections.abc import Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmer.config.build import prepare_datamodule
from mmer.core.batch import Batch
from mmer.core.errors import ConfigError
from mmer.core.io import atomic_write_text
from mmer.evaluation.evaluator import evaluator_for
from mmer.runs.folder import load_run

FORMATS = ("torchscript", "onnx")


class ExportedModel(nn.Module):
    """A fold model as a function of tensors (module doc): forward(*inputs, *masks) -> (B, [T,] C)."""

    def __init__(self, module: nn.Module, modalities: Sequence[str], head: str, num_frames: int) -> None:
        super().__init__()
        self.module, self.modalities, self.head, self.num_frames = module, list(modalities), head, num_frames
        self.task = next(h.task for h in module.heads if h.name == head)

    def forward(self, *tensors: Tensor) -> Tensor:
        m = len(self.modalities)
        batch = Batch(inputs=dict(zip(self.modalities, tensors[:m])), masks=dict(zip(self.modalities, tensors[m:])),
                      meta={"num_frames": self.num_frames})
        return self.task.activate(self.module(batch)[self.head])


def example_batch(dm: Any) -> Batch:
    """One item of the held-out partition (else of the training partition) as a batch of size 1."""
    recordings = dm.split("test") or dm.split("trainval")
    loader = dm.predict_loader(recordings[:1])
    batch = next(iter(loader))
    return Batch({m: x[:1] for m, x in batch.inputs.items()}, {m: x[:1] for m, x in batch.masks.items()},
                 meta={k: v for k, v in batch.meta.items() if k == "num_frames"})


@contextmanager
def _outside_a_trainer():
    """Tracing walks every attribute of the module, and a LightningModule's ``trainer`` raises when it has none;
    Lightning's own ``to_torchscript`` sets this class flag for the same reason."""
    from lightning.pytorch import LightningModule

    before = LightningModule._jit_is_scripting
    LightningModule._jit_is_scripting = True
    try:
        with warnings.catch_warnings():  # a fixed window is the point: shape-dependent branches become constants
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            yield
    finally:
        LightningModule._jit_is_scripting = before


def export_model(module: nn.Module, batch: Batch, head: str, out: Path, fmt: str = "torchscript") -> Path:
    """Trace ``module``'s ``head`` on ``batch`` and write it to ``out`` (TorchScript or ONNX)."""
    modalities = [m for m in module.backbones if m in batch.inputs]
    num_frames = int(batch.meta.get("num_frames") or next(iter(batch.masks.values())).shape[1])
    wrapper = ExportedModel(module.eval(), modalities, head, num_frames).eval()
    args = tuple(batch.inputs[m] for m in modalities) + tuple(batch.masks[m] for m in modalities)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), _outside_a_trainer():
        if fmt == "torchscript":
            traced = torch.jit.trace(wrapper, args, check_trace=False)
            traced.save(str(out))
        elif fmt == "onnx":
            try:
                import onnx  # noqa: F401  (torch.onnx.export needs it)
            except ImportError:
                raise ConfigError("--format onnx needs the onnx package: pip install 'mmer[export]' (onnx, "
                                  "onnxscript, onnxruntime), or use the default --format torchscript") from None
            names = [f"x_{m}" for m in modalities] + [f"mask_{m}" for m in modalities]
            with redirect_stdout(io.StringIO()):  # the exporter's optimiser prints a line per folded constant
                torch.onnx.export(wrapper, args, str(out), input_names=names, output_names=["outputs"])
        else:
            raise ConfigError(f"--format {fmt}: choose one of {list(FORMATS)}")
    return out


def export_run(run_dir: str | Path, fold: int | None = None, fmt: str = "torchscript", out: str | Path | None = None,
               overrides: Sequence[str] = ()) -> Path:
    """Export fold ``fold`` (default: the first finished one) of a run; returns the written file."""

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose one of {list(FORMATS)}")
    run = load_run(run_dir, overrides)
    fold = next(iter(run.checkpoints)) if fold is None else fold
    if fold not in run.checkpoints:
        raise ConfigError(f"{run_dir}: fold {fold} is not finished (finished: {list(run.checkpoints)})")
    dm = prepare_datamodule(run.cfg)
    ev = evaluator_for(run.cfg, dm.target_spec())
    batch = example_batch(dm)
    module = run.run.load_model(fold)
    out = Path(out) if out else run.run.export_file(fold, "pt" if fmt == "torchscript" else "onnx")
    export_model(module, batch, ev.head, out, fmt)
    modalities = [m for m in module.backbones if m in batch.inputs]
    inputs = [{"name": f"x_{m}", "shape": list(batch.inputs[m].shape), "dtype": str(batch.inputs[m].dtype)}
              for m in modalities] + [{"name": f"mask_{m}", "shape": list(batch.masks[m].shape), "dtype": "bool"}
                                      for m in modalities]
    atomic_write_text(out.with_suffix(out.suffix + ".json"), json.dumps({
        "run": str(run_dir), "fold": fold, "format": fmt, "inputs": inputs, "head": ev.head,
        "task": ev.task.name, "columns": ev.columns, "output": "probabilities (classes, labels) or unclipped values",
    }, indent=2))
    return out


def run(args: argparse.Namespace) -> int:
    print(export_run(args.run_dir, args.fold, args.format, args.out, args.overrides))
    return 0
