"""Pictures of anomaly scores: score curves, ROC curves, heat-map overlays, event grids.

Figures are drawn with matplotlib (the ``Agg`` back end: no display needed) and written
to a file; per-frame overlays for videos are drawn with OpenCV on RGB ``uint8`` frames,
fast enough to annotate every frame of a stream:

- :func:`plot_score_curves`: one curve per video, ground-truth intervals shaded, threshold;
- :func:`plot_roc_curves`: frame-level ROC curves (micro: all frames concatenated) of
  one or more detectors, AUC in the legend;
- :func:`plot_top_events`: a grid of the highest-scoring events of an
  :class:`~pyvad.events.EventSet`;
- :func:`overlay_heatmap`, :func:`draw_score_panel` and :func:`annotate_frame`: a pixel
  anomaly map blended over a frame and a live score curve below it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pyvad.streaming import abnormal_intervals

__all__ = [
    "annotate_frame",
    "draw_score_panel",
    "overlay_heatmap",
    "plot_roc_curves",
    "plot_score_curves",
    "plot_top_events",
]

_ABNORMAL_RGB = (220, 40, 40)
_CURVE_RGB = (60, 140, 230)


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg back end (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` (creating its folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def _unit_range(curve: np.ndarray) -> np.ndarray:
    """``curve`` rescaled to [0, 1] (constant curves become 0)."""
    span = curve.max() - curve.min() if curve.size else 0.0
    return (curve - curve.min()) / span if span > 0 else np.zeros_like(curve)


def plot_score_curves(
    scores: Sequence[np.ndarray] | Mapping[str, Sequence[np.ndarray]],
    path: str | os.PathLike,
    *,
    labels: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """Draw the score curve(s) of every video, ground-truth abnormal frames shaded.

    Parameters
    ----------
    scores : sequence of ndarray, or mapping of str to sequence of ndarray
        Per-frame scores per video, higher = more abnormal; or several detectors' scores
        by name, drawn as one line each. Detectors' scores live on different scales, so
        with a mapping every curve is rescaled to [0, 1] within its video (display only).
    path : str or path-like
        Output image (``.png``, ``.pdf``, ``.svg``).
    labels : sequence of ndarray, optional
        0/1 frame labels per video; abnormal intervals are shaded red.
    names : sequence of str, optional
        Subplot titles.
    threshold : float, optional
        Score threshold drawn as a dashed line (single detector only).
    title : str, optional
        Figure title.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "curves.png"
    >>> curves = {"a": [np.array([0.1, 0.9, 0.2])], "b": [np.array([3.0, 5.0, 4.0])]}
    >>> plot_score_curves(curves, out, labels=[np.array([0, 1, 0])]).exists()
    True
    """
    several = isinstance(scores, Mapping)
    curves = {name: list(per_video) for name, per_video in scores.items()} if several else {"score": list(scores)}
    n = len(next(iter(curves.values()), []))
    if n == 0:
        raise ValueError("plot_score_curves needs at least one video's scores")
    if any(len(per_video) != n for per_video in curves.values()):
        raise ValueError(f"plot_score_curves: every detector needs scores for the same {n} videos, "
                         f"got {[len(v) for v in curves.values()]}")
    if several and threshold is not None:
        raise ValueError("plot_score_curves: a threshold applies to a single detector's scores, not to a mapping")
    plt = _pyplot()
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.6), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        for name, per_video in curves.items():
            curve = np.asarray(per_video[i], dtype=float)
            ax.plot(np.arange(len(curve)), _unit_range(curve) if several else curve, lw=1.2, label=name)
        if labels is not None:
            for k, (start, end) in enumerate(abnormal_intervals(labels[i])):
                ax.axvspan(start - 0.5, end + 0.5, color="tab:red", alpha=0.2, lw=0,
                           label="abnormal (ground truth)" if k == 0 else None)
        if threshold is not None:
            ax.axhline(threshold, color="k", ls="--", lw=0.8, label="threshold")
        ax.set_title(names[i] if names is not None else f"video {i}", fontsize=9, loc="left")
        ax.set_xlim(0, max(len(curve) - 1, 1))
    axes[-1, 0].set_xlabel("frame" if not several else "frame (each curve rescaled to [0, 1] per video)")
    axes[0, 0].legend(loc="upper right", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_roc_curves(
    labels: Sequence[np.ndarray],
    scores: Mapping[str, Sequence[np.ndarray]] | Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """Draw frame-level ROC curves (all frames of all videos concatenated).

    Parameters
    ----------
    labels : sequence of ndarray
        0/1 frame labels per video.
    scores : mapping of str to sequence of ndarray, or sequence of ndarray
        Per-video frame scores (higher = more abnormal) of one detector, or of several
        detectors by name, each drawn as one curve with its micro AUC in the legend.
    path : str or path-like
        Output image.
    title : str, optional
        Figure title.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "roc.png"
    >>> plot_roc_curves([np.array([0, 0, 1, 1])], {"demo": [np.array([0.1, 0.4, 0.35, 0.8])]}, out).exists()
    True
    """
    from sklearn.metrics import roc_curve

    from pyvad.metrics import micro_auc

    curves = dict(scores) if isinstance(scores, Mapping) else {"detector": scores}
    if not curves:
        raise ValueError("plot_roc_curves needs the scores of at least one detector")
    truth = np.concatenate([np.asarray(y) for y in labels])
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for name, per_video in curves.items():
        auc = micro_auc(labels, per_video)
        fpr, tpr, _ = roc_curve(truth, np.concatenate([np.asarray(s, dtype=float) for s in per_video]))
        ax.plot(fpr, tpr, lw=1.4, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8)
    ax.set(xlabel="false positive rate (frames)", ylabel="true positive rate (frames)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "frame-level ROC (micro)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_top_events(
    events: Any,
    scores: np.ndarray,
    path: str | os.PathLike,
    *,
    n: int = 16,
    columns: int = 8,
    title: str | None = None,
) -> Path:
    """Draw the ``n`` highest-scoring events of an EventSet as a grid of patches.

    Parameters
    ----------
    events : pyvad.events.EventSet
        Events with their patch cubes; the patch at temporal offset 0 is shown (the
        middle of the cube when 0 is not among the offsets).
    scores : ndarray of shape (n_events,)
        One score per event, higher = more abnormal (e.g. fused event scores).
    path : str or path-like
        Output image.
    n : int, default=16
        Number of events shown (fewer when the set is smaller).
    columns : int, default=8
        Patches per row.
    title : str, optional
        Figure title.

    Returns
    -------
    path : pathlib.Path
    """
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(scores) != len(events):
        raise ValueError(f"plot_top_events: got {len(scores)} scores for {len(events)} events")
    if len(events) == 0:
        raise ValueError("plot_top_events: the EventSet holds no event")
    top = np.argsort(-scores, kind="stable")[:n]
    offset = events.offsets.index(0) if 0 in events.offsets else len(events.offsets) // 2
    rows = -(-len(top) // columns)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.55 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, event in zip(axes.ravel(), top):
        patch = np.asarray(events.patches[event, offset])
        ax.imshow(patch[..., 0] if patch.shape[-1] == 1 else patch, cmap="gray" if patch.shape[-1] == 1 else None)
        name = events.video_names[events.video_ids[event]]
        ax.set_title(f"{name} f{events.frame_indices[event]}\n{scores[event]:.2f}", fontsize=7)
    fig.suptitle(title or f"{len(top)} most abnormal events", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    """A (H, W), (H, W, 1) or (H, W, 3) uint8 frame as (H, W, 3)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 frame of shape (H, W[, C]), got {frame.dtype} {frame.shape}")
    if frame.ndim == 2:
        frame = frame[..., None]
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame


def overlay_heatmap(
    frame: np.ndarray, heatmap: np.ndarray, *, vmin: float, vmax: float, alpha: float = 0.6
) -> np.ndarray:
    """Blend a pixel anomaly map over a frame (jet colours; normal pixels stay clear).

    Parameters
    ----------
    frame : ndarray of shape (H, W[, C]), uint8
        RGB or grey frame.
    heatmap : ndarray of shape (h, w)
        Anomaly map (higher = more abnormal); resized to the frame when its size differs.
    vmin, vmax : float
        Map values shown as fully transparent and as fully opaque red. Use fixed values
        for a whole video (e.g. from training scores) so colours mean the same throughout.
    alpha : float, default=0.6
        Opacity at ``vmax``.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
        The RGB overlay; the input is not modified.

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.zeros((4, 4, 3), np.uint8)
    >>> heat = np.zeros((4, 4)); heat[0, 0] = 1.0
    >>> out = overlay_heatmap(frame, heat, vmin=0.0, vmax=1.0)
    >>> out[0, 0].tolist() != [0, 0, 0], out[3, 3].tolist()
    (True, [0, 0, 0])
    """
    rgb = _as_rgb(frame)
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmax > vmin):
        raise ValueError(f"overlay_heatmap needs finite vmin < vmax, got vmin={vmin!r}, vmax={vmax!r}")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"overlay_heatmap: the map must have shape (H, W), got {heat.shape}")
    if heat.shape != rgb.shape[:2]:
        heat = cv2.resize(heat, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    level = np.clip((np.nan_to_num(heat, nan=vmin) - vmin) / (vmax - vmin), 0.0, 1.0)
    colours = cv2.cvtColor(cv2.applyColorMap((level * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (alpha * level)[..., None]
    return (rgb * (1.0 - weight) + colours * weight).round().astype(np.uint8)


def _value_range(values: np.ndarray, threshold: float | None) -> tuple[float, float]:
    """A y-range holding the values and the threshold, with a margin."""
    points = np.concatenate([values, [threshold]]) if threshold is not None else values
    low, high = (float(points.min()), float(points.max())) if points.size else (0.0, 1.0)
    margin = max(high - low, 1e-6) * 0.1
    return low - margin, high + margin


def draw_score_panel(
    scores: Sequence[float],
    *,
    width: int,
    height: int = 80,
    threshold: float | None = None,
    score_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """Draw a live score curve (most recent score at the right) as an RGB image.

    Parameters
    ----------
    scores : sequence of float
        Recent frame scores, oldest first; all of them are spread over ``width``.
    width, height : int
        Size of the panel in pixels.
    threshold : float, optional
        Drawn as a grey line; the current score and an ``ABNORMAL`` mark are written
        in red when the last score exceeds it.
    score_range : (float, float), optional
        Fixed y-range; default the range of ``scores`` and ``threshold``.

    Returns
    -------
    ndarray of shape (height, width, 3), uint8
    """
    panel = np.full((height, width, 3), 24, np.uint8)
    values = np.asarray(scores, dtype=np.float64)
    low, high = score_range if score_range is not None else _value_range(values, threshold)

    def y_of(value: float) -> int:
        return int(round((height - 1) * (1.0 - np.clip((value - low) / (high - low), 0.0, 1.0))))

    if threshold is not None:
        cv2.line(panel, (0, y_of(threshold)), (width - 1, y_of(threshold)), (150, 150, 150), 1)
    if values.size:
        xs = np.linspace(0, width - 1, values.size) if values.size > 1 else np.array([width - 1.0])
        points = np.stack([xs, [y_of(v) for v in values]], axis=1).round().astype(np.int32)
        cv2.polylines(panel, [points.reshape(-1, 1, 2)], False, _CURVE_RGB, 1, cv2.LINE_AA)
        abnormal = threshold is not None and values[-1] > threshold
        label = f"score {values[-1]:.2f}" + ("  ABNORMAL" if abnormal else "")
        cv2.putText(panel, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    _ABNORMAL_RGB if abnormal else (230, 230, 230), 1, cv2.LINE_AA)
    return panel


def annotate_frame(
    frame: np.ndarray,
    recent_scores: Sequence[float],
    *,
    threshold: float | None = None,
    heatmap: np.ndarray | None = None,
    map_range: tuple[float, float] | None = None,
    score_range: tuple[float, float] | None = None,
    panel_height: int | None = None,
) -> np.ndarray:
    """A frame with its anomaly heat map, a red border when abnormal, and a live score curve.

    Parameters
    ----------
    frame : ndarray of shape (H, W[, C]), uint8
        The RGB (or grey) frame.
    recent_scores : sequence of float
        Scores of the last frames, oldest first, ending with this frame's score.
    threshold : float, optional
        Score threshold; frames above it get a red border.
    heatmap : ndarray of shape (h, w), optional
        Pixel anomaly map of the frame; needs ``map_range``.
    map_range : (float, float), optional
        ``(vmin, vmax)`` of :func:`overlay_heatmap`.
    score_range : (float, float), optional
        Fixed y-range of the curve (see :func:`draw_score_panel`).
    panel_height : int, optional
        Height of the curve panel; default a quarter of the frame height (at least 60).

    Returns
    -------
    ndarray of shape (H + panel_height, W, 3), uint8
    """
    if heatmap is not None:
        if map_range is None:
            raise ValueError("annotate_frame: a heatmap needs map_range=(vmin, vmax)")
        image = overlay_heatmap(frame, heatmap, vmin=map_range[0], vmax=map_range[1])
    else:
        image = _as_rgb(frame).copy()
    height, width = image.shape[:2]
    if threshold is not None and len(recent_scores) and recent_scores[-1] > threshold:
        cv2.rectangle(image, (0, 0), (width - 1, height - 1), _ABNORMAL_RGB, max(2, height // 120))
    panel = draw_score_panel(recent_scores, width=width, height=panel_height or max(60, height // 4),
                             threshold=threshold, score_range=score_range)
    return np.concatenate([image, panel], axis=0)
