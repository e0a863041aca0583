"""Every registered backbone and fusion (every YAML in experiments/model/{backbone,fusion}) is walked here."""

import warnings

import pytest
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from mmer.config.paths import available, config_dir
from mmer.model.backbones.audio import SpeechEncoder
from mmer.model.backbones.base import Backbone
from mmer.model.fusion.base import Fusion

B, T = 3, 24


def gradient_everywhere(module, loss):
    loss.backward()
    missing = [n for n, p in module.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert not missing, f"no gradient reaches {missing}"


def backbone_config(name):
    return OmegaConf.load(config_dir() / "model/backbone" / f"{name}.yaml")


@pytest.mark.parametrize("name", available("model/backbone"))
def test_every_backbone_declares_its_input(name):
    cls = get_class(backbone_config(name)["_target_"])
    assert issubclass(cls, Backbone), f"{cls.__name__} does not derive from mmer.model.backbones.base.Backbone"
    x, kwargs = cls.example(B, T)
    assert x.shape[0] == B and x.dim() == cls.INPUT.shape.count(",") + 1, (cls.INPUT, tuple(x.shape))
    assert (x.dtype == torch.long) == (cls.INPUT.dtype == "long") and "in_dim" in kwargs


@pytest.mark.parametrize("name", available("model/backbone"))
def test_backbone(name, request):
    node = backbone_config(name)
    cls = get_class(node["_target_"])
    if issubclass(cls, SpeechEncoder):  # a tiny local model instead of the hub id (never downloaded)
        node.path = str(request.getfixturevalue("tiny_speech_encoder"))
    x, kwargs = cls.example(B, T)
    for key in [k for k in kwargs if k in node]:  # a setting the experiment takes from its data config
        node[key] = kwargs.pop(key)
    backbone = instantiate(node)(**kwargs)
    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    mask[1, x.shape[1] // 2:] = False  # padded tail of sample 1
    out = backbone(x, mask)
    assert out.dim() == 3 and out.shape[0] == B and out.shape[2] == backbone.out_dim
    assert torch.isfinite(out).all()
    if any(p.requires_grad for p in backbone.parameters()):  # frozen trunks: see the freeze-switch test below
        gradient_everywhere(backbone, out.pow(2).mean())
    # no mixing across batch samples (train mode, so dropout is active: fix its randomness). A backbone whose
    # training-mode output depends on the batch (BatchNorm statistics, packed utterances) compares in eval mode
    if cls.MIXES_BATCH_IN_TRAINING:
        backbone.eval()
    x2 = x.clone()
    x2[2] = x2[2] + 5.0
    if x2.is_floating_point():  # and not an affine change of the whole item (per-clip normalisation removes those)
        x2[2, :1] = x2[2, :1] * 3.0
    torch.manual_seed(0)
    a = backbone(x, mask)
    torch.manual_seed(0)
    b = backbone(x2, mask)
    torch.testing.assert_close(a[:2], b[:2])
    assert not torch.allclose(a[2], b[2])


def fusion_inputs(dims=None):
    dims = dims or {"visual": 12, "audio": 8, "eye": 5}
    feats = {m: torch.randn(B, T, d) for m, d in dims.items()}
    masks = {m: torch.ones(B, T, dtype=torch.bool) for m in dims}
    masks["visual"][0, 5:9] = False
    return dims, feats, masks


@pytest.mark.parametrize("name", available("model/fusion"))
def test_fusion(name):
    node = OmegaConf.load(config_dir() / "model/fusion" / f"{name}.yaml")
    dims, feats, masks = fusion_inputs()
    query = {"query": "visual"} if "query" in node else {}  # M2FNet's query modality (text on MELD)
    fusion = instantiate(node)(in_dims=dims, **query)
    assert isinstance(fusion, Fusion)  # the declared hooks (own_time_axes, aux_losses, attention_labels)
    if fusion.own_time_axes:
        return check_pooled_fusion(fusion, feats, masks)
    out = fusion(feats, masks)
    assert out.shape == (B, T, fusion.out_dim)
    assert torch.isfinite(out).all()
    gradient_everywhere(fusion, out.pow(2).mean())

    fusion.eval()
    with torch.no_grad():
        # a dropped modality (zeros + all-False mask) and a modality absent from the dicts both work
        dropped = dict(masks, audio=torch.zeros(B, T, dtype=torch.bool))
        out_dropped = fusion(dict(feats, audio=torch.zeros(B, T, 8)), dropped)
        out_absent = fusion({m: v for m, v in feats.items() if m != "audio"},
                            {m: v for m, v in masks.items() if m != "audio"})
        assert torch.isfinite(out_dropped).all()
        torch.testing.assert_close(out_dropped, out_absent)
        # every modality masked at some steps: those outputs are defined as 0, never NaN
        none = {m: v.clone() for m, v in masks.items()}
        for v in none.values():
            v[1, :4] = False
        out_none = fusion(feats, none)
        assert torch.isfinite(out_none).all() and out_none[1, :4].abs().max() == 0
        # a whole sample with no modality at all
        empty = {m: v.clone() for m, v in masks.items()}
        for v in empty.values():
            v[2] = False
        out_empty = fusion(feats, empty)
        assert torch.isfinite(out_empty).all() and out_empty[2].abs().max() == 0
        # no mixing across batch samples
        moved = {m: v.clone() for m, v in feats.items()}
        moved["audio"][2] += 3.0
        torch.testing.assert_close(fusion(feats, masks)[:2], fusion(moved, masks)[:2])
        assert not torch.allclose(fusion(feats, masks)[2], fusion(moved, masks)[2])
        # attention weights on request
        fused, weights = fusion(feats, masks, need_weights=True)
        torch.testing.assert_close(fused, fusion(feats, masks))
        assert all(torch.isfinite(w).all() for w in weights.values())


def check_pooled_fusion(fusion, feats, masks):
    """A fusion that takes every modality's tokens on their own time axes (``own_time_axes``) and pools them to
    (B, 1, d): lengths may differ per modality; absent = dropped; a sample with nothing present gives 0."""
    feats = dict(feats, eye=torch.randn(B, 7, 5))  # another length than the others
    masks = dict(masks, eye=torch.ones(B, 7, dtype=torch.bool))
    out = fusion(feats, masks)
    assert out.shape == (B, 1, fusion.out_dim) and torch.isfinite(out).all()
    aux = sum(fusion.aux_losses.values())
    gradient_everywhere(fusion, out.pow(2).mean() + aux)
    fusion.eval()
    with torch.no_grad():
        dropped = fusion(dict(feats, audio=torch.zeros(B, T, 8)), dict(masks, audio=torch.zeros(B, T, dtype=torch.bool)))
        absent = fusion({m: v for m, v in feats.items() if m != "audio"}, {m: v for m, v in masks.items() if m != "audio"})
        torch.testing.assert_close(dropped, absent)
        empty = {m: v.clone() for m, v in masks.items()}
        for v in empty.values():
            v[2] = False
        assert fusion(feats, empty)[2].abs().max() == 0
        moved = {m: v.clone() for m, v in feats.items()}
        moved["audio"][2] += 3.0
        torch.testing.assert_close(fusion(feats, masks)[:2], fusion(moved, masks)[:2])
        assert not torch.allclose(fusion(feats, masks)[2], fusion(moved, masks)[2])
        fused, weights = fusion(feats, masks, need_weights=True)
        assert all(torch.isfinite(w).all() for w in weights.values())


def test_jmt_has_six_cross_attention_outputs_for_two_modalities():
    from mmer.model.fusion.joint_transformer import JointTransformerFusion

    fusion = JointTransformerFusion({"visual": 8, "audio": 8}, d_model=16, heads=2)
    assert sorted(fusion.pairs) == sorted([("visual", "audio"), ("audio", "visual"), ("joint", "visual"),
                                           ("visual", "joint"), ("joint", "audio"), ("audio", "joint")])
    _, weights = fusion({"visual": torch.randn(2, 7, 8), "audio": torch.randn(2, 7, 8)},
                        {"visual": torch.ones(2, 7, dtype=torch.bool), "audio": torch.ones(2, 7, dtype=torch.bool)},
                        need_weights=True)
    assert len([k for k in weights if k.startswith("cross/")]) == 6
    assert weights["tokens"].shape == (2, 7, 2, 7)  # (B, T, heads, 1 fusion token + 6 outputs)


def test_constructor_validation_messages():
    from mmer.model.fusion.joint_transformer import JointTransformerFusion

    with pytest.raises(ValueError, match="d_model=10 is not divisible by heads=4"):
        JointTransformerFusion({"visual": 8}, d_model=10, heads=4)


def test_leader_follower_matches_the_formula_and_never_mixes_time():
    from mmer.model.fusion.leader_follower import LeaderFollowerFusion

    torch.manual_seed(0)
    dims = {"visual": 6, "vggish": 5, "mfcc": 4}
    fusion = LeaderFollowerFusion(dims, leader="visual", attention_dim=8).eval()
    feats = {m: torch.randn(2, 5, d) for m, d in dims.items()}
    masks = {m: torch.ones(2, 5, dtype=torch.bool) for m in dims}
    out = fusion(feats, masks)
    # direct transcription for sample 1, frame 3
    k, q, v = zip(*[fusion.kqv[m](feats[m][1, 3]).split(8) for m in dims])
    k, q, v = torch.stack(k), torch.stack(q), torch.stack(v)  # (M, a)
    s = torch.softmax(k @ q.T / 8**0.5, dim=-1)
    f = torch.nn.functional.layer_norm(s @ v + v, (3, 8), fusion.norm.weight, fusion.norm.bias)
    torch.testing.assert_close(out[1, 3], torch.cat([feats["visual"][1, 3], f.flatten()]))
    # attention is across modalities within a frame: changing frame 0 leaves frames 1.. unchanged
    moved = {m: x.clone() for m, x in feats.items()}
    moved["mfcc"][:, 0] += 4.0
    torch.testing.assert_close(fusion(moved, masks)[:, 1:], out[:, 1:])
    with pytest.raises(ValueError, match="leader='eye'"):
        LeaderFollowerFusion(dims, leader="eye")


@pytest.mark.parametrize("name", ["video_clips", "mel_resnet18"])
def test_pretrained_trunk_freeze_switch_and_local_weights(name, tmp_path):
    from mmer.core.errors import ConfigError

    node = backbone_config(name)
    x, kwargs = get_class(node["_target_"]).example(B, T)
    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    with pytest.warns(UserWarning, match="random initialisation"):
        frozen = instantiate(node)(**kwargs, freeze=True)
    frozen.train()  # the model trains; a frozen trunk must stay in eval mode with fixed BN statistics
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    frozen(x, mask).sum()
    assert not frozen.trunk.training and not any(p.requires_grad for p in frozen.trunk.parameters())
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())

    path = tmp_path / "weights.pth"
    frozen.export_weights(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # weights given: no random-init warning
        loaded = instantiate(node)(**kwargs, weights=str(path), freeze=True)
    loaded.eval(), frozen.eval()
    torch.testing.assert_close(loaded(x, mask), frozen(x, mask))
    with pytest.raises(ConfigError, match="does not exist"):
        instantiate(node)(**kwargs, weights=str(tmp_path / "missing.pth"))

    tuned = instantiate(node)(**kwargs, freeze=False, weights=str(path))
    tuned.train()
    tuned(x, mask).pow(2).mean().backward()
    assert all(p.grad is not None for p in tuned.trunk.parameters())



def test_faces_scene_backbone_averages_only_present_faces():
    import torch

    from mmer.model.backbones.utterance import UtteranceFacesScene

    torch.manual_seed(0)
    net = UtteranceFacesScene(3, scene_frames=2, channels=(4,), out_dim=8, dropout=0.0).eval()
    x = torch.rand(1, 2, 2 + 3, 3, 16, 16)
    x[0, 0, 3:] = 0  # utterance 0: one face; utterance 1: three
    mask = torch.ones(1, 2, dtype=torch.bool)
    out = net(x, mask)
    assert out.shape == (1, 2, 8)
    one_face = net._encode(x[0, :1])
    # the empty slots count for nothing: the same as a clip with just that one face slot
    torch.testing.assert_close(net._encode(x[0, :1, :3]), one_face)
    swap = x[0, :1].clone()
    swap[:, 2] = x[0, 1, 2]  # another face in the one present slot changes the output
    assert not torch.allclose(net._encode(swap), one_face)
    no_faces = UtteranceFacesScene(3, scene_frames=2, channels=(4,), out_dim=8, dropout=0.0).eval()
    assert torch.isfinite(no_faces(x[:, :, :2], mask)).all()  # F = 0: the scene half alone


def test_uint8_frames_are_scaled_on_the_device_exactly_as_before():
    """Frames travel as uint8 and become float / 255 in the module: the same numbers the loader used to send."""
    import numpy as np

    from mmer.core.batch import model_input
    from mmer.data.collate import window_input
    from mmer.data.records import ModalitySpec

    pixels = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4)).astype(np.uint8)
    spec = ModalitySpec("frames", 3, scale=1 / 255)
    carried = window_input(pixels, spec)
    assert carried.dtype == np.uint8
    expected = pixels.astype(np.float32) * np.float32(1 / 255)
    np.testing.assert_allclose(model_input(torch.from_numpy(carried)).numpy(), expected, rtol=1e-6, atol=1e-7)
    features = window_input(pixels.astype(np.float32), ModalitySpec("features", 4, scale=0.5))
    assert features.dtype == np.float32 and features.max() <= 127.5
