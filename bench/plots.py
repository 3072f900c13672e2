"""PNG plots for benchmark reports (matplotlib, Agg backend: no screen needed)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def recall_qps_plot(curves: dict[str, list[tuple[float, float, int]]], provenance: dict[str, str], path,
                    title: str, k: int) -> Path:
    """One curve per engine: recall@k (x) vs QPS (y, log); measured solid, modeled dashed."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, pts in curves.items():
        pts = sorted(pts, key=lambda p: p[2])  # in nprobe order
        style = "-" if provenance[name] == "measured" else "--"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o", label=f"{name} ({provenance[name]})")
        for r, q, nprobe in pts:
            ax.annotate(str(nprobe), (r, q), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{k} (tie-tolerant, recomputed by the harness)")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, path, "labels: nprobe. solid = measured wall clock here; dashed = modeled by hwsim")
    return Path(path)


def bar_plot(labels: list[str], series: dict[str, list[float]], path, title: str, ylabel: str,
             log: bool = False, note: str = "") -> Path:
    """Grouped bars: one group per label, one bar per series."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(labels) + 3), 4.8))
    x = np.arange(len(labels))
    w = 0.8 / max(1, len(series))
    for j, (name, vals) in enumerate(series.items()):
        ax.bar(x + (j - (len(series) - 1) / 2) * w, vals, w, label=name)
    ax.set_xticks(x, labels, rotation=15, ha="right", fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    _finish(fig, path, note)
    return Path(path)


def _finish(fig, path, note: str) -> None:
    """Footnote wrapped to the figure's width, layout, PNG."""
    lines = textwrap.wrap(note, width=int(fig.get_figwidth() * 17)) if note else []
    for i, line in enumerate(lines):
        fig.text(0.01, 0.01 + 0.03 * (len(lines) - 1 - i), line, fontsize=7)
    fig.tight_layout(rect=(0, 0.01 + 0.03 * len(lines), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def line_plot(series: dict[str, tuple[list[float], list[float]]], path, title: str, xlabel: str, ylabel: str,
              logy: bool = False, note: str = "") -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, path, note)
    return Path(path)
