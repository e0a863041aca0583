"""The M2FNet extractor stage: the adaptive-margin triplet loss and ``mmer pretrain`` on the MELD clip fixture."""

import pytest
import torch
import torch.nn.functional as F

from mmer.config.build import build_module
from mmer.config.composer import compose
from mmer.evaluation.losses import adaptive_margin_triplet
from tests.conftest import dataset_overrides


def test_triplet_is_zero_when_classes_are_apart_beyond_the_margin():
    emb = F.normalize(torch.tensor([[1.0, 0.0], [0.99, 0.01], [-1.0, 0.0], [-0.99, -0.01]]), dim=-1)
    assert adaptive_margin_triplet(emb, torch.tensor([0, 0, 1, 1])).item() == 0.0
    # swap the labels: every anchor's positive is now the far point, a hard triplet
    hard = adaptive_margin_triplet(emb, torch.tensor([0, 1, 1, 0]))
    assert hard.item() > 2.0


def test_triplet_matches_the_documented_formula_anchor_by_anchor():
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(10, 8), dim=-1)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 1])  # class 3 has a single member: no positive, no anchor
    terms = []
    for a in range(10):
        pos = [i for i in range(10) if i != a and labels[i] == labels[a]]
        neg = [i for i in range(10) if labels[i] != labels[a]]
        if not pos:
            continue
        d_ap = max(1 - float(emb[a] @ emb[i]) for i in pos)
        d_an = min(1 - float(emb[a] @ emb[i]) for i in neg)
        margin = 0.2 + 0.3 / (1 + torch.exp(torch.tensor(-(d_ap - d_an) / 0.1)).item())
        terms.append(max(0.0, d_ap - d_an + margin))
    assert len(terms) == 9
    got = adaptive_margin_triplet(emb, labels, base_margin=0.2, scale=0.3, temperature=0.1)
    assert got.item() == pytest.approx(sum(terms) / len(terms), abs=1e-5)
    # a harder batch (closer negatives) gets larger margins, hence a larger loss than the plain triplet's
    plain = adaptive_margin_triplet(emb, labels, base_margin=0.2, scale=0.0)
    assert got > plain


def test_no_valid_triplet_gives_zero_with_a_gradient():
    emb = F.normalize(torch.randn(3, 4), dim=-1).requires_grad_()
    loss = adaptive_margin_triplet(emb, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0 and emb.grad is not None


@pytest.mark.parametrize("modality", ["audio", "visual"])
def test_pretrain_saves_a_backbone_the_experiment_loads_and_freezes(modality, tmp_path, tmp_path_factory):
    from mmer.commands.pretrain import run_pretrain

    over = ["experiment=m2fnet_meld_av", *dataset_overrides("meld_clips", tmp_path_factory),
            f"paths.output_root={tmp_path}", f"pretrain.modality={modality}", "pretrain.epochs=2"]
    cfg = compose(over)
    file = run_pretrain(cfg)
    state = torch.load(file, weights_only=True)
    cfg = compose([*over, f"model.backbones.{modality}.weights={file}", f"model.backbones.{modality}.freeze=true"])
    model = build_module(cfg, {"text": _spec("tokens", 128), "audio": _spec("features", 64),
                               "visual": _spec("frames", 3)}, {"emotion": list("abcdefg")})
    backbone = model.backbones[modality]
    for k, v in backbone.state_dict().items():
        torch.testing.assert_close(v, state[k])
    assert not any(p.requires_grad for p in backbone.parameters())
    model.train()
    assert not backbone.training  # frozen: dropout and norms stay in eval mode
    assert any(g["params"] for g in model.param_groups())


def test_pretrain_needs_an_utterance_modality(tmp_path_factory):
    from mmer.commands.pretrain import run_pretrain
    from mmer.core.errors import ConfigError

    cfg = compose(["experiment=m2fnet_meld_av", *dataset_overrides("meld_clips", tmp_path_factory)])
    with pytest.raises(ConfigError, match="pretrain.modality"):
        run_pretrain(cfg)


def _spec(kind, dim):
    from mmer.data.records import ModalitySpec

    return ModalitySpec(kind, dim)
