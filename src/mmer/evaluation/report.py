"""Human-facing outputs of a CV job: the printed score table and the prediction plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmer.core.io import atomic_write
from mmer.evaluation.metrics import confusion_matrix


def show(table: Any) -> None:
    """Print a rich table whole: on a terminal at the terminal's width; into a file or a pipe (a job's log) as wide
    as the table needs, where rich would otherwise cut its columns' names to 80 characters."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        wide = console.options.update(max_width=100_000)
        console = Console(width=max(console.width, console.measure(table, options=wide).maximum))
    console.print(table)


def print_table(title: str, rows: list[tuple[str, list[float]]], columns: Sequence[str]) -> str:
    """Print with rich and return the plain-text version (also saved beside the run)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("predictions")
    for c in columns:
        table.add_column(c, justify="right")
    for label, values in rows:
        table.add_row(label, *[f"{v:.4f}" for v in values])
    show(table)
    width = max(len(r[0]) for r in rows)
    header = f"{'predictions':<{width}}  " + "  ".join(f"{c:>12}" for c in columns)
    lines = [title, header] + [f"{label:<{width}}  " + "  ".join(f"{v:>12.4f}" for v in values)
                               for label, values in rows]
    return "\n".join(lines) + "\n"


def save_figure(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    out = atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=90))
    plt.close(fig)
    return out


def plot_confusion(path: str | Path, pred: Sequence[int], true: Sequence[int], class_names: Sequence[str],
                   title: str) -> Path:
    """PNG of the confusion matrix (rows = true class, normalised per row, with counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = confusion_matrix(np.asarray(pred), np.asarray(true), len(class_names))
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


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
    return save_figure(fig, path)


def plot_trace(path: str | Path, values: np.ndarray, dims: Sequence[str], title: str, fps: float | None = None,
               face_found: np.ndarray | None = None) -> Path:
    """PNG of one recording's predicted values over time (seconds when ``fps`` is known), one panel per dimension;
    frames without a face found are shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(values)) / fps if fps else np.arange(len(values))
    fig, axes = plt.subplots(len(dims), 1, figsize=(9, 1.8 * len(dims) + 0.6), squeeze=False, sharex=True)
    for c, dim in enumerate(dims):
        ax = axes[c][0]
        ax.plot(t, values[:, c], color="tab:red", lw=1.2)
        if face_found is not None and (~face_found).any():
            ax.fill_between(t, -1.05, 1.05, where=~face_found, color="grey", alpha=0.15, lw=0,
                            label="no face found" if c == 0 else None)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(dim)
    axes[-1][0].set_xlabel("time (s)" if fps else "frame")
    axes[0][0].set_title(title, fontsize=10)
    if face_found is not None and (~face_found).any():
        axes[0][0].legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_values(path: str | Path, pred: np.ndarray, true: np.ndarray, columns: Sequence[str], title: str) -> Path:
    """Predicted against true value per dimension (one panel each), with the identity line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(columns), figsize=(3.6 * len(columns), 3.4), squeeze=False)
    for i, (ax, c) in enumerate(zip(axes[0], columns)):
        ax.scatter(true[:, i], pred[:, i], s=10, alpha=0.7)
        lo, hi = float(min(true[:, i].min(), pred[:, i].min())), float(max(true[:, i].max(), pred[:, i].max()))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_xlabel(f"true {c}")
        ax.set_ylabel(f"predicted {c}")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_explanations(path: str | Path, video: str, records: Sequence[dict], columns: Sequence[str],
                      classes: bool) -> Path:
    """One video's explanations: the predictions over time (classes: each prediction's probabilities as stacked
    bars; values: each dimension) above each prediction's modality attribution shares (stacked bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = sorted(records, key=lambda r: (str(r.get("agent", "")), first_step(r)))
    x = np.arange(len(records))
    ticks = [(r["utterance"] if r.get("utterance") is not None else
              (f"{r['agent']} " if r.get("agent") is not None else "") + f"{r['start_frame']}-{r['end_frame']}")
             + (f" ({r['target']})" if isinstance(r.get("target"), str) else "") for r in records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(records) + 2), 5.5), sharex=True)
    if classes:
        base = np.zeros(len(records))
        for c in columns:
            p = np.array([r["prediction"]["probabilities"][c] for r in records])
            top.bar(x, p, bottom=base, label=c)
            base += p
        top.set_ylabel("predicted probability")
    else:
        for c in columns:
            top.plot(x, [r["prediction"]["values"][c] for r in records], marker="o", label=c)
        top.axhline(0, color="grey", lw=0.5)
        top.set_ylabel("predicted value")
    top.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(columns), frameon=False)
    top.set_title(f"{video}: predictions and what each modality contributed", pad=22)
    modalities = sorted({m for r in records for m in r["attribution"]})
    base = np.zeros(len(records))
    palette = plt.get_cmap("Set2")  # not the class colours above
    for j, m in enumerate(modalities):
        share = np.array([r["attribution"].get(m, {}).get("share", 0.0) for r in records])
        bottom.bar(x, share, bottom=base, label=m, color=palette(j % 8))
        base += share
    bottom.set_ylabel("attribution share")
    bottom.set_ylim(0, 1.05)
    bottom.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(modalities), frameon=False)
    bottom.set_xticks(x, ticks, rotation=60, fontsize=7, ha="right")
    fig.tight_layout()
    return save_figure(fig, path)


def first_step(r: dict) -> int:
    """The record's first step: a frame of its video, or its utterance's position in the dialogue."""
    return int(r["position"] if "position" in r else r["start_frame"])


def plot_differences(path: str | Path, labels: Sequence[str], diffs: Sequence[float],
                     intervals: Sequence[tuple[float, float]], p_values: Sequence[float], title: str) -> Path:
    """One row per score: the difference B - A as a dot with its 95 % interval as a bar, the line at zero, and the
    p-value at the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    lo = [d - i[0] for d, i in zip(diffs, intervals)]
    hi = [i[1] - d for d, i in zip(diffs, intervals)]
    ax.errorbar(diffs, y, xerr=[lo, hi], fmt="o", color="tab:blue", capsize=3)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(y, labels)
    for yy, p in zip(y, p_values):
        ax.annotate(f"p={p:.3g}", (1.01, yy), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.set_xlabel("B - A (95 % paired bootstrap interval)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_robustness(path: str | Path, clean: dict[str, float], conditions: Sequence[dict], keys: Sequence[str]) -> Path:
    """A grid of panels, one column per modality (and one for noise in the recording, which reaches every acoustic
    input at once) and one row per kind of perturbation (noise, on the inputs or in the recording: the SNR falling
    from clean to 0 dB; frames / words: the share dropped rising from 0): each score in ``keys`` against the level,
    and the modality removed as a dotted line per score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def column(c: dict) -> str:
        return "recording" if c["kind"] == "acoustic" else c["modality"]

    def row_of(c: dict) -> str:  # noise in the recording shares the row of noise on the inputs
        return "noise" if c["kind"] == "acoustic" else c["kind"]

    columns = list(dict.fromkeys(map(column, conditions)))
    kinds = list(dict.fromkeys(row_of(c) for c in conditions if c["kind"] != "drop"))
    fig, axes = plt.subplots(max(len(kinds), 1), len(columns), figsize=(3.6 * len(columns), 3.0 * len(kinds)),
                             squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    removed_scores = {c["modality"]: c["scores"] for c in conditions if c["kind"] == "drop"}
    for col, m in enumerate(columns):
        for row, kind in enumerate(kinds):
            ax = axes[row][col]
            points = [c for c in conditions if column(c) == m and row_of(c) == kind]
            if not points:
                ax.axis("off")
                continue
            noise = kind == "noise"
            labels = ["clean" if noise else "0"] + [f"{c['level']:g} dB" if noise else f"{c['level']:.0%}"
                                                    for c in points]
            removed = removed_scores.get(m)
            for i, key in enumerate(keys):
                colour = colours[i % len(colours)]
                ax.plot(range(len(labels)), [clean[key]] + [c["scores"][key] for c in points], "-o", ms=3,
                        color=colour, label=key)
                if removed is not None:
                    ax.axhline(removed[key], color=colour, ls=":", lw=1)
            ax.set_xticks(range(len(labels)), labels, fontsize=8)
            what = {"noise": "noise (SNR)", "acoustic": "noise before its inputs are computed (SNR)"}.get(
                points[0]["kind"], kind + " dropped")
            ax.set_title(f"{m}: {what}" + (f"; dotted: {m} removed" if removed else ""), fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)
