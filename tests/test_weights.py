"""Pretrained weights by name: read from the caches torch.hub and the Hugging Face hub use, and without network
(always in tests: MMER_OFFLINE=1) one line naming the cache and the fetch command. Nothing is downloaded here."""

import pytest
import torch

from mmer.core.errors import ConfigError


def test_a_missing_torchvision_name_offline_names_the_cache_and_the_command(tmp_path, monkeypatch):
    from mmer.model.backbones.pretrained import FrameResNet

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError, match=r"torchvision:resnet18:IMAGENET1K_V1: not in the cache .*torch/hub/"
                                          r"checkpoints .*`mmer fetch-weights torchvision:resnet18:IMAGENET1K_V1`"):
        FrameResNet(weights="imagenet")
    with pytest.raises(ConfigError, match=r"resnet18: torchvision has no weights 'IMAGENET9'"):
        FrameResNet(weights="IMAGENET9")


def test_torchvision_weights_by_name_load_from_the_cache(tmp_path, monkeypatch):
    from torchvision.models import ResNet18_Weights, resnet18

    from mmer.model.backbones.pretrained import FrameResNet

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / ResNet18_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    net = resnet18(weights=None)
    torch.save(net.state_dict(), cached)  # what a fetch leaves there (random values: nothing is downloaded)
    encoder = FrameResNet(weights="DEFAULT")
    torch.testing.assert_close(encoder.trunk[0].weight, net.conv1.weight)


def _tiny_bert_in_hub_layout(cache, repo_id: str) -> None:
    """A random two-layer BERT and its tokenizer where the hub cache keeps ``repo_id`` (refs/main -> snapshot)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = folder / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0" * 40)
    vocab = snapshot / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "so", "happy", "!"]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(snapshot)
    BertModel(BertConfig(vocab_size=10, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(snapshot)


def test_hugging_face_ids_come_from_the_hub_cache_or_name_it(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from mmer.core.weights import resolve_encoder_path
    from mmer.model.backbones.text import TextEncoder

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match=r"hf:some-org/encoder: not in the cache .*hub and downloads are off.*"
                                          r"`mmer fetch-weights hf:some-org/encoder`"):
        resolve_encoder_path("some-org/encoder")
    _tiny_bert_in_hub_layout(tmp_path / "hub", "some-org/encoder")
    folder = resolve_encoder_path("some-org/encoder")
    assert (folder / "config.json").is_file() and folder.is_relative_to(tmp_path / "hub")
    encoder = TextEncoder(in_dim=6, path="some-org/encoder")
    ids = torch.tensor([[[2, 5, 6, 8, 3, 0]]])
    assert encoder(ids, torch.ones(1, 1, dtype=torch.bool)).shape == (1, 1, 16)
    with pytest.raises(ConfigError, match="no config.json in that folder"):
        resolve_encoder_path(str(tmp_path / "not_a_model"))


def test_fetch_weights_names_its_two_forms():
    from mmer.core.weights import fetch

    with pytest.raises(ConfigError, match=r"give torchvision:<arch>:<WEIGHTS> .* or hf:<model id>"):
        fetch("resnet18")


def test_a_speech_encoder_trains_inside_a_model_on_a_4khz_waveform(tiny_speech_encoder):
    """The synthetic raw default's 4 kHz waveform, resampled to the encoder's 16 kHz, through a (tiny, random)
    wav2vec2 that is fine-tuned: one training and one validation batch with finite losses."""
    import math

    from mmer.commands.check import fast_dev_run
    from tests.conftest import TINY

    metrics = fast_dev_run(["experiment=jmt_synthetic_raw", *TINY, "model/backbone@model.backbones.audio=speech_encoder",
                            f"model.backbones.audio.path={tiny_speech_encoder}", "model.backbones.audio.sample_rate=4000",
                            "model.backbones.audio.freeze=false", "~model.backbones.audio.n_fft",
                            "~model.backbones.audio.hop_length"])  # the mel CNN's settings in that experiment
    assert math.isfinite(metrics["train/loss"]) and "val/ccc_mean" in metrics


def test_a_speech_encoder_by_hub_id_offline_names_the_fetch_command(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from mmer.model.backbones.audio import SpeechEncoder

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match=r"`mmer fetch-weights hf:facebook/wav2vec2-base`"):
        SpeechEncoder(path="facebook/wav2vec2-base")
