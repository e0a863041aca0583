"""On a fixed seed, fusion beats the best single modality on the held-out synthetic set (slow tier)."""

import pytest


@pytest.mark.slow
def test_fused_beats_best_single_modality_by_0_1_ccc(tmp_path):
    from mmer.commands.ablation import run_ablation

    variants = {"fused": [], "visual": ["model.modalities=[visual]"], "audio": ["model.modalities=[audio]"]}
    summaries = run_ablation(["experiment=jmt_synthetic", "logger=csv", "trainer.enable_progress_bar=false",
                              f"paths.output_root={tmp_path}"], variants)
    fused = summaries["fused"]["cv/ccc_mean"]
    best_single = max(summaries["visual"]["cv/ccc_mean"], summaries["audio"]["cv/ccc_mean"])
    assert fused >= best_single + 0.1, (fused, best_single)
