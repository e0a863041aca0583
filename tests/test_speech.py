"""Speech backbones and their training-only augmentation (mmer.model.backbones.speech, mmer.model.backbones.augment)."""

from __future__ import annotations

import torch

from mmer.evaluation.losses import masked_cross_entropy
from mmer.model.backbones.augment import SpecAugment, WaveAugment
from mmer.model.backbones.speech import FunctionalsMLP, LogMelCNN, SpectrogramCNN, utterance_norm


def clips(lengths=(16000, 9000, 12000), sr=16000):
    torch.manual_seed(0)
    x = torch.zeros(len(lengths), max(lengths))
    mask = torch.zeros_like(x, dtype=torch.bool)
    for i, n in enumerate(lengths):
        t = torch.arange(n) / sr
        x[i, :n] = 0.3 * torch.sin(2 * torch.pi * (150 + 50 * i) * t)
        mask[i, :n] = True
    return x, mask


def test_augmentation_is_off_in_eval_and_seeded_in_training():
    x, mask = clips()
    wave = WaveAugment(shift=0.3, gain_db=6, snr_db=(10, 30), p_noise=1.0)
    spec = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=0.2)
    feats = torch.randn(3, 100, 32)
    fmask = torch.arange(100)[None] < torch.tensor([[100], [60], [80]])
    wave.eval(), spec.eval()
    assert torch.equal(wave(x, mask), x) and torch.equal(spec(feats, fmask), feats)
    wave.train(), spec.train()
    torch.manual_seed(1)
    a, fa = wave(x, mask), spec(feats, fmask)
    torch.manual_seed(1)
    b, fb = wave(x, mask), spec(feats, fmask)
    assert torch.equal(a, b) and torch.equal(fa, fb) and not torch.equal(a, x) and not torch.equal(fa, feats)
    assert torch.all(a[~mask] == 0)  # padding stays silent: shifts wrap inside each clip's own samples
    assert ((fa == 0) & (feats != 0)).any()


def test_a_circular_shift_keeps_every_sample_of_the_clip():
    x, mask = clips()
    shifted = WaveAugment(shift=0.5).train()(x, mask)
    for i in range(len(x)):
        n = int(mask[i].sum())
        assert torch.allclose(shifted[i, :n].sort().values, x[i, :n].sort().values)


def test_utterance_norm_ignores_padding():
    feats = torch.randn(2, 50, 8) * 3 + 5
    mask = torch.arange(50)[None] < torch.tensor([[50], [30]])
    padded = feats.clone()
    padded[1, 30:] = 1000.0  # whatever the padding holds
    out = utterance_norm(padded, mask)
    assert torch.allclose(out[1, :30], utterance_norm(feats[1:, :30], mask[1:, :30])[0], atol=1e-5)
    assert torch.all(out[1, 30:] == 0) and abs(float(out[0].mean())) < 1e-5


def test_speech_backbones_mask_padding_and_give_tokens():
    x, mask = clips()
    net = LogMelCNN(hop_length=320, channels=(4, 8), deltas=True).eval()
    tokens = net(x, mask)
    assert tokens.shape == (3, 13, 8)  # 16000 / 320 + 1 = 51 frames -> two pools -> 13
    assert torch.all(tokens[1, -4:] == 0)  # the 9000-sample clip covers about 29 of the 51 frames
    one = net(x[1:2, :9000], mask[1:2, :9000])
    # padding changes nothing but the clip's last frames (the STFT's centred edge, reflected when unpadded, and
    # through them the clip's statistics a little)
    assert torch.allclose(tokens[1, :one.shape[1] - 2], one[0, :-2], atol=5e-3)
    cnn = SpectrogramCNN(24, channels=(4,), input_channels=3)
    assert cnn(torch.randn(2, 20, 24), torch.ones(2, 20, dtype=torch.bool)).shape == (2, 10, 4)
    mlp = FunctionalsMLP(88, hidden=(16,))
    out = mlp(torch.randn(2, 1, 88), torch.tensor([[True], [False]]))
    assert out.shape == (2, 1, 16) and torch.all(out[1] == 0)


def test_label_smoothing_is_a_loss_option():
    logits, target, mask = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1]), torch.ones(6, dtype=torch.bool)
    smooth = masked_cross_entropy(logits, target, mask, label_smoothing=0.2)
    soft = torch.full((6, 4), 0.05).scatter(1, target[:, None], 0.85)
    assert torch.allclose(smooth, -(soft * logits.log_softmax(1)).sum(1).mean(), atol=1e-6)
