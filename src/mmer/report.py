"""Human-facing outputs of a CV job: the printed score table and the prediction plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmer.provenance import atomic_write


def score_rows(summary: dict[str, float], folds: Sequence[int], dims: Sequence[str]) -> list[tuple[str, list[float]]]:
    """Rows (label, [ccc per dim..., mean]) of the CV table from a flat summary of ``fold{k}/...`` / ``cv/...`` keys."""
    cols = [f"ccc_{d}" for d in dims] + ["ccc_mean"]
    rows = []
    for k in folds:
        rows.append((f"fold {k}: own validation (OOF)", [summary[f"fold{k}/val/{c}"] for c in cols]))
    for k in folds:
        rows.append((f"fold {k}: held-out", [summary[f"fold{k}/test/{c}"] for c in cols]))
    rows.append(("mean of single folds: held-out", [summary[f"cv/fold_mean_{c}"] for c in cols]))
    rows.append(("CCC-centering merge: held-out", [summary[f"cv/{c}"] for c in cols]))
    rows.append(("pooled out-of-fold", [summary[f"cv/oof_{c}"] for c in cols]))
    return rows


def print_table(title: str, rows: list[tuple[str, list[float]]], dims: Sequence[str]) -> str:
    """Print with rich and return the plain-text version (also saved beside the run)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("predictions")
    for d in list(dims) + ["mean"]:
        table.add_column(f"CCC {d}", justify="right")
    for label, values in rows:
        table.add_row(label, *[f"{v:.4f}" for v in values])
    Console().print(table)
    width = max(len(r[0]) for r in rows)
    header = f"{'predictions':<{width}}  " + "  ".join(f"{'CCC ' + d:>12}" for d in list(dims) + ["mean"])
    lines = [title, header] + [f"{label:<{width}}  " + "  ".join(f"{v:>12.4f}" for v in values)
                               for label, values in rows]
    return "\n".join(lines) + "\n"


def plot_predictions(path: str | Path, videos: Sequence[str], merged: dict[str, np.ndarray],
                     targets: dict[str, np.ndarray], masks: dict[str, np.ndarray],
                     fold_tables: Sequence[dict[str, np.ndarray]], dims: Sequence[str]) -> Path:
    """PNG grid: one row per video, one column per dimension; target (unlabelled frames blank), each fold's
    prediction (thin) and the merged prediction (thick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(videos), len(dims), figsize=(5 * len(dims), 2.2 * len(videos)), squeeze=False,
                             sharey=True)
    for r, video in enumerate(videos):
        for c, dim in enumerate(dims):
            ax = axes[r][c]
            target = np.where(masks[video], targets[video][:, c], np.nan)
            ax.plot(target, color="black", lw=1.5, label="target")
            for k, table in enumerate(fold_tables):
                ax.plot(table[video][:, c], lw=0.6, alpha=0.5, label=f"fold {k}" if r == c == 0 else None)
            ax.plot(merged[video][:, c], color="tab:red", lw=1.5, label="merged")
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"{video}: {dim}", fontsize=9)
            if r == len(videos) - 1:
                ax.set_xlabel("frame")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))

    def save(p: Path) -> None:
        fig.savefig(p, format="png", dpi=90)

    out = atomic_write(path, save)
    plt.close(fig)
    return out
