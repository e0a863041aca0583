"""What every command logs: its own INFO lines, Lightning at WARNING, known noise filtered."""

from __future__ import annotations

import logging
import warnings


def quiet_logs(uses_lightning: bool) -> None:
    """What every command logs: its own INFO lines; Lightning at WARNING; known noise filtered. Only a command
    that uses Lightning imports it here (seconds): `mmer config` stays quick."""
    if uses_lightning:
        import lightning  # noqa: F401  (it sets its own log levels on import: override them after)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # DDP: the training losses are this rank's on purpose (module.MultimodalModule._shared_step)
    warnings.filterwarnings("ignore", message=r".*self.log\('train/loss[^']*', \.\.\., sync_dist=True\).*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
