"""Per-modality backbones, one file per family, each a :class:`~mmer.model.backbones.base.Backbone`: ``forward(x,
mask) -> (B, T', out_dim)``, ``out_dim``, and a declared input with an example (the contract is in ``base.py``).
Chosen by name through the Hydra group ``experiments/model/backbone/``.
"""
