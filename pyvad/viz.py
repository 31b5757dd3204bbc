"""Plots of anomaly scores (matplotlib, no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_score_curves"]


def _abnormal_intervals(labels: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` frame intervals where ``labels == 1``."""
    padded = np.concatenate([[0], np.asarray(labels, dtype=np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return [(int(s), int(e) - 1) for s, e in zip(edges[::2], edges[1::2])]


def plot_score_curves(
    scores: Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    labels: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """Draw one score curve per video, ground-truth abnormal frames shaded.

    Parameters
    ----------
    scores : sequence of ndarray
        Per-frame scores per video, higher = more abnormal.
    path : str or path-like
        Output image (``.png``, ``.pdf``, ``.svg``).
    labels : sequence of ndarray, optional
        0/1 frame labels per video; abnormal intervals are shaded red.
    names : sequence of str, optional
        Subplot titles.
    threshold : float, optional
        Score threshold drawn as a dashed line.
    title : str, optional
        Figure title.

    Returns
    -------
    path : pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(scores)
    if n == 0:
        raise ValueError("plot_score_curves needs at least one video's scores")
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.6), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        curve = np.asarray(scores[i], dtype=float)
        ax.plot(np.arange(len(curve)), curve, color="tab:blue", lw=1.2, label="score")
        if labels is not None:
            for k, (start, end) in enumerate(_abnormal_intervals(labels[i])):
                ax.axvspan(start - 0.5, end + 0.5, color="tab:red", alpha=0.2, lw=0,
                           label="abnormal (ground truth)" if k == 0 else None)
        if threshold is not None:
            ax.axhline(threshold, color="k", ls="--", lw=0.8, label="threshold")
        ax.set_title(names[i] if names is not None else f"video {i}", fontsize=9, loc="left")
        ax.set_xlim(0, max(len(curve) - 1, 1))
    axes[-1, 0].set_xlabel("frame")
    axes[0, 0].legend(loc="upper right", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
