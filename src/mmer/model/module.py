"""The single LightningModule: per-modality backbones -> time alignment -> fusion -> heads -> losses/metrics.

Data flow for a batch (see :mod:`mmer.core.batch`)::

    inputs[m] (B, T_m, ...) --backbone_m--> (B, T'_m, D_m)  (mask resampled to T'_m)
        --align_time--> (B, T_tok, D_m), T_tok = ceil(num_frames / token_stride)
        --fusion--> (B, T_tok, d) --head--> (B, T_tok, out) --frames_from_tokens--> (B, num_frames, out)

Sample-level heads pool the fused sequence over valid tokens. Loss = sum_h weight_h * loss_h over valid targets, plus
the fusion's own weighted losses if it has any (``fusion.aux_losses``, e.g. EMERT's adversarial decoupling). A fusion
with ``own_time_axes`` gets each modality's tokens on their own time axes (no alignment) and returns (B, 1, d).
Metrics accumulate over the whole epoch and are logged as ``{stage}/{prefix}{name}`` (``val/ccc_mean``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from mmer.core.batch import Batch, model_input
from mmer.core.timeaxis import align_time, resample_mask
from mmer.model.backbones.features import FoldStandardiser
from mmer.model.description import DESCRIPTION_KEY
from mmer.model.fusion.base import Fusion
from mmer.model.heads import UPSAMPLING, Head, frames_from_tokens
from mmer.model.mixup import mix

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]
STAGES = ("train", "val")  # mmer scores held-out data from prediction tables (mmer.cv), never trainer.test


class MultimodalModule(L.LightningModule):
    """Args:
    backbones: ``{modality: backbone}``; only these modalities are used (others in the batch are ignored).
    fusion: a fusion module, or a factory called as ``fusion(in_dims={m: backbone.out_dim})``.
    heads: heads, or factories called as ``head(in_dim=fusion.out_dim)``.
    optimizer: factory ``optimizer(params)`` (e.g. ``functools.partial(torch.optim.AdamW, lr=1e-3)``).
    scheduler: optional factory ``scheduler(optimizer)``, stepped every epoch, or every step if the scheduler says
        ``interval = "step"`` (``mmer.model.schedules``); a factory taking ``total_steps`` gets the run's optimizer steps.
    token_stride: label frames per fused token (1 = one token per frame).
    token_upsampling: how per-frame heads' token outputs become frame outputs (``repeat`` or ``interpolate``,
        :func:`mmer.model.heads.frames_from_tokens`).
    compile: ``torch.compile`` backbones and fusion in place (state-dict keys are unchanged).
    replicas: ``[(backbones, fusion), ...]`` for output dimensions 1, 2, ...: one independent model per dimension
        (the leader-follower reference trains valence and arousal as two models). Needs a single head built with
        ``per_dim=True``; the main backbones and fusion serve dimension 0.
    mixup: alpha of training-batch mixup (:mod:`mmer.model.mixup`; 0: off). Each head's loss is blended between the two
        samples' targets; validation, test and prediction never mix.
    """

    def __init__(self, backbones: dict[str, nn.Module], fusion: Fusion | Callable[..., Fusion],
                 heads: Sequence[Head | Callable[..., Head]], optimizer: OptimizerFactory | None = None,
                 scheduler: SchedulerFactory | None = None, token_stride: int = 1, compile: bool = False,
                 token_upsampling: str = "repeat",
                 replicas: Sequence[tuple[dict[str, nn.Module], Fusion | Callable[..., Fusion]]] | None = None,
                 mixup: float = 0.0) -> None:
        super().__init__()
        if not backbones:
            raise ValueError("MultimodalModule needs at least one backbone (model.modalities is empty)")
        if token_stride < 1:
            raise ValueError(f"token_stride={token_stride} must be >= 1")
        if mixup < 0:
            raise ValueError(f"mixup={mixup} must be >= 0 (0: off; 0.2 to 0.4 is usual)")
        self.mixup = float(mixup)
        self.backbones = nn.ModuleDict(backbones)
        in_dims = {m: b.out_dim for m, b in backbones.items()}
        self.fusion = fusion if isinstance(fusion, nn.Module) else fusion(in_dims=in_dims)
        if not isinstance(self.fusion, Fusion):
            raise TypeError(f"{type(self.fusion).__name__} must subclass mmer.model.fusion.base.Fusion (its hooks' defaults)")
        built = [h if isinstance(h, nn.Module) else h(in_dim=self.fusion.out_dim) for h in heads]
        if not built:
            raise ValueError("MultimodalModule needs at least one head")
        names = [h.name for h in built]
        if len(set(names)) != len(names):
            raise ValueError(f"head names must be unique, got {names}")
        self.heads = nn.ModuleList(built)
        self.replicas = None
        if replicas:
            if len(built) != 1 or not built[0].per_dim or built[0].out_dim != len(replicas) + 1:
                raise ValueError(f"one model per dimension needs a single head with per_dim=true and {len(replicas) + 1}"
                                 f" outputs (one per model), got {[(h.name, h.out_dim, h.per_dim) for h in built]}")
            self.replicas = nn.ModuleList(nn.ModuleDict({
                "backbones": nn.ModuleDict(b),
                "fusion": f if isinstance(f, nn.Module) else f(in_dims={m: x.out_dim for m, x in b.items()})})
                for b, f in replicas)
        self.optimizer_factory = optimizer or (lambda p: torch.optim.AdamW(p, lr=1e-3))
        self.scheduler_factory = scheduler
        self.token_stride = token_stride
        if token_upsampling not in UPSAMPLING:
            raise ValueError(f"token_upsampling={token_upsampling!r}: choose one of {list(UPSAMPLING)}")
        self.token_upsampling = token_upsampling
        self.metrics = nn.ModuleDict({
            f"{stage}_metrics": nn.ModuleDict({h.name: nn.ModuleDict(h.task.metrics(h.out_dim)) for h in built})
            for stage in STAGES  # "train" alone would clash with nn.Module.train
        })
        if compile:
            for m in self.backbones.values():
                m.compile()
            self.fusion.compile()

    # ----------------------------------------------------------------------------------------------- forward
    def forward(self, batch: Batch, need_weights: bool = False):
        """Returns ``{head_name: raw output}`` (and the fusion's attention weights if ``need_weights``). With
        ``replicas`` (one model per output dimension), the single per-dimension head reads dimension 0 from the
        main backbones and fusion and dimension d from replica d - 1."""
        fused, fused_mask, weights, num_frames = self._fuse(self.backbones, self.fusion, batch, need_weights)
        if self.replicas is not None:
            fused = [fused] + [self._fuse(r["backbones"], r["fusion"], batch, False)[0] for r in self.replicas]
        outputs = {}
        for head in self.heads:
            out = head(fused, fused_mask)
            outputs[head.name] = frames_from_tokens(out, num_frames, self.token_upsampling) if head.task.per_frame \
                else out
        return (outputs, weights) if need_weights else outputs

    def _fuse(self, backbones: nn.ModuleDict, fusion: Fusion, batch: Batch, need_weights: bool):
        """backbones -> time alignment -> fusion: (fused (B, T_tok, d), its mask, weights or None, num_frames)."""
        feats, masks = {}, {}
        for m, backbone in backbones.items():
            if m not in batch.inputs:
                continue
            f = backbone(model_input(batch.inputs[m]), batch.masks[m])
            feats[m], masks[m] = f, resample_mask(batch.masks[m], f.shape[1])
        if not feats:
            raise ValueError(f"batch has none of the model's modalities {list(backbones)}; "
                             f"it has {list(batch.inputs)}")
        num_frames = batch.meta.get("num_frames") or next(iter(feats.values())).shape[1]
        if fusion.own_time_axes:  # e.g. EMERT: every modality's tokens as they are
            a_feats, a_masks = feats, masks
        else:
            steps = math.ceil(num_frames / self.token_stride)
            aligned = {m: align_time(feats[m], masks[m], steps) for m in feats}
            a_feats = {m: v[0] for m, v in aligned.items()}
            a_masks = {m: v[1] for m, v in aligned.items()}
        fused = fusion(a_feats, a_masks, need_weights=need_weights)
        weights = None
        if need_weights:
            fused, weights = fused
        fused_mask = torch.stack([m.any(1) for m in a_masks.values()]).any(0).unsqueeze(1) \
            if fused.shape[1] == 1 else torch.stack(list(a_masks.values())).any(0)
        return fused, fused_mask, weights, num_frames

    # ----------------------------------------------------------------------------------------------- steps
    def _shared_step(self, batch: Batch, stage: str) -> Tensor:
        mixed = mix(batch, self.mixup) if stage == "train" and self.mixup > 0 else None
        outputs = self(mixed.batch if mixed is not None else batch)
        total = 0.0
        for head in self.heads:
            target, mask = batch.targets[head.target], batch.target_masks[head.target]
            loss = head.loss(outputs[head.name], target, mask)
            if mixed is not None:  # the partner's target, weighted 1 - lam (mmer.model.mixup)
                k = mixed.partner
                loss = mixed.lam * loss + (1 - mixed.lam) * head.loss(outputs[head.name], target[k], mask[k])
            self.log(f"{stage}/{head.metric_prefix}loss_{head.name}", loss, on_step=False, on_epoch=True,
                     batch_size=batch.size, sync_dist=stage != "train")
            total = total + head.weight * loss
            pred = head.task.predict(outputs[head.name].detach())
            for metric in self.metrics[f"{stage}_metrics"][head.name].values():
                metric.update(pred[mask], target[mask])
        fusions = [self.fusion] + ([r["fusion"] for r in self.replicas] if self.replicas is not None else [])
        for k, fusion in enumerate(fusions):
            for name, loss in fusion.aux_losses.items():  # already weighted by the fusion
                self.log(f"{stage}/loss_{name}" + (f"_{k}" if k else ""), loss, on_step=False, on_epoch=True,
                         batch_size=batch.size, sync_dist=stage != "train")
                total = total + loss
        if not torch.isfinite(total):
            videos = batch.meta.get("recording", [])
            raise FloatingPointError(f"{stage} loss is {float(total)} on a batch of {list(videos)[:8]}: check these "
                                     f"inputs for NaN/Inf or lower the learning rate")
        # DDP: validation losses are epoch means over every rank. Training losses are not synced: rank 0's
        # progress bar reads them at the training epoch's end, before the other ranks would join that collective
        # (a deadlock), so under DDP train/loss* are rank 0's means; train/ metrics (torchmetrics) are global
        self.log(f"{stage}/loss", total, on_step=stage == "train", on_epoch=True, prog_bar=stage == "train",
                 batch_size=batch.size, sync_dist=stage != "train")
        return total

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, "val")

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        outputs = self(batch)
        return {"meta": batch.meta, "outputs": {h.name: h.task.activate(outputs[h.name]).float().cpu() for h in self.heads}}

    def logged_keys(self, stage: str) -> list[str]:
        """Every key this model logs for ``stage`` (train, val) at an epoch's end: what ``cv.monitor`` may name,
        known before training: ``<stage>/loss``, each head's ``loss_<head>`` and epoch metrics (per-dim metrics as
        ``<name>_<dim>`` and ``<name>_mean``) and each fusion's ``loss_<aux>``."""
        keys = [f"{stage}/loss"]
        for head in self.heads:
            keys.append(f"{stage}/{head.metric_prefix}loss_{head.name}")
            for name in self.metrics[f"{stage}_metrics"][head.name]:
                values = [f"{name}_{d}" for d in head.dim_names] + [f"{name}_mean"] if name in head.task.per_dim else [name]
                keys += [f"{stage}/{head.metric_prefix}{v}" for v in values]
        fusions = [self.fusion] + ([r["fusion"] for r in self.replicas] if self.replicas is not None else [])
        keys += [f"{stage}/loss_{n}" + (f"_{k}" if k else "") for k, f in enumerate(fusions) for n in f.aux_loss_names]
        return keys

    def _log_epoch_metrics(self, stage: str) -> None:
        for head in self.heads:
            for name, metric in self.metrics[f"{stage}_metrics"][head.name].items():
                if metric.update_count == 0:
                    continue
                for key, value in head.task.metric_values(head.dim_names, name, metric.compute()).items():
                    # torchmetrics gathered every rank's state: the value is the whole set's, the same on each rank
                    self.log(f"{stage}/{head.metric_prefix}{key}", value, prog_bar=stage == "val" and key.endswith("mean"),
                             sync_dist=True)
                metric.reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")

    description: dict[str, Any] | None = None  # what rebuilds this model (mmer.model.description.describe), set by build_module

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Every checkpoint carries the model description (plain types), so it loads anywhere on its own."""
        if self.description is not None:
            checkpoint[DESCRIPTION_KEY] = self.description

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: str, *args: Any, **kwargs: Any):
        """Not this way: the model layer does not build models from configs. Use
        :func:`mmer.runs.checkpoints.load_module`, which rebuilds the model from the description the checkpoint
        carries (``weights_only`` loading; no run folder needed)."""
        raise TypeError("load an mmer checkpoint with `from mmer.runs import load_module; load_module(path)`: it "
                        "rebuilds the model from the description the checkpoint carries")

    def on_fit_start(self) -> None:
        """Fill every :class:`~mmer.model.backbones.features.FoldStandardiser` of a modality's backbone with the statistics
        of that modality over the fold's training recordings (``datamodule.input_statistics``); one restored from a
        checkpoint keeps its own."""
        for m, backbone in self.backbones.items():
            todo = [s for s in backbone.modules() if isinstance(s, FoldStandardiser) and not bool(s.fitted)]
            if todo:
                mean, std = self.trainer.datamodule.input_statistics(m)
                for standardiser in todo:
                    standardiser.set_statistics(torch.as_tensor(mean), torch.as_tensor(std))

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            for group in self.metrics["val_metrics"].values():
                for metric in group.values():
                    metric.reset()
            return
        self._log_epoch_metrics("val")

    # ----------------------------------------------------------------------------------------------- optim
    def _fused_choice(self) -> dict[str, bool]:
        """An optimizer config with ``fused: null`` gets the fused kernel when training in full precision (on CPU
        about 6x faster than the per-tensor loop for a MiniLM); Lightning refuses gradient clipping with a fused
        optimizer under mixed precision, so there it stays unfused."""
        if getattr(self.optimizer_factory, "keywords", {}).get("fused", False) is not None or self._trainer is None:
            return {}
        return {"fused": str(self.trainer.precision) in ("32-true", "32", "64-true", "64")}

    def param_groups(self) -> list[dict]:
        """Trainable parameters; a backbone with an ``lr`` attribute (e.g. a pretrained text encoder fine-tuned at
        2e-5 beside a fusion at 1e-3) gets its own group at that learning rate, the rest use the optimizer's."""
        groups, own = [], set()
        for backbone in self.backbones.values():
            lr = getattr(backbone, "lr", None)
            params = [p for p in backbone.parameters() if p.requires_grad]
            if lr is not None and params:
                groups.append({"params": params, "lr": lr})
                own.update(id(p) for p in params)
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in own]
        return [{"params": rest}, *groups]

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.param_groups(), **self._fused_choice())
        if self.scheduler_factory is None:
            return optimizer
        takes_total = "total_steps" in inspect.signature(self.scheduler_factory).parameters
        extra = {"total_steps": int(self.trainer.estimated_stepping_batches)} if takes_total else {}
        scheduler = self.scheduler_factory(optimizer, **extra)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": getattr(scheduler, "interval", "epoch")}}
