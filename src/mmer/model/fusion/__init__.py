"""Fusions. Each is built with ``in_dims: dict[str, int]`` and maps {m: (B, T, D_m)} + masks to (B, T, d).

Chosen by name through the Hydra group ``experiments/model/fusion/``.
"""
