"""Per-modality backbones. Contract: ``forward(x, mask) -> (B, T', out_dim)`` and an ``out_dim`` attribute.

``mask`` is (B, T) over the input's own time axis; T' may differ (a spectrogram has its own frame rate) and the
module resamples the mask to T'. Chosen by name through the Hydra group ``experiments/model/backbone/``.
"""
