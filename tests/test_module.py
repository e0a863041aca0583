"""The one LightningModule with every head task, masks, token strides and modality dropping."""

import pytest
import torch

from mmer.core.batch import Batch
from mmer.evaluation.tasks import TASKS
from mmer.model.backbones.features import FeatureProjection
from mmer.model.fusion.joint_transformer import JointTransformerFusion
from mmer.model.heads import Head, frames_from_tokens
from mmer.model.module import MultimodalModule

B, T = 4, 30


def make_batch():
    inputs = {"visual": torch.randn(B, T, 6), "audio": torch.randn(B, 2 * T, 5)}  # audio at 2 steps / frame
    masks = {"visual": torch.ones(B, T, dtype=torch.bool), "audio": torch.ones(B, 2 * T, dtype=torch.bool)}
    masks["visual"][1, 20:] = False
    masks["audio"][1, 40:] = False
    targets = {"va": torch.rand(B, T, 2) * 2 - 1, "expr": torch.randint(0, 7, (B,)),
               "au": torch.randint(0, 2, (B, 12)), "intensity": torch.rand(B, 1),
               "expr_f": torch.randint(0, 8, (B, T)), "au_f": torch.randint(0, 2, (B, T, 12))}
    tmasks = {"va": torch.ones(B, T, dtype=torch.bool), "expr": torch.ones(B, dtype=torch.bool),
              "au": torch.ones(B, dtype=torch.bool), "intensity": torch.ones(B, dtype=torch.bool),
              "expr_f": torch.ones(B, T, dtype=torch.bool), "au_f": torch.ones(B, T, dtype=torch.bool)}
    tmasks["expr_f"][0, :5] = False  # unlabelled frames (EXPR -1)
    tmasks["va"][1, 20:] = False
    targets["va"][1, 20:] = -5.0
    return Batch(inputs, masks, targets, tmasks, {"recording": [f"v{i}" for i in range(B)], "num_frames": T})


HEADS = {
    "va": dict(task="frame_regression", out_dim=2, dim_names=["valence", "arousal"]),
    "expr": dict(task="classification", out_dim=7),
    "au": dict(task="multilabel", out_dim=12),
    "intensity": dict(task="regression", out_dim=1, dim_names=["intensity"]),
    "expr_f": dict(task="frame_classification", out_dim=8, metric_prefix="frame_"),
    "au_f": dict(task="frame_multilabel", out_dim=12, metric_prefix="frame_"),
}


def make_module(heads=tuple(HEADS), token_stride=1, mixup=0.0):
    backbones = {"visual": FeatureProjection(6, 16), "audio": FeatureProjection(5, 16)}
    return MultimodalModule(
        backbones, lambda in_dims: JointTransformerFusion(in_dims, d_model=16, heads=2),
        [lambda in_dim, n=n: Head(in_dim, n, **HEADS[n]) for n in heads], token_stride=token_stride, mixup=mixup)


def test_every_task_is_covered():
    assert {h["task"] for h in HEADS.values()} == set(TASKS)


@pytest.mark.parametrize("stride", [1, 4])
def test_forward_shapes_loss_and_gradients(stride):
    module = make_module(token_stride=stride)
    batch = make_batch()
    out = module(batch)
    assert out["va"].shape == (B, T, 2)
    assert out["expr"].shape == (B, 7) and out["au"].shape == (B, 12) and out["intensity"].shape == (B, 1)
    assert out["expr_f"].shape == (B, T, 8) and out["au_f"].shape == (B, T, 12)
    loss = module._shared_step(batch, "train")
    assert torch.isfinite(loss)
    loss.backward()
    dead = [n for n, p in module.named_parameters() if p.requires_grad and p.grad is None]
    assert not dead, dead


def test_epoch_metrics_cover_every_head():
    module = make_module()
    logged = {}
    module.log = lambda key, value, **kw: logged.__setitem__(key, float(torch.as_tensor(value).detach()))
    for _ in range(2):
        module._shared_step(make_batch(), "val")
    module._log_epoch_metrics("val")
    for key in ("val/ccc_valence", "val/ccc_arousal", "val/ccc_mean", "val/f1_weighted", "val/accuracy", "val/uar",
                "val/f1_macro", "val/ccc_intensity", "val/f1_mean", "val/f1_11", "val/frame_f1_weighted",
                "val/frame_accuracy", "val/frame_f1_mean", "val/frame_f1_0"):
        assert key in logged, key
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())


def test_dropped_modality_and_attention_weights():
    module = make_module(heads=("va",)).eval()
    batch = make_batch()
    with torch.no_grad():
        out = module(batch.without("audio"))["va"]
        assert torch.isfinite(out).all()
        _, weights = module(batch, need_weights=True)
    assert any(k.startswith("cross/") for k in weights)


def test_nan_loss_names_the_videos():
    module = make_module(heads=("va",))
    batch = make_batch()
    batch.inputs["visual"][0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="v0"):
        module._shared_step(batch, "train")


def test_frames_from_tokens_repeats_each_token_over_its_frames():
    tokens = torch.arange(4.0).view(1, 4, 1)
    assert frames_from_tokens(tokens, 10).flatten().tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]


def test_head_validation():
    with pytest.raises(ValueError, match="unknown task"):
        Head(8, "x", task="ranking", out_dim=1)


def test_a_backbone_with_its_own_learning_rate_gets_its_own_param_group():
    import functools

    module = make_module(heads=("va",))
    module.backbones["audio"].lr = 3e-5  # e.g. a pretrained text encoder fine-tuned gently
    module.optimizer_factory = functools.partial(torch.optim.AdamW, lr=1e-3)
    optimizer = module.configure_optimizers()
    rates = sorted(g["lr"] for g in optimizer.param_groups)
    assert rates == [3e-5, 1e-3]
    audio = {id(p) for p in module.backbones["audio"].parameters()}
    slow = next(g for g in optimizer.param_groups if g["lr"] == 3e-5)
    assert {id(p) for p in slow["params"]} == audio
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(module.parameters()))
