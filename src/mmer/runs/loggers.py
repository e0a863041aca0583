"""Metric sinks for one CV job: a local metrics.csv always, plus one W&B run when ``logger.kind=wandb`` or
TensorBoard event files when ``logger.kind=tensorboard``.

Every fold's trainer gets a :class:`FoldLogger` that prefixes its keys with ``fold{k}/`` and logs its own step as
``fold{k}/step``, so in W&B each fold has its own step axis inside the single run.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


def wandb_mode(requested: str | None) -> str:
    """'offline' unless a mode is requested or an API key is configured (env var or ~/.netrc)."""
    if requested:
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


class MetricSink:
    """Appends (key, step, value) rows to ``<run_dir>/metrics.csv`` and forwards them to W&B (``kind=wandb``) or to
    TensorBoard event files in ``<run_dir>/tensorboard`` (``kind=tensorboard``: ``tensorboard --logdir runs``)."""

    def __init__(self, run_dir: Path, kind: str = "csv", project: str = "mmer", entity: str | None = None,
                 mode: str | None = None, tags: list[str] | None = None, name: str | None = None,
                 config: dict[str, Any] | None = None) -> None:
        if kind not in ("csv", "wandb", "tensorboard"):
            raise ValueError(f"logger.kind='{kind}': choose 'csv', 'wandb' or 'tensorboard'")
        self.path = Path(run_dir) / "metrics.csv"
        self.wandb_run = None
        self.tensorboard = None
        self._rows = 0  # TensorBoard's step for rows logged without one (summaries)
        if kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
        if kind == "wandb":
            import wandb

            os.environ.setdefault("WANDB_SILENT", "true")
            self.wandb_run = wandb.init(project=project, entity=entity, mode=wandb_mode(mode), dir=str(run_dir),
                                        name=name, config=config, tags=list(tags or []), reinit="finish_previous")
            log.info("W&B run %s (%s mode) in %s", self.wandb_run.id, wandb_mode(mode), run_dir)

    def define_step(self, prefix: str) -> None:
        if self.wandb_run is not None:
            self.wandb_run.define_metric(f"{prefix}/step")
            self.wandb_run.define_metric(f"{prefix}/*", step_metric=f"{prefix}/step")

    def log(self, metrics: dict[str, float], step: int | None = None, step_key: str | None = None) -> None:
        new = not self.path.exists()
        with self.path.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["key", "step", "value"])
            for k, v in metrics.items():
                writer.writerow([k, "" if step is None else step, float(v)])
        if self.wandb_run is not None:
            payload = dict(metrics)
            if step_key is not None and step is not None:
                payload[step_key] = step
            self.wandb_run.log(payload)
        if self.tensorboard is not None:
            for k, v in metrics.items():
                self.tensorboard.add_scalar(k, float(v), self._rows if step is None else step)
            self._rows += step is None

    def summary(self, metrics: dict[str, float]) -> None:
        self.log(metrics)
        if self.wandb_run is not None:
            self.wandb_run.summary.update(metrics)

    def finish(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None


class NullSink(MetricSink):
    """The sink of DDP ranks other than 0: nothing is written or sent."""

    def __init__(self) -> None:  # no file, no W&B run, no event files
        self.path, self.wandb_run, self.tensorboard, self._rows = Path(os.devnull), None, None, 0

    def log(self, metrics: dict[str, float], step: int | None = None, step_key: str | None = None) -> None:
        """Dropped."""


class FoldLogger(Logger):
    """Lightning logger of one fold: ``val/ccc_mean`` at step s becomes ``fold{k}/val/ccc_mean`` with ``fold{k}/step = s``."""

    def __init__(self, sink: MetricSink, fold: int) -> None:
        super().__init__()
        self.sink = sink
        self.prefix = f"fold{fold}"
        sink.define_step(self.prefix)

    @property
    def name(self) -> str:
        return self.prefix

    @property
    def version(self) -> str:
        return "0"

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The resolved config is logged once per job, not per fold."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = {f"{self.prefix}/{k}": v for k, v in metrics.items() if k != "epoch"}
        self.sink.log(metrics, step=step, step_key=f"{self.prefix}/step")
