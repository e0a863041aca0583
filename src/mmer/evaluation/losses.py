"""Losses. Each takes predictions, targets and a validity mask; masked entries never contribute."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def ccc_loss(preds: Tensor, target: Tensor, mask: Tensor, eps: float = 1e-8, per: str = "batch") -> Tensor:
    """Sum over target dims of (1 - CCC).

    preds, target: (B, T, D) or (N, D); mask: (B, T) or (N,) True where labelled. ``per="batch"`` (mmer's
    default): one CCC over all valid frames of the batch. ``per="window"`` (the leader-follower reference,
    sucv/ABAW2 ``base/loss_function.py``): one CCC per window b over its own valid frames, averaged over the
    windows with at least 2 of them: sum_d mean_b (1 - CCC_bd). Population moments as in :func:`mmer.evaluation.metrics.ccc`
    (the reference divides its variances by T - 1: a factor 299/300 at 300-frame windows), plus ``eps`` in the
    denominator so constant predictions do not produce NaN.
    """
    if per == "window" and preds.dim() == 3:
        return _ccc_loss_per_window(preds, target, mask, eps)
    if per not in ("batch", "window"):
        raise ValueError(f"ccc_loss per={per!r}: choose 'batch' or 'window'")
    d = preds.shape[-1]
    m = mask.reshape(-1)
    x = preds.reshape(-1, d)[m].float()
    y = target.reshape(-1, d)[m].float()
    if x.shape[0] == 0:
        return preds.sum() * 0.0
    mx, my = x.mean(0), y.mean(0)
    vx, vy = x.var(0, unbiased=False), y.var(0, unbiased=False)
    cov = ((x - mx) * (y - my)).mean(0)
    ccc = 2 * cov / (vx + vy + (mx - my) ** 2 + eps)
    return (1.0 - ccc).sum()


def _ccc_loss_per_window(preds: Tensor, target: Tensor, mask: Tensor, eps: float) -> Tensor:
    """(B, T, D) windows -> sum_d mean over windows with >= 2 valid frames of (1 - CCC of that window)."""
    w = mask.unsqueeze(-1).to(torch.float32)  # (B, T, 1)
    n = w.sum(1)  # (B, 1)
    keep = n.squeeze(-1) >= 2
    if not keep.any():
        return preds.sum() * 0.0
    x, y = preds.float(), target.float()
    mx, my = (x * w).sum(1) / n.clamp_min(1), (y * w).sum(1) / n.clamp_min(1)  # (B, D)
    dx, dy = (x - mx.unsqueeze(1)) * w, (y - my.unsqueeze(1)) * w
    vx, vy = (dx ** 2).sum(1) / n.clamp_min(1), (dy ** 2).sum(1) / n.clamp_min(1)
    cov = (dx * dy).sum(1) / n.clamp_min(1)
    ccc = 2 * cov / (vx + vy + (mx - my) ** 2 + eps)  # (B, D)
    return (1.0 - ccc[keep]).mean(0).sum()


def masked_cross_entropy(logits: Tensor, target: Tensor, mask: Tensor, weight: Tensor | None = None,
                         label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy over valid samples/frames. logits (..., C), target (...) int, mask (...). ``label_smoothing``
    eps: the target is (1 - eps) one-hot + eps / C (a head's ``loss_options: {label_smoothing: 0.1}``)."""
    m = mask.reshape(-1)
    if not m.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1])[m], target.reshape(-1)[m].long(), weight=weight,
                           label_smoothing=label_smoothing)


def masked_bce(logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Binary cross-entropy with logits for multi-label targets (B, K); mask (B,)."""
    if not mask.any():
        return logits.sum() * 0.0
    return F.binary_cross_entropy_with_logits(logits[mask], target[mask].float())


def masked_smooth_l1(preds: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """SmoothL1 for per-sample regression. preds, target (B, D); mask (B,)."""
    if not mask.any():
        return preds.sum() * 0.0
    return F.smooth_l1_loss(preds[mask], target[mask].to(preds.dtype))



def adaptive_margin_triplet(emb: Tensor, labels: Tensor, base_margin: float = 0.2, scale: float = 0.3,
                            temperature: float = 0.1) -> Tensor:
    """Adaptive-margin triplet loss, batch-hard (**our variant**: M2FNet's exact margin formula is not in our sources).

    emb (N, D) L2-normalised embeddings, labels (N,). Distances are cosine, d = 1 - cos. For every anchor a that has
    a positive (same label) and a negative in the batch, take its hardest positive p and hardest negative n:

        h = sigmoid((d_ap - d_an) / temperature)          hardness in (0, 1), no gradient (0.5 when d_ap = d_an)
        m = base_margin + scale * h                       the margin grows with how hard the triplet is
        loss = mean_a max(0, d_ap - d_an + m)

    Returns 0 (with a gradient path) when no anchor has both a positive and a negative.
    """
    dist = 1.0 - emb @ emb.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos, neg = same & ~eye, ~same
    valid = pos.any(1) & neg.any(1)
    if not valid.any():
        return emb.sum() * 0.0
    d_ap = dist.masked_fill(~pos, float("-inf")).amax(1)[valid]
    d_an = dist.masked_fill(~neg, float("inf")).amin(1)[valid]
    margin = base_margin + scale * torch.sigmoid((d_ap - d_an).detach() / temperature)
    return F.relu(d_ap - d_an + margin).mean()
