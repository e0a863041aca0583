"""Fusion ablation: the same experiment with both modalities (JMT and concat) and each modality alone.

Every variant is one config switch on the same experiment, scored on the held-out partition after the
CCC-centering merge (``cv/ccc_*``).
"""

from __future__ import annotations

from collections.abc import Sequence

VARIANTS: dict[str, list[str]] = {
    "JMT fusion (visual + audio)": [],
    "concat fusion (visual + audio)": ["model/fusion=concat"],
    "visual only": ["model.modalities=[visual]"],
    "audio only": ["model.modalities=[audio]"],
}


def run_ablation(overrides: Sequence[str] = (), variants: dict[str, list[str]] | None = None) -> dict[str, dict]:
    """Run each variant's CV job; returns {variant: summary}. Prints the comparison table."""
    from mmer.config import compose
    from mmer.cv import run_cv
    from mmer.report import print_table

    variants = variants or VARIANTS
    summaries = {name: run_cv(compose([*overrides, *extra])).summary for name, extra in variants.items()}
    keys = ["ccc_valence", "ccc_arousal", "ccc_mean"]
    rows = [(name, [s[f"cv/{k}"] for k in keys]) for name, s in summaries.items()]
    print_table("Ablation: held-out CCC after CCC-centering merge", rows, keys)
    return summaries
