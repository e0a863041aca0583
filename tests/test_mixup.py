"""Training-batch mixup: the blend, the blended loss, off outside training, and a run identity that only changes
when it is on."""

import math

import pytest
import torch

from mmer.commands.check import fast_dev_run
from mmer.config.build import build_module
from mmer.config.composer import compose
from mmer.data.records import ModalitySpec
from mmer.model.mixup import mix
from mmer.runs.provenance import config_hash
from tests.conftest import TINY
from tests.test_module import HEADS, make_batch, make_module


def test_mix_blends_inputs_with_a_permutation_and_keeps_the_targets():
    batch = make_batch()
    batch.inputs["frames"] = torch.randint(0, 256, (4, 3, 2, 2), dtype=torch.uint8)
    batch.masks["frames"] = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)
    torch.manual_seed(0)
    mixed = mix(batch, alpha=0.4)
    k, lam = mixed.partner, mixed.lam
    assert 0.5 <= lam <= 1 and sorted(k.tolist()) == [0, 1, 2, 3]
    for m in ("visual", "audio"):
        torch.testing.assert_close(mixed.batch.inputs[m], lam * batch.inputs[m] + (1 - lam) * batch.inputs[m][k])
    frames = batch.inputs["frames"].float() / 255
    torch.testing.assert_close(mixed.batch.inputs["frames"], lam * frames + (1 - lam) * frames[k])
    assert torch.equal(mixed.batch.masks["frames"], batch.masks["frames"] | batch.masks["frames"][k])
    assert mixed.batch.targets is batch.targets and mixed.batch.target_masks is batch.target_masks
    torch.manual_seed(0)
    again = mix(batch, alpha=0.4)
    assert again.lam == lam and torch.equal(again.partner, k)  # seeded: a run is repeatable
    with pytest.raises(ValueError, match="alpha"):
        mix(batch, alpha=0.0)


def test_the_training_loss_is_the_lam_weighted_loss_of_both_targets():
    torch.manual_seed(1)
    module = make_module(heads=("expr", "va"), mixup=0.4)
    module.eval()  # no dropout: the two forward passes below see the same network
    batch = make_batch()
    torch.manual_seed(7)
    loss = module._shared_step(batch, "train")
    torch.manual_seed(7)
    mixed = mix(batch, 0.4)
    outputs = module(mixed.batch)
    k, lam = mixed.partner, mixed.lam
    assert not torch.equal(k, torch.arange(4)) and lam < 1  # the seed gives a real blend
    expected = 0.0
    for head in module.heads:
        target, mask = batch.targets[head.target], batch.target_masks[head.target]
        expected = expected + head.weight * (lam * head.loss(outputs[head.name], target, mask)
                                             + (1 - lam) * head.loss(outputs[head.name], target[k], mask[k]))
    torch.testing.assert_close(loss, expected)
    plain = make_module(heads=("expr", "va"))
    plain.load_state_dict(module.state_dict())
    plain.eval()
    assert not torch.allclose(loss, plain._shared_step(batch, "train"))


def test_evaluation_never_mixes():
    """Validation (the only other stage: held-out data is scored from prediction tables) never mixes."""
    stage = "val"
    torch.manual_seed(2)
    module = make_module(heads=tuple(HEADS))
    module.eval()
    batch = make_batch()
    module.mixup = 0.0
    torch.manual_seed(3)
    plain = module._shared_step(batch, stage)
    module.mixup = 0.4
    torch.manual_seed(3)
    assert torch.equal(module._shared_step(batch, stage), plain)


def test_mixup_off_keeps_a_runs_identity_and_on_changes_it():
    base = {"name": "x", "model": {"modalities": ["audio"], "compile": False}}
    off = {"name": "x", "model": {"modalities": ["audio"], "compile": False, "mixup": 0.0}}
    on = {"name": "x", "model": {"modalities": ["audio"], "compile": False, "mixup": 0.4}}
    assert config_hash(off) == config_hash(base) != config_hash(on)


def test_a_negative_alpha_is_refused():
    with pytest.raises(ValueError, match="mixup=-0.1"):
        make_module(mixup=-0.1)


def test_model_mixup_reaches_the_module_and_a_short_run_trains_with_it():
    spec = {"visual": ModalitySpec("features", 32), "audio": ModalitySpec("features", 24, 2)}
    assert build_module(compose(["model.mixup=0.3"]), spec, {"va": ["valence", "arousal"]}).mixup == 0.3
    assert build_module(compose([]), spec, {"va": ["valence", "arousal"]}).mixup == 0.0
    assert math.isfinite(fast_dev_run(["model.mixup=0.4", *TINY])["train/loss"])
