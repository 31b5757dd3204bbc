"""A weight-free motion/appearance baseline that exercises the whole contract.

Each frame is cut into a grid of cells. Per cell, two statistics are measured:

- **motion**: mean absolute grey-level difference to the previous frame;
- **appearance**: mean absolute difference to a background image (the per-pixel
  median of a sample of training frames).

Training learns, per cell, the mean and standard deviation of each statistic
over the normal training frames. A frame's raw component score is the largest
per-cell z-score, so one fast or unusual object anywhere in the frame raises it.
The two components go through :class:`~pyvad.fusion.ScoreFusion` (z-scored with
training statistics, summed, temporally smoothed), exactly as the deep methods'
components do.

It needs no weights and fits in seconds; it is the floor every learned method
must beat, not a competitive detector.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods, Interval

from pyvad.base import BaseDetector, check_same_frame_size
from pyvad.fusion import ScoreFusion, ScoreTable
from pyvad.video import Video, as_videos

__all__ = ["MotionBaselineDetector"]

_EPS = 1e-6
_COMPONENTS = ("motion", "appearance")


def _grey(frames: np.ndarray) -> np.ndarray:
    """(n, H, W, C) uint8 → (n, H, W) float32 grey levels."""
    return frames.astype(np.float32).mean(axis=3)


def _cell_means(images: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Mean of each grid cell: (n, H, W) → (n, rows * cols)."""
    n, height, width = images.shape
    rows, cols = grid
    row_edges = np.linspace(0, height, rows + 1).astype(int)
    col_edges = np.linspace(0, width, cols + 1).astype(int)
    # Sum over row bands, then column bands (cells may differ in size by a pixel).
    row_sums = np.add.reduceat(images, row_edges[:-1], axis=1)
    cell_sums = np.add.reduceat(row_sums, col_edges[:-1], axis=2)
    areas = np.outer(np.diff(row_edges), np.diff(col_edges))
    return (cell_sums / areas).reshape(n, rows * cols)


def _frame_chunks(video: Video, chunk_size: int = 64) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (grey frames, grey previous frames) per chunk; frame 0's predecessor is frame 1."""
    previous: np.ndarray | None = None
    for chunk in video.iter_chunks(chunk_size):
        grey = _grey(chunk)
        if previous is None:
            first_prev = grey[1:2] if len(grey) > 1 else grey[:1]
            prev = np.concatenate([first_prev, grey[:-1]])
        else:
            prev = np.concatenate([previous, grey[:-1]])
        previous = grey[-1:]
        yield grey, prev


class MotionBaselineDetector(BaseDetector):
    """Grid motion-energy and background-difference baseline.

    Parameters
    ----------
    grid : tuple of int, default=(6, 8)
        Number of cell rows and columns.
    n_background_frames : int, default=200
        Training frames sampled (evenly over all training videos) for the
        median background image.
    fusion : ScoreFusion, optional
        How the ``motion`` and ``appearance`` components become one frame
        score. Default: equal weights, z-scored with training statistics,
        moving average over 9 frames.
    contamination : "auto" or float, default="auto"
        Expected fraction of abnormal frames, used to set ``offset_`` from the
        training-frame scores ("auto" = 0.01).

    Attributes
    ----------
    frame_size_ : tuple of int
        ``(H, W)`` of the training frames; scored videos must match.
    background_ : ndarray of shape (H, W)
        Median grey-level background.
    cell_mean_, cell_std_ : dict of str to ndarray of shape (n_cells,)
        Per-cell statistics of each component on the training frames.
    fusion_ : ScoreFusion
        The fitted fusion step.
    offset_ : float
        Threshold on :meth:`score_samples` (see ``contamination``).

    Examples
    --------
    >>> from pyvad.synthetic import make_train_test
    >>> from pyvad.metrics import micro_auc
    >>> train, test = make_train_test(random_state=0)
    >>> det = MotionBaselineDetector().fit(train.videos)
    >>> round(micro_auc(test.frame_labels, det.score_frames(test.videos)), 2) > 0.5
    True
    """

    #: Frames before/after t read to score t (frame differences), for streaming.
    temporal_context = (1, 1)

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "grid": [tuple, list],
        "n_background_frames": [Interval(Integral, 1, None, closed="left")],
        "fusion": [HasMethods(["fit", "score_frames"]), None],
    }

    def __init__(
        self,
        grid: tuple[int, int] = (6, 8),
        *,
        n_background_frames: int = 200,
        fusion: ScoreFusion | None = None,
        contamination: str | float = "auto",
    ) -> None:
        self.grid = grid
        self.n_background_frames = n_background_frames
        self.fusion = fusion
        self.contamination = contamination

    def _check_grid(self) -> tuple[int, int]:
        grid = tuple(self.grid)
        if len(grid) != 2 or not all(isinstance(g, Integral) and g >= 1 for g in grid):
            raise ValueError(f"grid must be two positive integers (rows, cols), got {self.grid!r}")
        if grid[0] > self.frame_size_[0] or grid[1] > self.frame_size_[1]:
            raise ValueError(f"grid {grid} has more cells than the {self.frame_size_} frames have pixels")
        return grid

    def _fit(self, X: Any, y: Any = None) -> None:
        videos = as_videos(X)
        self.frame_size_ = check_same_frame_size(videos)
        self.grid_ = self._check_grid()
        self.background_ = self._median_background(videos)
        features = self._cell_features(videos)
        self.cell_mean_, self.cell_std_ = {}, {}
        for name, per_video in features.items():
            stacked = np.concatenate(per_video)
            self.cell_mean_[name] = stacked.mean(axis=0)
            self.cell_std_[name] = stacked.std(axis=0) + _EPS
        components = [
            self._component_scores({name: per_video[i] for name, per_video in features.items()})
            for i in range(len(videos))
        ]
        table = self._score_table(components, videos)
        self.fusion_ = clone(self.fusion) if self.fusion is not None else ScoreFusion(
            smoothing="moving_average", window=9
        )
        self.fusion_.fit(table)
        self.training_frame_scores_ = self.fusion_.training_frame_scores_

    def _median_background(self, videos: Sequence[Video]) -> np.ndarray:
        total = sum(len(v) for v in videos)
        picks = np.unique(np.linspace(0, total - 1, min(self.n_background_frames, total)).astype(int))
        starts = np.cumsum([0] + [len(v) for v in videos])
        frames = []
        for pick in picks:
            index = int(np.searchsorted(starts, pick, side="right") - 1)
            frames.append(_grey(videos[index][int(pick - starts[index])][None])[0])
        return np.median(np.stack(frames), axis=0).astype(np.float32)

    def _video_cells(self, video: Video) -> Iterator[dict[str, np.ndarray]]:
        """Per-cell statistics of each component, one (n, n_cells) block per chunk of frames."""
        for grey, prev in _frame_chunks(video):
            yield {
                "motion": _cell_means(np.abs(grey - prev), self.grid_),
                "appearance": _cell_means(np.abs(grey - self.background_), self.grid_),
            }

    def _cell_features(self, videos: Sequence[Video]) -> dict[str, list[np.ndarray]]:
        features: dict[str, list[np.ndarray]] = {name: [] for name in _COMPONENTS}
        for video in videos:
            chunks = list(self._video_cells(video))
            for name in _COMPONENTS:
                features[name].append(np.concatenate([chunk[name] for chunk in chunks]))
        return features

    def _component_scores(self, cells: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw score of each component per frame: the largest per-cell z-score."""
        return {
            name: ((values - self.cell_mean_[name]) / self.cell_std_[name]).max(axis=1)
            for name, values in cells.items()
        }

    def _streamed_component_scores(self, video: Video) -> dict[str, np.ndarray]:
        """Component scores of one video, reduced chunk by chunk (memory O(frames), not O(frames x cells))."""
        parts = [self._component_scores(cells) for cells in self._video_cells(video)]
        return {name: np.concatenate([part[name] for part in parts]) for name in _COMPONENTS}

    def _score_table(self, components: Sequence[dict[str, np.ndarray]], videos: Sequence[Video]) -> ScoreTable:
        per_component = {name: [scores[name] for scores in components] for name in _COMPONENTS}
        return ScoreTable.from_frame_scores(per_component, video_names=[v.name for v in videos])

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        videos = as_videos(X)
        check_same_frame_size(videos, self.frame_size_)
        components = [self._streamed_component_scores(video) for video in videos]
        return self.fusion_.score_frames(self._score_table(components, videos))
