"""The benchmark harness: every workload runs and reports (no timing is asserted here), and the fast paths give the
reference's numbers on the same inputs."""

import json

import pytest
import torch

from benchmarks import workloads
from benchmarks.run import main


@pytest.mark.slow  # about 95 s on 2 cores: every workload end to end; the fast tier keeps the cheaper checks below
def test_every_workload_prints_its_json_record(capsys):
    main(["--size", "tiny", "--device", "cpu", "--only", "1,2,3,4,5", "--force-gpu-workloads"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["workload"] for r in records] == ["frozen_backbone_jmt", "end_to_end_finetune", "fusion_only_step",
                                                "data_path", "per_frame_outputs"]
    for r in records:
        assert r["ours"] > 0 and r["reference"] > 0 and r["ratio"] == pytest.approx(r["ours"] / r["reference"], 1e-2)
        assert r["device"].startswith("cpu") and r["settings"]
    assert records[1]["flops_per_step"] > 0
    assert records[0]["five_epochs_2000_windows_s"]["reference"] > 0


def test_gpu_only_workload_says_it_was_skipped_on_cpu(capsys):
    main(["--size", "tiny", "--device", "cpu", "--only", "2"])
    record = json.loads(capsys.readouterr().out)
    assert "skipped" in record and "GPU" in record["skipped"]


@pytest.mark.slow  # compiling the step takes about 27 s on 2 cores
def test_fast_fusion_step_matches_the_reference_step():
    """Ours (forward and loss compiled, fused SGD, no host sync) against the reference (eager, per-tensor SGD) from the
    same weights on the same cached-feature batch: the same losses and outputs after three steps (fp32 on CPU)."""
    s = workloads.SIZES["tiny"]
    device = torch.device("cpu")
    torch.manual_seed(0)
    ref = workloads.jmt_model(s, cached=True)
    ours = workloads.jmt_model(s, cached=True)
    ours.load_state_dict(ref.state_dict())
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    ref.eval(), ours.eval()  # no dropout, so both see the same function
    batch = workloads.cached_batch(s, device)
    steps = {"reference": workloads.train_step(ref, batch, device, "reference", lr=1e-2),
             "ours": workloads.train_step(ours, batch, device, "ours", lr=1e-2, compile_loss=True)}
    for _ in range(3):
        steps["reference"]()
        steps["ours"]()
    with torch.no_grad():
        torch.testing.assert_close(workloads.loss_of(ours, batch), workloads.loss_of(ref, batch), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(ours(batch)["va"], ref(batch)["va"], atol=1e-5, rtol=1e-4)
    assert max((v - before[k]).abs().max() for k, v in ref.state_dict().items()) > 0  # the steps did train


def test_ddp_scaling_reports_both_process_counts_and_the_efficiency(capsys):
    main(["--size", "tiny", "--device", "cpu", "--only", "6"])
    record = json.loads(capsys.readouterr().out)
    assert record["workload"] == "ddp_scaling" and record["settings"]["processes"] == 2
    assert record["ours"] > 0 and record["reference"] > 0
    assert record["scaling_efficiency"] == pytest.approx(record["ours"] / (2 * record["reference"]), rel=1e-2)
    assert record["settings"]["threads_per_process"]["ours"] >= 1


def test_cv_cost_counts_steps_per_fold_and_rounds_of_fold_jobs(capsys):
    from benchmarks import cv_cost

    # 6 folds of 1,200 frames at hop 10 and batch 4: 100 training windows -> 25 steps, 20 validation windows -> 5
    assert cv_cost.fold_seconds(1200, 6, 10, 4, 1, 2, step_s=1.0, val_step_s=0.5) == 2 * (25 * 1.0 + 5 * 0.5)
    assert cv_cost.fold_seconds(1200, 6, 10, 4, 2, 1, step_s=1.0, val_step_s=0.0) == 13  # ceil(100 / 8)
    rows = dict(cv_cost.table(cv_cost.build_parser().parse_args(["--gpus", "1", "4", "--efficiency", "1.0"])))
    frozen_ddp = rows["frozen backbones recomputed every step (reference way), DDP"]
    frozen_jobs = rows["frozen backbones recomputed every step (reference way), fold jobs"]
    assert frozen_ddp[0] == frozen_jobs[0] and frozen_jobs[1] == pytest.approx(frozen_jobs[0] / 3, rel=1e-3)  # 2 rounds
    assert frozen_ddp[1] == pytest.approx(frozen_ddp[0] / 4, rel=0.03)  # ideal DDP: a quarter of the steps (ceil)
    cached = rows["feature cache, the reference's fusion step, fold jobs"]
    assert cached[1] > cached[0] / 3  # the one-off cache build is not divided among the GPUs
    assert cv_cost.main(["--gpus", "1"]) == 0 and "1 GPU" in capsys.readouterr().out


def test_face_crop_workload_says_what_it_needs_without_real_clips(capsys):
    main(["--size", "tiny", "--device", "cpu", "--only", "7"])
    record = json.loads(capsys.readouterr().out)
    assert record["workload"] == "face_crops" and "--videos" in record["skipped"]


@pytest.mark.slow  # about 30 s: one real clip through both ways
def test_face_crop_workload_on_a_real_clip(shared_dir, capsys):
    main(["--size", "tiny", "--device", "cpu", "--only", "7", "--videos", str(shared_dir / "data/ravdess_av/Actor_05")])
    record = json.loads(capsys.readouterr().out)
    assert record["workload"] == "face_crops" and record["ours"] > 0 and record["reference"] > 0
    assert record["settings"]["frames"] > 80 and record["face_found"]["ours"] >= 0.95
    assert 0.5 < record["box_iou_with_reference"]["mean"] <= 1
