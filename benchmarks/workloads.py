"""The benchmark workloads: mmer's way beside the reference way (the seed code's), on the same inputs.

Reference variants reproduce how the seed code works: eager mode; fp16 autocast with a gradient scaler on a GPU
(fp32 on a CPU, where fp16 would be a strawman); the frozen backbones recomputed every step; the optimizer's
default per-tensor implementation; the loss read back to the host every step (``loss.item()`` for the running
loss). Ours: the feature cache instead of recomputing frozen backbones, fused optimizer kernels, no host sync in
the step, ``torch.compile`` where it pays, bf16 autocast and channels-last on a GPU.

Sizes: ``full`` is the issue's Aff-Wild2 shape (batch 32 windows, 16 sub-clips of 8 face frames 112x112, one
128x64 log-mel per sub-clip, JMT d=512), for a GPU; ``small`` fits the 5-minute CPU budget; ``tiny`` is for the
smoke test. Imports stay within torch, torchvision and mmer's model code (the GPU image has no hydra, wandb or PyAV).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable

import torch

from benchmarks.harness import (
    bf16_peak_tflops,
    emit,
    log,
    median_seconds,
    peak_memory_mb,
    reset_peak,
    skipped,
)
from mmer.core.batch import Batch


@dataclasses.dataclass(frozen=True)
class Size:
    batch: int
    tokens: int          # sub-clips per window
    clip_len: int        # face frames per sub-clip
    face: int            # face crop side
    rows: int            # log-mel rows per sub-clip
    d_model: int
    heads: int
    warmup: int
    steps: int
    windows: int = 2000  # windows per epoch for the 5-epoch projection


SIZES = {
    "full": Size(batch=32, tokens=16, clip_len=8, face=112, rows=128, d_model=512, heads=8, warmup=5, steps=20),
    "small": Size(batch=4, tokens=4, clip_len=8, face=56, rows=32, d_model=128, heads=4, warmup=2, steps=5),
    "tiny": Size(batch=2, tokens=2, clip_len=4, face=32, rows=16, d_model=32, heads=2, warmup=1, steps=2),
}
FEATURE_DIM = 512


def _frames(s: Size) -> int:
    return s.tokens * s.clip_len


def jmt_model(s: Size, cached: bool, frozen: bool = True):
    """JMT for Aff-Wild2 VA: R(2+1)D-18 + ResNet-18 (or, ``cached``, their 512-d tokens as inputs) -> JMT -> VA."""
    from mmer.model.backbones.features import Identity
    from mmer.model.backbones.pretrained import SpectrogramResNet, VideoClipEncoder
    from mmer.model.fusion.joint_transformer import JointTransformerFusion
    from mmer.model.heads import Head
    from mmer.model.module import MultimodalModule

    if cached:
        backbones = {"visual": Identity(FEATURE_DIM), "audio": Identity(FEATURE_DIM)}
    else:
        with _quiet_random_init():
            backbones = {"visual": VideoClipEncoder(3, "r2plus1d_18", clip_len=s.clip_len, frame_stride=1,
                                                    freeze=frozen),
                         "audio": SpectrogramResNet(64, rows_per_token=s.rows, freeze=frozen)}
    fusion = JointTransformerFusion({"visual": FEATURE_DIM, "audio": FEATURE_DIM}, d_model=s.d_model, heads=s.heads,
                                    l2_normalize=True)
    head = Head(s.d_model, "va", "frame_regression", 2, dim_names=["valence", "arousal"])
    return MultimodalModule(backbones, fusion, [head], token_stride=s.clip_len)


@contextlib.contextmanager
def _quiet_random_init():
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no pretrained weights given.*")
        yield


def raw_batch(s: Size, device: torch.device, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    t, b = _frames(s), s.batch
    inputs = {"visual": torch.rand(b, t, 3, s.face, s.face, generator=g),
              "audio": torch.randn(b, s.tokens * s.rows, 64, generator=g)}
    return _with_targets(inputs, s, g).to(device)


def cached_batch(s: Size, device: torch.device, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(s.batch, s.tokens, FEATURE_DIM, generator=g) for m in ("visual", "audio")}
    return _with_targets(inputs, s, g).to(device)


def _with_targets(inputs: dict, s: Size, g: torch.Generator) -> Batch:
    t = _frames(s)
    masks = {m: torch.ones(x.shape[:2], dtype=torch.bool) for m, x in inputs.items()}
    return Batch(inputs=inputs, masks=masks, targets={"va": torch.rand(s.batch, t, 2, generator=g) * 2 - 1},
                 target_masks={"va": torch.ones(s.batch, t, dtype=torch.bool)}, meta={"num_frames": t})


def loss_of(model, batch: Batch) -> torch.Tensor:
    out = model(batch)
    return sum(h.weight * h.task.loss(out[h.name], batch.targets[h.target], batch.target_masks[h.target])
               for h in model.heads)


def train_step(model, batch: Batch, device: torch.device, way: str, lr: float = 1e-4,
               compile_loss: bool = False) -> Callable[[], None]:
    """One optimizer step, the reference way or ours (SGD with momentum, as the JMT seed code). ``compile_loss``
    (ours): the whole forward and loss as one compiled graph (CUDA graphs on a GPU, inductor C++ on a CPU)."""
    params = [p for p in model.parameters() if p.requires_grad]
    gpu = device.type == "cuda"
    if way == "reference":
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, foreach=False)
        scaler = torch.amp.GradScaler("cuda") if gpu else None
        autocast = functools.partial(torch.autocast, "cuda", dtype=torch.float16) if gpu else contextlib.nullcontext

        def step() -> None:
            with autocast():
                loss = loss_of(model, batch)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            opt.zero_grad(set_to_none=True)
            loss.item()  # the running loss of the seed's training loop: a host sync every step
        return step
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, fused=True)
    autocast = functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16) if gpu else contextlib.nullcontext
    loss_fn = torch.compile(loss_of, mode="reduce-overhead" if gpu else "default") if compile_loss else loss_of

    def step() -> None:
        with autocast():
            loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


# ------------------------------------------------------------------------------------------------ workloads
def frozen_backbone(size: str, device: torch.device) -> dict:
    """1. Frozen-backbone JMT training: backbones recomputed every step (reference) vs the feature cache (ours)."""
    s = SIZES[size]
    torch.manual_seed(0)
    ref_model = jmt_model(s, cached=False).to(device)
    raw = raw_batch(s, device)
    ref_s = median_seconds(train_step(ref_model, raw, device, "reference"), device, s.warmup, s.steps)

    def extract() -> None:  # the one-off cost of ours: both frozen trunks once over a batch of windows
        with torch.no_grad(), (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                               else contextlib.nullcontext()):
            ref_model.backbones["visual"](raw.inputs["visual"], raw.masks["visual"])
            ref_model.backbones["audio"](raw.inputs["audio"], raw.masks["audio"])
    extract_s = median_seconds(extract, device, s.warmup, s.steps)
    ours_model = jmt_model(s, cached=True).to(device)
    ours_s = median_seconds(train_step(ours_model, cached_batch(s, device), device, "ours", compile_loss=True),
                            device, s.warmup + 3, s.steps * 4)
    ref_sps, ours_sps = s.batch / ref_s, s.batch / ours_s
    per_window = extract_s / s.batch
    ref_5, ours_5 = 5 * s.windows / ref_sps, s.windows * per_window + 5 * s.windows / ours_sps
    settings = _settings(s, device, "SGD momentum 0.9; backbones frozen (eval); reference recomputes them")
    emit("frozen_backbone_jmt", device, "samples/s (steady state)", ours_sps, ref_sps, settings,
         target=20.0 if device.type == "cuda" else None, extraction_s_per_window=round(per_window, 5),
         five_epochs_2000_windows_s={"ours_incl_extraction": round(ours_5, 1), "reference": round(ref_5, 1),
                                     "ratio": round(ref_5 / ours_5, 2), "target_ratio": 4.0,
                                     "how": "projected from the measured step and extraction rates"})
    return {"ours_sps": ours_sps}


def end_to_end(size: str, device: torch.device, force: bool = False) -> dict:
    """2. End-to-end fine-tuning (trainable backbones): fp16+scaler eager (reference) vs bf16, channels-last,
    compiled backbones, fused optimizer (ours); FLOPs per step and the fraction of the measured bf16 peak."""
    if device.type != "cuda" and not force:
        skipped("end_to_end_finetune", device, "needs a CUDA GPU (bf16 peak and compile targets are GPU figures)")
        return {}
    from torch.utils.flop_counter import FlopCounterMode

    s = SIZES[size]
    torch.manual_seed(0)
    raw = raw_batch(s, device)
    ref_model = jmt_model(s, cached=False, frozen=False).to(device)
    reset_peak(device)
    ref_s = median_seconds(train_step(ref_model, raw, device, "reference"), device, s.warmup, s.steps)
    ref_mem = peak_memory_mb(device)
    del ref_model
    ours_model = jmt_model(s, cached=False, frozen=False).to(device)
    if device.type == "cuda":
        ours_model.backbones["visual"].trunk.to(memory_format=torch.channels_last_3d)
        ours_model.backbones["audio"].trunk.to(memory_format=torch.channels_last)
        for m in ours_model.backbones.values():
            m.compile()
    step = train_step(ours_model, raw, device, "ours")
    reset_peak(device)
    ours_s = median_seconds(step, device, s.warmup + 3, s.steps)
    ours_mem = peak_memory_mb(device)
    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    achieved = flops / ours_s / 1e12
    extra = {"flops_per_step": flops, "achieved_tflops": round(achieved, 2),
             "peak_memory_mb": {"ours": ours_mem, "reference": ref_mem}}
    if device.type == "cuda":
        peak = bf16_peak_tflops(device)
        extra.update(bf16_peak_tflops=round(peak, 1), fraction_of_peak=round(achieved / peak, 3),
                     target_fraction=0.25)
    emit("end_to_end_finetune", device, "samples/s", s.batch / ours_s, s.batch / ref_s,
         _settings(s, device, "SGD momentum 0.9; backbones trainable"), target=2.0 if device.type == "cuda" else None,
         **extra)
    return {"ours_sps": s.batch / ours_s, "frames_per_sample": _frames(s)}


def fusion_step(size: str, device: torch.device) -> dict:
    """3. Fusion-only step on cached features (JMT fusion + head + CCC loss + optimizer step)."""
    s = SIZES[size]
    torch.manual_seed(0)
    batch = cached_batch(s, device)
    ref_model = jmt_model(s, cached=True).to(device)
    ours_model = jmt_model(s, cached=True).to(device)
    ours_model.load_state_dict(ref_model.state_dict())
    ref_s = median_seconds(train_step(ref_model, batch, device, "reference"), device, s.warmup + 3, s.steps * 8)
    ours_s = median_seconds(train_step(ours_model, batch, device, "ours", compile_loss=True), device,
                            s.warmup + 3, s.steps * 8)
    emit("fusion_only_step", device, "steps/s", 1 / ours_s, 1 / ref_s,
         _settings(s, device, "SGD momentum 0.9; cached 512-d tokens in"),
         target=5.0 if device.type == "cuda" else 2.0)
    return {}


def data_path(size: str, device: torch.device, workers: int = 2, feed: dict | None = None) -> dict:
    """4. Frames per second delivered as collated batches by the Aff-Wild2 data module: its uint8 cache (ours)
    vs decoding the ``cropped_aligned`` JPEGs of every window per item (reference), ``workers`` processes each."""
    import tempfile
    import time
    from pathlib import Path

    from torch.utils.data import DataLoader

    from benchmarks.jpeg_reference import JpegWindows
    from mmer.data_modules.affwild2 import AffWild2DataModule
    from mmer.data_modules.fixtures import make_affwild2_fixture

    face = {"tiny": 32, "small": 112, "full": 112}[size]
    window = {"tiny": 32, "small": 128, "full": 128}[size]
    with tempfile.TemporaryDirectory() as tmp:
        root = make_affwild2_fixture(Path(tmp) / "affwild2")
        dm = AffWild2DataModule(root=str(root), cache_dir=str(Path(tmp) / "cache"), face_size=face, window=window,
                                hop=window // 2, num_folds=3, batch_size=8, num_workers=workers)
        t0 = time.perf_counter()
        dm.prepare_data()
        dm.setup("fit")
        extraction_s = time.perf_counter() - t0
        ours_loader = dm.train_dataloader()
        ref_loader = DataLoader(JpegWindows(dm, ours_loader.dataset.items, face), batch_size=8, shuffle=True,
                                num_workers=workers, persistent_workers=workers > 0)

        def fps(loader) -> float:
            for _ in loader:  # one pass to start the workers and warm the page cache
                pass
            frames, t0 = 0, time.perf_counter()
            for _ in range(2):
                for batch in loader:
                    visual = batch.inputs["visual"] if hasattr(batch, "inputs") else batch
                    frames += visual.shape[0] * visual.shape[1]
            return frames / (time.perf_counter() - t0)
        ours, ref = fps(ours_loader), fps(ref_loader)
    extra = {"cache_build_s": round(extraction_s, 1)}
    if feed:
        needed = feed["ours_sps"] * feed["frames_per_sample"]
        extra.update(frames_per_s_needed_by_end_to_end=round(needed, 1), keeps_it_fed=ours >= needed)
    emit("data_path", device, "frames/s delivered", ours, ref,
         {"workers": workers, "batch": 8, "window": window, "face": face, "fixture": "mmer make-fixture affwild2",
          "ours": "uint8 cache (memmap) + full item (audio, targets)", "reference": "PIL JPEG decode per frame"},
         target=10.0, **extra)
    return {}


def per_frame_outputs(size: str, device: torch.device) -> dict:
    """5. Per-frame outputs of JMT's visual stream: the reference's stride-1 sub-clips (one clip through the video
    backbone per frame) vs ours (one clip per ``clip_len`` frames, token outputs interpolated to frames)."""
    from mmer.model.backbones.pretrained import VideoClipEncoder
    from mmer.model.heads import frames_from_tokens

    s = SIZES[size]
    with _quiet_random_init():
        trunk = VideoClipEncoder(3, "r2plus1d_18", clip_len=s.clip_len, frame_stride=1, freeze=True).trunk
    trunk = trunk.to(device).eval()
    frames = _frames(s)
    g = torch.Generator().manual_seed(0)
    per_frame = torch.rand(s.batch * frames, 3, s.clip_len, s.face, s.face, generator=g).to(device)
    per_token = per_frame[: s.batch * s.tokens]

    @torch.no_grad()
    def reference() -> None:
        trunk(per_frame)

    @torch.no_grad()
    def ours() -> None:
        tokens = trunk(per_token).reshape(s.batch, s.tokens, -1)[..., :2]
        frames_from_tokens(tokens, frames, "interpolate")

    ref_s = median_seconds(reference, device, 1, max(2, s.steps // 2))
    ours_s = median_seconds(ours, device, 1, max(2, s.steps // 2))
    emit("per_frame_outputs", device, "windows/s", s.batch / ours_s, s.batch / ref_s,
         {**dataclasses.asdict(s), "frames_per_window": frames, "note": "R(2+1)D-18 trunk, frozen, no grad",
          "reference_way": f"stride-1 sub-clips: {frames} clips per window",
          "ours": f"{s.tokens} clips per window, token outputs linearly interpolated to frames"})
    return {}


def _settings(s: Size, device: torch.device, note: str) -> dict:
    gpu = device.type == "cuda"
    return {**dataclasses.asdict(s), "frames_per_window": _frames(s), "note": note,
            "dtype": {"reference": "fp16 autocast + GradScaler" if gpu else "fp32",
                      "ours": "bf16 autocast" if gpu else "fp32"},
            "ours": "fused optimizer, no host sync, forward + loss compiled" + (" (CUDA graphs)" if gpu else ""),
            "reference_way": "eager, per-tensor optimizer loop, loss.item() every step"}


def ddp_scaling(size: str, device: torch.device) -> dict:
    """6. DDP: N processes against one, samples/s and scaling efficiency (:mod:`benchmarks.ddp`)."""
    from benchmarks.ddp import ddp_scaling as measure

    return measure(size, device)


def face_crops(size: str, device: torch.device, videos: str | None = None) -> dict:
    """7. Face crops from real video, ours beside the straightforward way (:mod:`benchmarks.faces`)."""
    from benchmarks.faces import face_crops as measure

    return measure(size, device, videos)


WORKLOADS = {"1": frozen_backbone, "2": end_to_end, "3": fusion_step, "4": data_path, "5": per_frame_outputs,
             "6": ddp_scaling, "7": face_crops}


def run(size: str, device: torch.device, only: list[str], force_gpu_workloads: bool = False,
        videos: str | None = None) -> None:
    feed: dict = {}
    for key in only:
        log(f"bench: workload {key} ({WORKLOADS[key].__name__}, {size}, {device})")
        if key == "2":
            feed = end_to_end(size, device, force=force_gpu_workloads)
        elif key == "4":
            data_path(size, device, feed=feed or None)
        elif key == "7":
            face_crops(size, device, videos)
        else:
            WORKLOADS[key](size, device)
