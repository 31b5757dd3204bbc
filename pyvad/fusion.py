"""Score tables and score fusion: from raw score components to per-frame scores.

A detector's ``transform`` returns a :class:`ScoreTable`: every raw score component its
paper defines (for example CAFE's ``kd``, ``ca``, ``lo``), one row per event (an object or
a spatio-temporal cube) or one row per frame, with the video and frame of every row.
:class:`ScoreFusion` is the final estimator that turns such a table into per-frame scores:

1. normalise every component with statistics of the **training** table (z-score);
2. weighted sum of the normalised components of each row;
3. event → frame aggregation per (video, frame): max, mean or mean of the top-k events;
4. frames without any event get a fixed low score;
5. temporal smoothing per video (never across video boundaries), see :mod:`pyvad.smoothing`;
6. optionally, per-video min-max rescaling (uses test statistics; off by default).

Because the raw components are kept, fusion can be changed (weights, aggregation,
smoothing) and ablations run without retraining the detector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from pyvad.base import BaseDetector
from pyvad.events import EventSet
from pyvad.exceptions import InvalidVideoError
from pyvad.smoothing import SMOOTHING_METHODS, smooth_scores
from pyvad.video import Video, as_videos

__all__ = ["EventScoreMaps", "FusedDetectorMixin", "ScoreFusion", "ScoreTable", "zscore_statistics"]


# ---------------------------------------------------------------------------------------
# ScoreTable
# ---------------------------------------------------------------------------------------
def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _check_n_frames(n_frames: Sequence[int], names: list[str] | None) -> list[int]:
    """Validate the per-video frame counts (at least one video, every count >= 1)."""
    counts = list(n_frames)
    if not counts:
        raise ValueError("n_frames is empty: a ScoreTable needs at least one video.")
    checked = []
    for index, count in enumerate(counts):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            name = names[index] if names is not None and index < len(names) else f"video_{index}"
            raise InvalidVideoError(
                f"n_frames of video {name!r} (index {index}) must be an integer >= 1; got {count!r}."
            )
        checked.append(int(count))
    return checked


def _check_video_names(video_names: Sequence[str] | None, n_videos: int) -> list[str]:
    """Return the given names, or ``video_0``, ``video_1`` ... when none were given."""
    if video_names is None:
        return [f"video_{index}" for index in range(n_videos)]
    names = [str(name) for name in video_names]
    if len(names) != n_videos:
        raise ValueError(f"video_names has {len(names)} entries but n_frames describes {n_videos} videos.")
    return names


def _as_index_array(values: ArrayLike, name: str, n_rows: int | None) -> np.ndarray:
    """Return a 1-D int64 copy of ``values`` or raise naming the argument."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}.")
    if n_rows is not None and array.shape[0] != n_rows:
        raise ValueError(f"{name} has {array.shape[0]} rows but video_ids has {n_rows}.")
    return array.astype(np.int64)


def _check_rows_in_range(
    video_ids: np.ndarray, frame_indices: np.ndarray, n_frames: list[int], names: list[str]
) -> None:
    """Every row must point at an existing video and at a frame inside that video."""
    bad_video = np.flatnonzero((video_ids < 0) | (video_ids >= len(n_frames)))
    if bad_video.size:
        row = int(bad_video[0])
        raise ValueError(
            f"row {row}: video id {int(video_ids[row])} is outside [0, {len(n_frames)}) "
            f"(n_frames lists {len(n_frames)} videos)."
        )
    limits = np.asarray(n_frames, dtype=np.int64)[video_ids]
    bad_frame = np.flatnonzero((frame_indices < 0) | (frame_indices >= limits))
    if bad_frame.size:
        row = int(bad_frame[0])
        video = int(video_ids[row])
        raise InvalidVideoError(
            f"row {row}: frame index {int(frame_indices[row])} of video {names[video]!r} is outside "
            f"[0, {n_frames[video]}) (the video has {n_frames[video]} frames)."
        )


def _check_component(
    name: Any, values: ArrayLike, n_rows: int, video_ids: np.ndarray, frame_indices: np.ndarray, names: list[str]
) -> np.ndarray:
    """Return one component as a finite float64 column or raise naming component, row and video."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"score component names must be non-empty strings; got {name!r}.")
    column = np.asarray(values, dtype=np.float64)
    if column.shape != (n_rows,):
        raise ValueError(f"component {name!r} has shape {column.shape}, expected ({n_rows},) (one value per row).")
    bad = np.flatnonzero(~np.isfinite(column))
    if bad.size:
        row = int(bad[0])
        raise InvalidVideoError(
            f"component {name!r}: row {row} (video {names[video_ids[row]]!r}, frame {int(frame_indices[row])}) "
            f"is {column[row]}; scores must be finite."
        )
    return _read_only(column.copy())


def _check_boxes(boxes: ArrayLike | None, n_rows: int) -> np.ndarray | None:
    """Return boxes as a float32 (N, 4) array of x1, y1, x2, y2, or None."""
    if boxes is None:
        return None
    array = np.asarray(boxes, dtype=np.float32)
    if array.shape != (n_rows, 4):
        raise ValueError(f"boxes must have shape ({n_rows}, 4) as x1, y1, x2, y2; got {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"boxes: row {int(np.argwhere(~np.isfinite(array))[0][0])} holds a NaN or infinite value.")
    return _read_only(array.copy())


def _check_frame_sizes(frame_sizes: Sequence[tuple[int, int]] | None, n_videos: int) -> list[tuple[int, int]] | None:
    """Return per-video ``(H, W)`` tuples, or None."""
    if frame_sizes is None:
        return None
    sizes = [tuple(int(v) for v in size) for size in frame_sizes]
    if len(sizes) != n_videos or any(len(size) != 2 for size in sizes):
        raise ValueError(f"frame_sizes must hold one (H, W) pair per video ({n_videos} videos); got {frame_sizes!r}.")
    return sizes


class ScoreTable:
    """Raw score components per event (object/cube) or per frame, with bookkeeping.

    Parameters
    ----------
    scores : mapping of str to array-like of shape (n_rows,)
        One column of finite raw scores per component (for example ``{"kd": ..., "ca": ...}``).
    video_ids : array-like of int, shape (n_rows,)
        Index of the video of every row, in ``[0, len(n_frames))``.
    frame_indices : array-like of int, shape (n_rows,)
        Frame of every row inside its video, in ``[0, n_frames[video])``.
    n_frames : sequence of int
        Number of frames of each video, so frames without any event are known.
    boxes : array-like of shape (n_rows, 4), optional
        Pixel boxes ``x1, y1, x2, y2`` of the events (stored as float32).
    video_names : sequence of str, optional
        Names used in error messages; default ``video_0``, ``video_1`` ...
    frame_sizes : sequence of (int, int), optional
        ``(H, W)`` of each video's frames.

    Attributes
    ----------
    components : list of str
        Component names, in the order given.
    level : {"event", "frame"}
        ``"frame"`` when the table holds exactly one row for every frame of every video,
        ``"event"`` otherwise (frames may then have zero or several rows).

    Raises
    ------
    ValueError
        Inconsistent lengths or shapes, no component, or a row pointing at a missing video.
    pyvad.exceptions.InvalidVideoError
        A non-finite score or a frame index outside its video; the message names the
        component, row, video and frame.

    Examples
    --------
    >>> from pyvad.fusion import ScoreTable
    >>> table = ScoreTable({"kd": [1.0, 2.0, 0.5]}, video_ids=[0, 0, 1],
    ...                    frame_indices=[0, 0, 2], n_frames=[2, 3])
    >>> len(table), table.n_videos, table.level, table["kd"].tolist()
    (3, 2, 'event', [1.0, 2.0, 0.5])
    """

    def __init__(
        self,
        scores: Mapping[str, ArrayLike],
        *,
        video_ids: ArrayLike,
        frame_indices: ArrayLike,
        n_frames: Sequence[int],
        boxes: ArrayLike | None = None,
        video_names: Sequence[str] | None = None,
        frame_sizes: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        names = None if video_names is None else [str(name) for name in video_names]
        self._n_frames = _check_n_frames(n_frames, names)
        self._video_names = _check_video_names(video_names, len(self._n_frames))
        self._video_ids = _as_index_array(video_ids, "video_ids", None)
        n_rows = self._video_ids.shape[0]
        self._frame_indices = _as_index_array(frame_indices, "frame_indices", n_rows)
        _check_rows_in_range(self._video_ids, self._frame_indices, self._n_frames, self._video_names)
        _read_only(self._video_ids)
        _read_only(self._frame_indices)
        if not isinstance(scores, Mapping) or not scores:
            raise ValueError("scores must be a non-empty mapping of component name to one value per row.")
        self._scores = {
            name: _check_component(name, values, n_rows, self._video_ids, self._frame_indices, self._video_names)
            for name, values in scores.items()
        }
        self._boxes = _check_boxes(boxes, n_rows)
        self._frame_sizes = _check_frame_sizes(frame_sizes, len(self._n_frames))

    # -- read-only views -------------------------------------------------------------
    @property
    def components(self) -> list[str]:
        """Names of the score components, in order."""
        return list(self._scores)

    @property
    def video_ids(self) -> np.ndarray:
        """Video index of every row, int64 of shape (n_rows,)."""
        return self._video_ids

    @property
    def frame_indices(self) -> np.ndarray:
        """Frame index (inside its video) of every row, int64 of shape (n_rows,)."""
        return self._frame_indices

    @property
    def n_frames(self) -> list[int]:
        """Number of frames of every video."""
        return list(self._n_frames)

    @property
    def boxes(self) -> np.ndarray | None:
        """Event boxes, float32 (n_rows, 4) as x1, y1, x2, y2, or None."""
        return self._boxes

    @property
    def video_names(self) -> list[str]:
        """Name of every video."""
        return list(self._video_names)

    @property
    def frame_sizes(self) -> list[tuple[int, int]] | None:
        """``(H, W)`` of every video, or None."""
        return None if self._frame_sizes is None else list(self._frame_sizes)

    @property
    def n_videos(self) -> int:
        """Number of videos the table describes (including videos without rows)."""
        return len(self._n_frames)

    @property
    def level(self) -> Literal["event", "frame"]:
        """``"frame"`` if every frame of every video has exactly one row, else ``"event"``."""
        counts = np.bincount(self.frame_positions(), minlength=sum(self._n_frames))
        return "frame" if bool(np.all(counts == 1)) else "event"

    def frame_positions(self) -> np.ndarray:
        """Position of every row's frame in the concatenation of all videos' frames.

        Returns
        -------
        ndarray of int64, shape (n_rows,)
            ``sum(n_frames[:video]) + frame_index`` for every row.
        """
        starts = np.concatenate([[0], np.cumsum(self._n_frames)[:-1]]).astype(np.int64)
        return starts[self._video_ids] + self._frame_indices

    def __len__(self) -> int:
        return int(self._video_ids.shape[0])

    def __getitem__(self, component: str) -> np.ndarray:
        try:
            return self._scores[component]
        except KeyError:
            raise KeyError(f"no score component {component!r}; the table has {self.components}") from None

    def __repr__(self) -> str:
        return (
            f"ScoreTable(level={self.level!r}, n_rows={len(self)}, n_videos={self.n_videos}, "
            f"components={self.components})"
        )

    # -- construction ----------------------------------------------------------------
    def _with_scores(self, scores: Mapping[str, np.ndarray]) -> ScoreTable:
        """A table with the same bookkeeping as this one and other score columns."""
        return ScoreTable(
            scores,
            video_ids=self._video_ids,
            frame_indices=self._frame_indices,
            n_frames=self._n_frames,
            boxes=self._boxes,
            video_names=self._video_names,
            frame_sizes=self._frame_sizes,
        )

    def select(self, components: str | Iterable[str]) -> ScoreTable:
        """Keep only some components.

        Parameters
        ----------
        components : str or iterable of str
            Names to keep, in the order wanted.

        Returns
        -------
        ScoreTable
            A table with the same rows and bookkeeping.

        Raises
        ------
        ValueError
            A name is not a component of this table, or none is given.

        Examples
        --------
        >>> from pyvad.fusion import ScoreTable
        >>> table = ScoreTable.from_frame_scores({"a": [[1.0, 2.0]], "b": [[3.0, 4.0]]})
        >>> table.select("b").components
        ['b']
        """
        wanted = [components] if isinstance(components, str) else list(components)
        missing = [name for name in wanted if name not in self._scores]
        if missing or not wanted:
            raise ValueError(f"cannot select components {wanted}: the table has {self.components}.")
        return self._with_scores({name: self._scores[name] for name in wanted})

    @classmethod
    def from_events(cls, scores: Mapping[str, ArrayLike], events: Any) -> ScoreTable:
        """An event-level table: one row per event of ``events``, with its bookkeeping.

        Parameters
        ----------
        scores : mapping of str to array-like of shape (len(events),)
            Raw score components, in event order.
        events : EventSet
            The scored events (``video_ids``, ``frame_indices``, ``boxes``,
            ``n_frames``, ``video_names``, ``frame_sizes``).

        Returns
        -------
        ScoreTable
        """
        return cls(
            scores,
            video_ids=events.video_ids,
            frame_indices=events.frame_indices,
            n_frames=[int(n) for n in events.n_frames],
            boxes=events.boxes,
            video_names=list(events.video_names),
            frame_sizes=[(int(h), int(w)) for h, w in events.frame_sizes],
        )

    @classmethod
    def from_frame_scores(
        cls, scores: Mapping[str, Sequence[ArrayLike]], video_names: Sequence[str] | None = None
    ) -> ScoreTable:
        """Build a frame-level table: one row per frame of every video.

        Parameters
        ----------
        scores : mapping of str to list of array-like
            For every component, one 1-D array of frame scores per video. All components
            must describe the same videos with the same lengths.
        video_names : sequence of str, optional
            Names of the videos.

        Returns
        -------
        ScoreTable
            A table whose ``level`` is ``"frame"``.

        Examples
        --------
        >>> from pyvad.fusion import ScoreTable
        >>> table = ScoreTable.from_frame_scores({"err": [[0.1, 0.2, 0.3], [0.5]]})
        >>> table.level, table.n_frames
        ('frame', [3, 1])
        """
        if not isinstance(scores, Mapping) or not scores:
            raise ValueError("scores must be a non-empty mapping of component name to a list of per-video arrays.")
        columns = {name: [np.asarray(video, dtype=np.float64) for video in videos] for name, videos in scores.items()}
        first_name, first = next(iter(columns.items()))
        lengths = [video.shape[0] if video.ndim == 1 else -1 for video in first]
        for name, videos in columns.items():
            shapes = [video.shape for video in videos]
            if shapes != [(n,) for n in lengths]:
                raise ValueError(
                    f"component {name!r} has per-video shapes {shapes} but {first_name!r} has "
                    f"{[(n,) for n in lengths]}; every component needs one 1-D array per video, same lengths."
                )
        return cls(
            {name: np.concatenate(videos) if videos else np.empty(0) for name, videos in columns.items()},
            video_ids=np.repeat(np.arange(len(lengths)), lengths),
            frame_indices=np.concatenate([np.arange(n) for n in lengths]) if lengths else np.empty(0, np.int64),
            n_frames=lengths,
            video_names=video_names,
        )

    @staticmethod
    def concat(tables: Sequence[ScoreTable]) -> ScoreTable:
        """Stack the videos of several tables into one table.

        Video ids of each table are shifted by the number of videos before it.

        Parameters
        ----------
        tables : sequence of ScoreTable
            Tables with the same component names; either all or none with boxes, and all
            or none with frame sizes.

        Returns
        -------
        ScoreTable
            Components in the order of the first table.

        Raises
        ------
        ValueError
            No table, different components, or boxes / frame sizes on only some tables.

        Examples
        --------
        >>> from pyvad.fusion import ScoreTable
        >>> a = ScoreTable.from_frame_scores({"err": [[0.1, 0.2]]})
        >>> b = ScoreTable.from_frame_scores({"err": [[0.3]]})
        >>> ScoreTable.concat([a, b]).video_ids.tolist()
        [0, 0, 1]
        """
        tables = list(tables)
        if not tables:
            raise ValueError("concat needs at least one ScoreTable.")
        components = tables[0].components
        for index, table in enumerate(tables):
            if set(table.components) != set(components):
                raise ValueError(
                    f"table {index} has components {table.components} but table 0 has {components}."
                )
        for attribute in ("boxes", "frame_sizes"):
            present = [getattr(table, attribute) is not None for table in tables]
            if any(present) and not all(present):
                raise ValueError(f"either every table or none must have {attribute}; got {present}.")
        shifts = np.cumsum([0] + [table.n_videos for table in tables[:-1]])
        return ScoreTable(
            {name: np.concatenate([table[name] for table in tables]) for name in components},
            video_ids=np.concatenate([table.video_ids + shift for table, shift in zip(tables, shifts)]),
            frame_indices=np.concatenate([table.frame_indices for table in tables]),
            n_frames=[n for table in tables for n in table.n_frames],
            boxes=None if tables[0].boxes is None else np.concatenate([table.boxes for table in tables]),
            video_names=[name for table in tables for name in table.video_names],
            frame_sizes=None if tables[0].frame_sizes is None else [s for t in tables for s in t.frame_sizes],
        )


# ---------------------------------------------------------------------------------------
# Event -> frame aggregation
# ---------------------------------------------------------------------------------------
def _frame_max(row_scores: np.ndarray, positions: np.ndarray, n_total: int, top_k: int) -> np.ndarray:
    frames = np.full(n_total, -np.inf)
    np.maximum.at(frames, positions, row_scores)
    return frames


def _frame_mean(row_scores: np.ndarray, positions: np.ndarray, n_total: int, top_k: int) -> np.ndarray:
    sums = np.bincount(positions, weights=row_scores, minlength=n_total)
    return sums / np.maximum(np.bincount(positions, minlength=n_total), 1)


def _frame_topk_mean(row_scores: np.ndarray, positions: np.ndarray, n_total: int, top_k: int) -> np.ndarray:
    order = np.lexsort((-row_scores, positions))  # grouped by frame, highest score first
    grouped = positions[order]
    rank = np.arange(grouped.shape[0]) - np.searchsorted(grouped, grouped, side="left")
    keep = rank < top_k
    return _frame_mean(row_scores[order][keep], grouped[keep], n_total, top_k)


_AGGREGATIONS = {"max": _frame_max, "mean": _frame_mean, "topk_mean": _frame_topk_mean}


def _per_video_minmax(scores: np.ndarray) -> np.ndarray:
    """Rescale one video's scores to [0, 1]; a constant video becomes all zeros."""
    span = scores.max() - scores.min()
    return (scores - scores.min()) / span if span > 0 else np.zeros_like(scores)


# ---------------------------------------------------------------------------------------
# ScoreFusion
# ---------------------------------------------------------------------------------------
class EventScoreMaps:
    """Per-frame pixel maps of one video: every event's score painted into its box.

    Sequence-like (``len``; integer indexing returns an ``(H, W)`` float32 map),
    built frame by frame on access so long videos never hold all maps in memory.
    Where boxes overlap the maximum is kept; pixels outside every box get
    ``background``. Usable with :func:`pyvad.metrics.rbdc` and ``tbdc``.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    frame_size : (int, int)
        ``(H, W)``.
    frame_indices : ndarray of shape (N,)
        Frame of each event.
    boxes : ndarray of shape (N, 4)
        ``x1, y1, x2, y2`` pixel boxes.
    scores : ndarray of shape (N,)
        Event scores.
    background : float
        Value outside the boxes.
    """

    def __init__(
        self, n_frames: int, frame_size: Sequence[int], frame_indices: np.ndarray, boxes: np.ndarray,
        scores: np.ndarray, background: float,
    ) -> None:
        self.n_frames = int(n_frames)
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        order = np.argsort(frame_indices, kind="stable")
        self._frames = np.asarray(frame_indices)[order]
        self._boxes = np.asarray(boxes)[order]
        self._scores = np.asarray(scores, dtype=np.float32)[order]
        self.background = float(background)

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, frame: int) -> np.ndarray:
        if not -self.n_frames <= frame < self.n_frames:
            raise IndexError(f"frame {frame} is outside the video's {self.n_frames} frames")
        frame %= self.n_frames
        height, width = self.frame_size
        canvas = np.full((height, width), self.background, dtype=np.float32)
        lo, hi = np.searchsorted(self._frames, [frame, frame + 1])
        for (x1, y1, x2, y2), score in zip(self._boxes[lo:hi], self._scores[lo:hi]):
            rows = slice(max(int(np.floor(y1)), 0), min(int(np.ceil(y2)), height))
            cols = slice(max(int(np.floor(x1)), 0), min(int(np.ceil(x2)), width))
            np.maximum(canvas[rows, cols], score, out=canvas[rows, cols])
        return canvas

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_frames, H, W)``."""
        return (self.n_frames, *self.frame_size)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.to_array()
        return array if dtype is None else array.astype(dtype)

    def to_array(self) -> np.ndarray:
        """All maps as one ``(n_frames, H, W)`` float32 array."""
        return np.stack([self[t] for t in range(self.n_frames)]) if self.n_frames else np.zeros(
            (0, *self.frame_size), np.float32
        )


def zscore_statistics(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of ``values`` (rows are samples).

    A constant column gets scale 1, so it is only centred. "Constant" means a standard
    deviation at the level of rounding error (at most 10 machine epsilons of the mean's size),
    not exactly 0: 0.1 repeated has a computed standard deviation of about 1e-17, and dividing
    by that would blow every later difference up by 1e16.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_columns)

    Returns
    -------
    mean, scale : ndarray of shape (n_columns,)
    """
    mean, std = values.mean(axis=0), values.std(axis=0)
    constant = std <= 10 * np.finfo(np.float64).eps * np.abs(mean)
    return mean, np.where(constant, 1.0, std)


class ScoreFusion(BaseDetector):
    """Fuse the raw score components of a :class:`ScoreTable` into per-frame scores.

    The final step of a detection pipeline (or a stand-alone estimator on tables). ``fit``
    learns normalisation statistics from the **training** table only; scoring applies, in
    this order: normalisation, weighted sum per row, event → frame aggregation, filling of
    frames without events, temporal smoothing per video, and (only if asked for) per-video
    min-max rescaling.

    Parameters
    ----------
    weights : mapping of str to float, optional
        Weight of every component used. ``None`` uses every component of the training
        table with weight 1. Components of the table **not named** in ``weights`` are
        ignored (weight 0), so an ablation is just another ``weights``; naming a component
        the training table lacks raises ``ValueError``.
    normalize : {"zscore", "per_video_minmax"} or None, default="zscore"
        ``"zscore"``: every component becomes ``(value - mean_) / scale_`` with the mean and
        standard deviation of the training table (a constant component gets ``scale_ = 1``,
        so it is only centred; see :func:`zscore_statistics`). ``"per_video_minmax"``: the same
        z-score, and then the final frame scores of **each scored video** are rescaled to
        [0, 1] by that video's own minimum and maximum (a constant video becomes 0). This
        uses *test* statistics — scores are no longer comparable across videos and a video
        without any anomaly still reaches 1 — and exists only to reproduce papers that do
        it. ``None``: raw components, no normalisation.
    aggregation : {"max", "mean", "topk_mean"}, default="max"
        How the row scores of one (video, frame) become the frame score: their maximum,
        their mean, or the mean of the ``top_k`` highest (all of them when the frame has
        fewer than ``top_k``).
    top_k : int, default=3
        Number of events averaged by ``aggregation="topk_mean"``.
    empty_frame : "train_min" or float, default="train_min"
        Score of a frame without any event (before smoothing): the lowest fused frame score
        seen on the training frames that had events (``train_min_``), or a given number.
    smoothing : {"moving_average", "median", "gaussian"} or None, default=None
        Temporal filter applied to each video separately; see :mod:`pyvad.smoothing` for
        the exact span of each. Edges repeat the first / last frame score.
    window : int, default=9
        Filter length in frames. ``"moving_average"`` / ``"median"``: the ``window`` frames
        ``t - window // 2`` … ``t + (window - 1) // 2``. ``"gaussian"``: the kernel is cut
        at ``window // 2`` frames on each side.
    sigma : float, optional
        Standard deviation in frames of the ``"gaussian"`` kernel; default ``window / 6``.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected share of abnormal training frames; sets ``offset_`` for ``predict``.

    Attributes
    ----------
    components_ : list of str
        Components used, in the order of ``mean_``, ``scale_`` and ``weights_``.
    weights_ : ndarray of shape (n_components,)
        Weight of each used component.
    mean_ : ndarray of shape (n_components,)
        Training mean of each component (0 when ``normalize=None``).
    scale_ : ndarray of shape (n_components,)
        Training standard deviation of each component, 1 where it is 0 (or ``normalize=None``).
    train_min_ : float
        Lowest fused training frame score among frames with events, before smoothing.
    training_frame_scores_ : list of ndarray
        Final frame scores of the training videos (used for ``offset_``).
    offset_ : float
        Threshold of ``decision_function``, set from ``contamination``.

    Examples
    --------
    >>> from pyvad.fusion import ScoreFusion, ScoreTable
    >>> train = ScoreTable({"kd": [1.0, 3.0, 2.0]}, video_ids=[0, 0, 0],
    ...                    frame_indices=[0, 1, 2], n_frames=[4])
    >>> fusion = ScoreFusion().fit(train)
    >>> fusion.mean_.tolist(), fusion.train_min_
    ([2.0], -1.224744871391589)
    >>> test = ScoreTable({"kd": [2.0, 4.0]}, video_ids=[0, 0], frame_indices=[1, 1], n_frames=[2])
    >>> [s.round(3).tolist() for s in fusion.score_frames(test)]
    [[-1.225, 2.449]]
    """

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "weights": [Mapping, None],
        "normalize": [StrOptions({"zscore", "per_video_minmax"}), None],
        "aggregation": [StrOptions(set(_AGGREGATIONS))],
        "top_k": [Interval(Integral, 1, None, closed="left")],
        "empty_frame": [StrOptions({"train_min"}), Interval(Real, None, None, closed="neither")],
        "smoothing": [StrOptions(set(SMOOTHING_METHODS)), None],
        "window": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        normalize: Literal["zscore", "per_video_minmax"] | None = "zscore",
        aggregation: Literal["max", "mean", "topk_mean"] = "max",
        top_k: int = 3,
        empty_frame: Literal["train_min"] | float = "train_min",
        smoothing: Literal["moving_average", "median", "gaussian"] | None = None,
        window: int = 9,
        sigma: float | None = None,
        contamination: str | float = "auto",
    ) -> None:
        self.weights = weights
        self.normalize = normalize
        self.aggregation = aggregation
        self.top_k = top_k
        self.empty_frame = empty_frame
        self.smoothing = smoothing
        self.window = window
        self.sigma = sigma
        self.contamination = contamination

    # -- fitting -------------------------------------------------------------------
    def _fit(self, X: ScoreTable, y: Any = None) -> None:
        table = self._check_table(X, "fit")
        if len(table) == 0:
            raise ValueError("ScoreFusion.fit: the training ScoreTable has no rows, so no statistics can be learned.")
        self.components_, self.weights_ = self._resolve_weights(table)
        values = self._matrix(table)
        if self.normalize is None:
            self.mean_ = np.zeros(len(self.components_))
            self.scale_ = np.ones(len(self.components_))
        else:
            self.mean_, self.scale_ = zscore_statistics(values)
        frames, has_event = self._aggregate(table)
        self.train_min_ = float(frames[has_event].min())
        self.training_frame_scores_ = self._finish(table, frames, has_event)

    def _resolve_weights(self, table: ScoreTable) -> tuple[list[str], np.ndarray]:
        """Components used and their weights, checked against the training table."""
        if self.weights is None:
            return table.components, np.ones(len(table.components))
        if not self.weights:
            raise ValueError("weights is empty: name at least one component, or pass weights=None to use all.")
        missing = [name for name in self.weights if name not in table.components]
        if missing:
            raise ValueError(
                f"weights name components {missing} that the training table lacks; it has {table.components}."
            )
        values = []
        for name, weight in self.weights.items():
            if isinstance(weight, bool) or not isinstance(weight, Real) or not np.isfinite(weight):
                raise ValueError(f"weight of component {name!r} must be a finite number; got {weight!r}.")
            values.append(float(weight))
        return list(self.weights), np.asarray(values)

    # -- scoring -------------------------------------------------------------------
    def _score_frames(self, X: ScoreTable) -> list[np.ndarray]:
        table = self._check_table(X, "score")
        self._check_components(table)
        return self._finish(table, *self._aggregate(table))

    @staticmethod
    def _check_table(X: Any, step: str) -> ScoreTable:
        if not isinstance(X, ScoreTable):
            raise TypeError(
                f"ScoreFusion.{step} expects a ScoreTable (the output of a detector's transform), got "
                f"{type(X).__name__}; put a detector before ScoreFusion in the pipeline."
            )
        return X

    def _matrix(self, table: ScoreTable) -> np.ndarray:
        """The used components as an (n_rows, n_components) float64 matrix."""
        if len(table) == 0:
            return np.empty((0, len(self.components_)))
        return np.column_stack([table[name] for name in self.components_])

    def fuse_rows(self, table: ScoreTable) -> np.ndarray:
        """Fused score of every row (event or frame) before aggregation and smoothing.

        Parameters
        ----------
        table : ScoreTable
            Raw components, at least those the fusion was fitted on.

        Returns
        -------
        ndarray of shape (len(table),)
            Weighted sum of the components, each normalised with the training
            statistics (``mean_``, ``scale_``).
        """
        check_is_fitted(self)
        table = self._check_table(table, "fuse_rows")
        self._check_components(table)
        return self._fused(table)

    def score_maps(self, table: ScoreTable) -> list[EventScoreMaps]:
        """Pixel anomaly maps: every event's fused score painted into its box.

        Parameters
        ----------
        table : ScoreTable
            An event-level table with ``boxes`` and ``frame_sizes``.

        Returns
        -------
        list of EventScoreMaps
            One lazy ``(n_frames, H, W)`` map sequence per video; pixels outside
            every box hold the lowest fused training-frame score (``train_min_``).
        """
        rows = self.fuse_rows(table)
        if table.boxes is None or table.frame_sizes is None:
            raise ValueError("score maps need a ScoreTable with boxes and frame_sizes (an event-level table)")
        return [
            EventScoreMaps(
                n_frames, table.frame_sizes[video], table.frame_indices[table.video_ids == video],
                table.boxes[table.video_ids == video], rows[table.video_ids == video], self.train_min_,
            )
            for video, n_frames in enumerate(table.n_frames)
        ]

    def _check_components(self, table: ScoreTable) -> None:
        missing = [name for name in self.components_ if name not in table.components]
        if missing:
            raise ValueError(
                f"the ScoreTable lacks components {missing} that ScoreFusion was fitted on; it has {table.components}."
            )

    def _fused(self, table: ScoreTable) -> np.ndarray:
        """Weighted sum of the training-normalised components of every row (table already checked)."""
        return ((self._matrix(table) - self.mean_) / self.scale_) @ self.weights_

    def _aggregate(self, table: ScoreTable) -> tuple[np.ndarray, np.ndarray]:
        """Fused row scores aggregated per frame of all videos, and which frames had rows."""
        row_scores = self._fused(table)
        positions = table.frame_positions()
        n_total = sum(table.n_frames)
        frames = _AGGREGATIONS[self.aggregation](row_scores, positions, n_total, self.top_k)
        has_event = np.bincount(positions, minlength=n_total) > 0
        return frames, has_event

    def _empty_value(self) -> float:
        """Score of a frame without events (``empty_frame`` is finite: checked at fit)."""
        return self.train_min_ if self.empty_frame == "train_min" else float(self.empty_frame)

    def _finish(self, table: ScoreTable, frames: np.ndarray, has_event: np.ndarray) -> list[np.ndarray]:
        """Fill empty frames, split per video, smooth, and optionally min-max each video."""
        filled = np.where(has_event, frames, self._empty_value())
        videos = np.split(filled, np.cumsum(table.n_frames)[:-1])
        smoothed = smooth_scores(videos, self.smoothing, self.window, sigma=self.sigma)
        if self.normalize == "per_video_minmax":
            return [_per_video_minmax(video) for video in smoothed]
        return smoothed


class FusedDetectorMixin:
    """Scoring shared by detectors built as ``transform`` → :class:`ScoreFusion`.

    The detector's ``transform(X)`` returns the raw score components (a
    :class:`ScoreTable`) and its fitted ``fusion_`` turns them into frame scores
    and, for event-level tables, pixel maps. Put it before the estimator base:
    ``class MyDetector(FusedDetectorMixin, BaseDetector)``.
    """

    def fit_transform(self, X: Any, y: Any = None) -> ScoreTable:
        """Fit on ``X`` and return its raw score table (the middle step of a pipeline).

        Videos are decoded and their events extracted once, for fitting and scoring both;
        when ``_fit`` returns the raw table of all training events (it scored them to
        fit the fusion), that table is returned instead of scoring them again.

        Parameters
        ----------
        X : sequence of videos or EventSet
            Training data.
        y : ignored

        Returns
        -------
        ScoreTable
            ``transform(X)`` of the fitted detector.
        """
        extractor = None
        if not isinstance(X, EventSet):
            self._validate_params()
            X, extractor = self._training_extraction(as_videos(X))
        table = self._fit_staged(X, y)
        if extractor is not None:
            self.extractor_ = extractor  # as if fitted on the videos: it scores videos too
        return table if isinstance(table, ScoreTable) else self.transform(X)

    def _training_extraction(self, videos: list[Video]) -> tuple[Any, Any]:
        """The training events of ``videos``, and the fitted extractor to keep (None: the one ``fit`` sets).

        The default hands the videos on, so ``fit`` and ``transform`` each extract them;
        detectors override it to extract once.
        """
        return videos, None

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        return self.fusion_.score_frames(self.transform(X))

    def score_maps(self, X: Any) -> list[EventScoreMaps]:
        """Pixel anomaly maps: every event's fused score painted into its box.

        Parameters
        ----------
        X : sequence of videos, EventSet or ScoreTable
            What to score; a table returned by ``transform`` is used as it is
            (no second pass through the networks).

        Returns
        -------
        list of EventScoreMaps
            One lazy ``(n_frames, H, W)`` float32 map sequence per video; overlapping
            boxes keep the highest score, pixels outside every box hold the lowest
            fused training-frame score (``fusion_.train_min_``). Usable with
            :func:`pyvad.metrics.rbdc` / ``tbdc`` and the overlays of :mod:`pyvad.viz`.
        """
        return self.fusion_.score_maps(X if isinstance(X, ScoreTable) else self.transform(X))
