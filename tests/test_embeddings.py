"""Training on cached frozen-backbone tokens computes the same function as running the frozen backbone in the step."""

import numpy as np
import pytest
import torch

from mmer.config.build import build_datamodule, build_module
from mmer.config.composer import compose
from mmer.model.backbones.pretrained import SpectrogramResNet, VideoClipEncoder
from tests.conftest import fixture_root

SMALL = ["data.face_size=32", "data.window=64", "data.hop=32", "data.batch_size=3", "logger=csv"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """One local weights file per trunk, shared by the in-step and the cached model (random but fixed)."""
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(1)
    with pytest.warns(UserWarning, match="random initialisation"):
        video, audio = VideoClipEncoder(freeze=True), SpectrogramResNet(freeze=True)
    return video.export_weights(d / "r2plus1d_18.pth"), audio.export_weights(d / "resnet18.pth")


def _build(experiment, weights, root, cache, slot):
    cfg = compose([f"experiment={experiment}", f"data.root={root}", f"data.cache_dir={cache}", *SMALL,
                   f"{slot}.visual.weights={weights[0]}", f"{slot}.audio.weights={weights[1]}"])
    dm = build_datamodule(cfg)
    dm.setup("fit")
    torch.manual_seed(0)
    return dm, build_module(cfg, dm.input_spec(), dm.target_spec())


def test_cached_tokens_give_the_same_outputs_losses_and_gradients(weights, tmp_path_factory, tmp_path):
    root = fixture_root("affwild2", tmp_path_factory)
    dm_step, in_step = _build("jmt_affwild2", weights, root, tmp_path / "cache", "model.backbones")
    dm_cache, cached = _build("jmt_affwild2_cached", weights, root, tmp_path / "cache", "data.embed")
    assert dm_cache.input_spec()["visual"].span == 32 and dm_cache.input_spec()["audio"].span == 32
    head_and_fusion = {k: v for k, v in in_step.state_dict().items() if not k.startswith("backbones.")}
    missing, unexpected = cached.load_state_dict(head_and_fusion, strict=False)
    assert not missing and not unexpected

    in_step.train(), cached.train()  # dropout active: the same seed must give the same function
    compared = 0
    for b_step, b_cache in zip(dm_step.val_dataloader(), dm_cache.val_dataloader()):
        assert b_step.meta["recording"] == b_cache.meta["recording"] and torch.equal(b_step.meta["start"], b_cache.meta["start"])
        assert b_cache.inputs["visual"].shape[1:] == (2, 512)  # 64 frames -> 2 tokens of 32
        losses = []
        for model, batch in ((in_step, b_step), (cached, b_cache)):
            model.zero_grad()
            torch.manual_seed(7)
            out = model(batch)["va"]
            loss = model.heads[0].task.loss(out, batch.targets["va"], batch.target_masks["va"])
            loss.backward()
            losses.append((out.detach(), loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()
                                                         if p.grad is not None and not k.startswith("backbones.")}))
        (o1, l1, g1), (o2, l2, g2) = losses
        torch.testing.assert_close(o1, o2, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(l1, l2, atol=2e-5, rtol=1e-4)
        assert g1.keys() == g2.keys() and g1
        for k in g1:
            torch.testing.assert_close(g1[k], g2[k], atol=1e-4, rtol=1e-3, msg=k)
        compared += 1
    assert compared >= 3


def test_embedding_cache_is_reused_and_keyed_by_the_weights(weights, tmp_path_factory, tmp_path, monkeypatch):
    import mmer.data.embeddings as emb
    import mmer.data_modules.affwild2 as affwild2

    root = fixture_root("affwild2", tmp_path_factory)
    dm, _ = _build("jmt_affwild2_cached", weights, root, tmp_path / "cache", "data.embed")
    rec = dm.recordings[0]
    tokens = np.array(dm.load(rec).inputs["visual"])
    assert tokens.shape == (-(-rec.num_frames // 32), 512) and np.isfinite(tokens).all()

    calls = []
    real = emb.embed_recording
    # affwild2 calls the name it imported: patch it there
    monkeypatch.setattr(affwild2, "embed_recording", lambda *a, **k: calls.append(1) or real(*a, **k))
    again, _ = _build("jmt_affwild2_cached", weights, root, tmp_path / "cache", "data.embed")
    assert not calls and np.array_equal(again.load(rec).inputs["visual"], tokens)
    other = (weights[0].with_name("other.pth"), weights[1])
    torch.manual_seed(3)
    VideoClipEncoder(freeze=True, weights=str(weights[0])).export_weights(other[0])
    other[0].touch()
    _build("jmt_affwild2_cached", other, root, tmp_path / "cache", "data.embed")
    assert calls  # a different weights file is a different backbone: re-extracted


def test_only_frozen_backbones_can_be_cached(weights, tmp_path_factory, tmp_path):
    from mmer.core.errors import ConfigError

    root = fixture_root("affwild2", tmp_path_factory)
    cfg = compose(["experiment=jmt_affwild2_cached", f"data.root={root}", *SMALL, "data.embed.visual.freeze=false",
                   f"data.embed.visual.weights={weights[0]}", f"data.embed.audio.weights={weights[1]}"])
    with pytest.raises(ConfigError, match="only a frozen backbone can be cached"):
        build_datamodule(cfg).input_spec()
    cfg = compose(["experiment=jmt_affwild2_cached", f"data.root={root}", *SMALL[:1], "data.window=100", "data.hop=50",
                   f"data.embed.visual.weights={weights[0]}", f"data.embed.audio.weights={weights[1]}"])
    with pytest.raises(ConfigError, match="multiples of 32"):
        build_datamodule(cfg).setup("fit")
