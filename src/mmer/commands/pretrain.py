"""Extractor pre-training with the adaptive-margin triplet loss: M2FNet's stage before the dialogue model.

    mmer pretrain experiment=m2fnet_meld_av pretrain.modality=audio [pretrain.epochs=10 ...]

Trains the experiment's backbone of one utterance-level modality (audio or visual) on its own: every present and
labelled utterance of the training split is one sample, the backbone's vector goes through a linear projection to
``pretrain.dim``, is L2-normalised, and :func:`mmer.evaluation.losses.adaptive_margin_triplet` pulls utterances of the same
``pretrain.target`` class together and pushes other classes apart (batch-hard triplets within each batch of
dialogues). The validation split's triplet loss selects the epoch. The backbone's state dict is saved to
``<run folder>/pretrained_<modality>.pt``; train the full model on it with
``model.backbones.<modality>.weights=<that file>`` (add ``model.backbones.<modality>.freeze=true`` to keep it fixed,
as the paper does).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from mmer.config.build import build_component, prepare_datamodule
from mmer.config.composer import compose
from mmer.core.batch import Batch, model_input
from mmer.core.errors import ConfigError
from mmer.cv.prepare import run_dir_for
from mmer.evaluation.losses import adaptive_margin_triplet


class TripletPretrainer(L.LightningModule):
    """backbone (B, T, ...) -> (B, T, D) per utterance -> Linear(D -> dim) -> L2 norm -> triplet loss over the
    utterances where ``modality`` is present and ``target`` labelled."""

    def __init__(self, backbone: nn.Module, modality: str, target: str, dim: int = 128, lr: float = 1e-3,
                 base_margin: float = 0.2, scale: float = 0.3) -> None:
        super().__init__()
        self.backbone, self.modality, self.target = backbone, modality, target
        self.proj = nn.Linear(backbone.out_dim, dim)
        self.lr, self.margin = lr, {"base_margin": base_margin, "scale": scale}

    def _loss(self, batch: Batch) -> torch.Tensor:
        present = batch.masks[self.modality]
        use = present & batch.target_masks[self.target]
        feats = self.backbone(model_input(batch.inputs[self.modality]), present)
        emb = F.normalize(self.proj(feats[use]), dim=-1)
        return adaptive_margin_triplet(emb, batch.targets[self.target][use], **self.margin)

    def training_step(self, batch: Batch, _: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("train/triplet", loss, on_epoch=True, on_step=False, batch_size=batch.size)
        return loss

    def validation_step(self, batch: Batch, _: int) -> None:
        self.log("val/triplet", self._loss(batch), on_epoch=True, batch_size=batch.size)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


def run_pretrain(cfg: Any) -> Path:
    """Pre-train ``cfg.pretrain.modality``'s backbone of the experiment; returns the saved state-dict file."""

    p = cfg.pretrain  # defaults in experiments/config.yaml
    modality, target = p.modality, p.target
    if modality not in cfg.model.modalities or modality not in cfg.model.backbones:
        raise ConfigError(f"pretrain.modality={modality!r}: give one of the experiment's modalities "
                          f"{list(cfg.model.modalities)} (e.g. pretrain.modality=audio)")
    dm = prepare_datamodule(cfg, fold=0)
    if target not in dm.target_spec():
        raise ConfigError(f"pretrain.target={target!r}: the data module's targets are {sorted(dm.target_spec())}")
    backbone = build_component(cfg.model.backbones[modality], f"backbone model.backbones.{modality}",
                      in_dim=dm.input_spec()[modality].dim)
    model = TripletPretrainer(backbone, modality, target, dim=p.dim, lr=p.lr, base_margin=p.base_margin, scale=p.scale)
    out = run_dir_for(cfg, dm)
    best: dict[str, Any] = {}

    class KeepBest(L.Callback):
        def on_validation_epoch_end(self, trainer, module):
            loss = float(trainer.callback_metrics.get("val/triplet", float("inf")))
            if not trainer.sanity_checking and loss < best.get("loss", float("inf")):
                best.update(loss=loss, epoch=trainer.current_epoch, state=copy.deepcopy(module.backbone.state_dict()))

    trainer_cfg = {k: v for k, v in cfg.trainer.items() if k not in ("max_epochs", "enable_checkpointing")}
    trainer = L.Trainer(**trainer_cfg, max_epochs=p.epochs, logger=False, enable_checkpointing=False,
                        callbacks=[KeepBest()], default_root_dir=str(out))
    trainer.fit(model, datamodule=dm)
    if "state" not in best:
        raise ConfigError("pretrain: no validation epoch ran, so no backbone was selected; check the data split")
    out.mkdir(parents=True, exist_ok=True)
    file = out / f"pretrained_{modality}.pt"
    torch.save(best["state"], file)
    print(f"pretrained {modality} backbone (epoch {best['epoch']}, val triplet loss {best['loss']:.4f}): {file}\n"
          f"use it with model.backbones.{modality}.weights={file} [model.backbones.{modality}.freeze=true]")
    return file


def run(args: argparse.Namespace) -> int:
    run_pretrain(compose(args.overrides))
    return 0
