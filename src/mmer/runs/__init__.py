"""Runs on disk: the run folder (:mod:`~mmer.runs.folder`), its identity and provenance
(:mod:`~mmer.runs.provenance`, :mod:`~mmer.runs.names`), its metric sinks (:mod:`~mmer.runs.loggers`) and trained
models outside their run (:mod:`~mmer.runs.checkpoints`: ``load_module(path)`` rebuilds a checkpoint's model)."""

from mmer.runs.checkpoints import load_module
from mmer.runs.folder import FoldFolder, RunFolder, load_run

__all__ = ["FoldFolder", "RunFolder", "load_module", "load_run"]
