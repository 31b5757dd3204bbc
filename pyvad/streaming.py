"""Score live footage frame by frame: files, frame folders, cameras and network streams.

:func:`score_stream` runs any fitted detector on a source that may never end (a camera,
an ``rtsp://`` or ``http://`` stream) with bounded memory and latency. It never needs a
detector written for streaming: it buffers a short **window** of frames, scores it with
the detector's public :meth:`~pyvad.base.BaseDetector.score_frames`, keeps the scores of
the frames in the middle of the window and slides on.

Windows and temporal context
----------------------------
A detector looks at neighbouring frames to score frame ``t`` (frame differences need
``t - 1``, object cubes ``t - 4 … t`` or ``t ± 1``). It declares how many with an attribute
``temporal_context_`` (fitted) or ``temporal_context`` (class), a pair
``(past, future)`` of frame counts; without one, :data:`DEFAULT_CONTEXT` is assumed.
Every window holds ``past`` frames already scored, ``hop`` new frames, and ``future``
frames after them, so the ``hop`` new frames are scored with the same neighbours as
offline. Memory holds at most ``past + hop + future`` frames; a frame's score comes out
at most ``hop + future`` frames after the frame itself.

Smoothing: causal versus centred
--------------------------------
Offline, a detector's :class:`~pyvad.fusion.ScoreFusion` smooths each video's scores
with a **centred** filter (frame ``t`` averages frames up to ``t + window // 2``). Waiting
for those future frames would add latency, so by default (``smoothing="causal"``) the
stream scores frames *unsmoothed* and applies the same filter to the **trailing**
frames instead. The streamed score of frame ``t`` is then exactly the offline score of
frame ``t - d``, with ``d`` the filter's future half-span (:func:`smoothing_delay`): the
curve has the same shape and threshold, it only rises ``d`` frames later.
``smoothing="centred"`` reproduces the offline scores frame for frame instead, at the
cost of ``d`` more frames of latency. Per-video min-max normalisation
(``ScoreFusion(normalize="per_video_minmax")``) needs the whole video and is refused.

Threshold and alerts
--------------------
Without labels, a frame is abnormal when its score exceeds the detector's threshold:
``-offset_`` (set at fit time from ``contamination``), or the ``quantile`` of the
training-frame scores, or a number given by the caller (:func:`resolve_threshold`).
:class:`AlertTracker` turns the stream of per-frame flags into alerts at the start and
end of every abnormal interval; :func:`abnormal_intervals` does the same offline.
"""

from __future__ import annotations

import copy
import math
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np

from pyvad.exceptions import VideoReadError
from pyvad.smoothing import smooth_scores
from pyvad.video import DEFAULT_FPS, Video, _check_fps

__all__ = [
    "DEFAULT_CONTEXT",
    "DEFAULT_HOP",
    "Alert",
    "AlertTracker",
    "StreamFrame",
    "abnormal_intervals",
    "is_live_source",
    "resolve_threshold",
    "score_stream",
    "smoothing_delay",
    "temporal_context",
]

DEFAULT_CONTEXT: tuple[int, int] = (8, 8)
"""``(past, future)`` frames given to a detector that declares no ``temporal_context``."""

DEFAULT_HOP = 16
"""New frames scored per window by default."""

SmoothingMode = Literal["causal", "centred"]


class StreamFrame(NamedTuple):
    """The score of one frame of a stream.

    Attributes
    ----------
    index : int
        Frame index in the stream, from 0.
    timestamp : float
        Seconds: ``index / fps`` for files, folders and arrays; for cameras and network
        streams, the time since the stream was opened at which the frame was read.
    score : float
        Anomaly score, higher = more abnormal (see the module notes on smoothing).
    map : ndarray of shape (H, W) or None
        Pixel anomaly map of the frame when asked for with ``with_maps=True``.
    abnormal : bool
        ``score > threshold``.
    frame : ndarray of shape (H, W, C)
        The RGB ``uint8`` frame itself (for overlays; drop it to free memory).
    """

    index: int
    timestamp: float
    score: float
    map: np.ndarray | None
    abnormal: bool
    frame: np.ndarray


# ---------------------------------------------------------------------------
# Detector introspection: context, smoothing, threshold
# ---------------------------------------------------------------------------


def _check_context(value: Any, where: str) -> tuple[int, int]:
    """``value`` as a pair of non-negative ints or ValueError naming ``where``."""
    try:
        past, future = value
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a pair (past, future) of frame counts, got {value!r}") from None
    if not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 0 for v in (past, future)):
        raise ValueError(f"{where} must be two integers >= 0 (past, future), got {value!r}")
    return int(past), int(future)


def temporal_context(detector: Any) -> tuple[int, int]:
    """Frames before and after ``t`` that ``detector`` reads to score frame ``t``.

    Parameters
    ----------
    detector : estimator
        A fitted detector. Its fitted attribute ``temporal_context_`` wins over a class
        attribute ``temporal_context``; neither gives :data:`DEFAULT_CONTEXT`.

    Returns
    -------
    (past, future) : tuple of int
        Context of the detector's **unsmoothed** scoring; temporal smoothing by its
        fusion step is accounted for separately (see :func:`smoothing_delay`).

    Examples
    --------
    >>> class NeedsPrevious:
    ...     temporal_context = (1, 0)
    >>> temporal_context(NeedsPrevious())
    (1, 0)
    """
    for name in ("temporal_context_", "temporal_context"):
        value = getattr(detector, name, None)
        if value is not None:
            return _check_context(value, f"{type(detector).__name__}.{name}")
    return DEFAULT_CONTEXT


def _fusion(detector: Any) -> Any:
    """The detector's fitted fusion step (``fusion_``), or None when it has none."""
    fusion = getattr(detector, "fusion_", None)
    return fusion if fusion is not None and hasattr(fusion, "smoothing") else None


def _smoothing_span(fusion: Any) -> tuple[int, int]:
    """Frames before and after ``t`` read by the fusion's centred filter."""
    if fusion is None or fusion.smoothing is None:
        return 0, 0
    window = int(fusion.window)
    if fusion.smoothing == "gaussian":
        return window // 2, window // 2
    return window // 2, (window - 1) // 2


def smoothing_delay(detector: Any) -> int:
    """Frames by which causal streaming smoothing lags the offline (centred) smoothing.

    Parameters
    ----------
    detector : estimator
        A fitted detector; its temporal filter is read from its fusion step
        ``fusion_`` (``smoothing``, ``window``).

    Returns
    -------
    int
        ``d`` such that, with ``smoothing="causal"``, the streamed score of frame ``t``
        equals the offline score of frame ``t - d``; 0 when the detector does not smooth.
    """
    return _smoothing_span(_fusion(detector))[1]


def _without_smoothing(detector: Any) -> Any:
    """A shallow copy of ``detector`` whose fusion step does not smooth over time."""
    fusion = _fusion(detector)
    if fusion is None or fusion.smoothing is None:
        return detector
    unsmoothed = copy.copy(detector)
    unsmoothed.fusion_ = copy.copy(fusion).set_params(smoothing=None)
    return unsmoothed


def _refuse_test_statistics(detector: Any) -> None:
    """Per-video min-max normalisation needs the whole video: impossible on a stream."""
    fusion = _fusion(detector)
    if fusion is not None and getattr(fusion, "normalize", None) == "per_video_minmax":
        raise ValueError(
            f"{type(detector).__name__} normalises scores per video (fusion normalize='per_video_minmax'), "
            "which needs the whole video; refit with normalize='zscore' to score a stream"
        )


def resolve_threshold(detector: Any, *, threshold: float | None = None, quantile: float | None = None) -> float:
    """The score above which a frame is abnormal, without any test label.

    Parameters
    ----------
    detector : estimator
        A fitted detector with ``offset_`` (set from ``contamination`` at fit time)
        and, for ``quantile``, ``training_frame_scores_``.
    threshold : float, optional
        Use this score threshold as it is.
    quantile : float in (0, 1), optional
        Use this quantile of the training-frame scores (e.g. 0.99: 1 % of the normal
        training frames would be flagged).

    Returns
    -------
    float
        ``threshold`` if given, else the ``quantile`` of the training scores, else
        ``-detector.offset_`` (the threshold of ``predict``).

    Raises
    ------
    ValueError
        Both ``threshold`` and ``quantile`` are given, ``quantile`` is outside (0, 1),
        or the detector lacks the attribute needed.
    """
    if threshold is not None and quantile is not None:
        raise ValueError("give threshold or quantile, not both")
    if threshold is not None:
        if not isinstance(threshold, Real) or not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        return float(threshold)
    if quantile is not None:
        return _training_quantile(detector, quantile)
    if not hasattr(detector, "offset_"):
        raise ValueError(f"{type(detector).__name__} has no offset_: fit it before scoring a stream")
    return -float(detector.offset_)


def _training_quantile(detector: Any, quantile: float) -> float:
    """``quantile`` of the detector's training-frame scores."""
    if not isinstance(quantile, Real) or not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be a number in (0, 1), got {quantile!r}")
    scores = getattr(detector, "training_frame_scores_", None)
    if not scores:
        raise ValueError(f"{type(detector).__name__} kept no training_frame_scores_ to take a quantile of")
    return float(np.quantile(np.concatenate([np.asarray(s, dtype=np.float64) for s in scores]), quantile))


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------


def is_live_source(source: Any) -> bool:
    """True for a camera index (``int``) or a URL (``rtsp://``, ``http://`` …).

    Parameters
    ----------
    source : object
        What to read frames from: a camera index, a URL, a file path, an array ...

    Returns
    -------
    bool
        True for an integer that is not a bool, or a str containing ``"://"``;
        False otherwise (files, arrays, ``True``/``False``).
    """
    if isinstance(source, bool):
        return False
    return isinstance(source, Integral) or (isinstance(source, str) and "://" in source)


def _quiet_capture(source: int | str) -> cv2.VideoCapture:
    """``cv2.VideoCapture(source)`` without OpenCV's own warnings on stderr (we raise our own)."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(source)
    finally:
        logging.setLogLevel(level)


class _LiveCapture:
    """Frames of a camera or network stream, read until the stream ends."""

    def __init__(self, source: int | str, fps: float | None) -> None:
        self.name = f"camera {source}" if isinstance(source, Integral) else str(source)
        if fps is not None:
            fps = _check_fps(fps, f"Video {self.name!r}")
        self._capture = _quiet_capture(source)
        if not self._capture.isOpened():
            self._capture.release()
            raise VideoReadError(
                f"cannot open {self.name}: no such camera, unreachable stream or unsupported protocol"
            )
        announced = self._capture.get(cv2.CAP_PROP_FPS)
        if fps is None:
            fps = announced if math.isfinite(announced) and announced > 0 else DEFAULT_FPS
        self.fps = fps

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        opened = time.monotonic()
        try:
            while True:
                ok, frame = self._capture.read()
                if not ok or frame is None:
                    return
                yield time.monotonic() - opened, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            self._capture.release()


class _RecordedSource:
    """Frames of a video file, frame folder, array or Video, timed by the frame rate."""

    def __init__(self, source: Any, fps: float | None) -> None:
        self.video = source if isinstance(source, Video) and fps is None else Video(source, fps=fps)
        self.name = self.video.name
        self.fps = self.video.fps

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        for index, frame in enumerate(self.video):
            yield index / self.fps, frame


def _open_source(source: Any, fps: float | None) -> _LiveCapture | _RecordedSource:
    """The frame reader for anything :func:`score_stream` accepts."""
    if is_live_source(source):
        return _LiveCapture(source, fps)
    return _RecordedSource(source, fps)


# ---------------------------------------------------------------------------
# Causal smoothing
# ---------------------------------------------------------------------------


class _TrailingFilter:
    """The fusion's temporal filter applied to the last frames only (no look-ahead)."""

    def __init__(self, method: str, window: int, sigma: float | None) -> None:
        self.method, self.window, self.sigma = method, window, sigma
        before, after = (window // 2, window // 2) if method == "gaussian" else (window // 2, (window - 1) // 2)
        self.centre = before
        self._values: deque[float] = deque(maxlen=before + 1 + after)

    def __call__(self, value: float) -> float:
        if not self._values:  # the first value stands for the frames before it, as offline
            self._values.extend([value] * (self._values.maxlen - 1))
        self._values.append(value)
        smoothed = smooth_scores(np.fromiter(self._values, np.float64), self.method, self.window, sigma=self.sigma)
        return float(smoothed[self.centre])


def _causal_filter(detector: Any) -> _TrailingFilter | None:
    fusion = _fusion(detector)
    if fusion is None or fusion.smoothing is None:
        return None
    return _TrailingFilter(fusion.smoothing, int(fusion.window), fusion.sigma)


# ---------------------------------------------------------------------------
# Windowed scoring
# ---------------------------------------------------------------------------


@dataclass
class _Window:
    """Frames buffered for the next window: ``frames[k]`` is stream frame ``first + k``."""

    first: int
    timestamps: deque
    frames: deque

    def append(self, timestamp: float, frame: np.ndarray) -> None:
        self.timestamps.append(timestamp)
        self.frames.append(frame)

    @property
    def end(self) -> int:
        return self.first + len(self.frames)

    def drop_before(self, index: int) -> None:
        while self.first < index and self.frames:
            self.frames.popleft()
            self.timestamps.popleft()
            self.first += 1


class _WindowScorer:
    """Scores windows of frames with a detector's public API; returns the wanted frames."""

    def __init__(self, detector: Any, name: str, fps: float, with_maps: bool) -> None:
        if with_maps and not hasattr(detector, "score_maps"):
            raise ValueError(f"{type(detector).__name__} has no score_maps, so with_maps=True is not possible")
        self.detector, self.name, self.fps, self.with_maps = detector, name, fps, with_maps

    def __call__(self, window: _Window, start: int, stop: int) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Scores (and maps) of stream frames ``start … stop - 1``, all held in ``window``."""
        video = Video(np.stack(window.frames), fps=self.fps, name=f"{self.name} frames {window.first}-{window.end - 1}")
        keep = slice(start - window.first, stop - window.first)
        scores = self.detector.score_frames([video])[0][keep]
        if not self.with_maps:
            return scores, [None] * len(scores)
        maps = self.detector.score_maps([video])[0]
        return scores, [np.asarray(maps[k], dtype=np.float32) for k in range(keep.start, keep.stop)]


def _check_hop(hop: Any) -> int:
    if isinstance(hop, bool) or not isinstance(hop, Integral) or hop < 1:
        raise ValueError(f"hop must be an integer >= 1 (frames per window), got {hop!r}")
    return int(hop)


def _check_max_frames(max_frames: Any) -> int | None:
    if max_frames is None:
        return None
    if isinstance(max_frames, bool) or not isinstance(max_frames, Integral) or max_frames < 1:
        raise ValueError(f"max_frames must be an integer >= 1 or None, got {max_frames!r}")
    return int(max_frames)


def score_stream(
    detector: Any,
    source: Any,
    *,
    hop: int = DEFAULT_HOP,
    context: tuple[int, int] | None = None,
    smoothing: SmoothingMode = "causal",
    threshold: float | None = None,
    quantile: float | None = None,
    with_maps: bool = False,
    fps: float | None = None,
    max_frames: int | None = None,
) -> Iterator[StreamFrame]:
    """Score a video file, frame folder, camera or network stream frame by frame.

    Parameters
    ----------
    detector : BaseDetector
        A fitted detector (anything with ``score_frames`` and ``offset_``).
    source : int, str, path-like, ndarray or Video
        Camera index (``0``), URL (``rtsp://…``, ``http://…``), video file, frame
        folder, ``(T, H, W[, C])`` array or :class:`pyvad.Video`.
    hop : int, default=16
        New frames scored per window. Smaller means lower latency and more overhead
        (every window re-reads its ``past + future`` context frames).
    context : (int, int), optional
        ``(past, future)`` frames the detector needs around a frame; default
        :func:`temporal_context` of the detector.
    smoothing : {"causal", "centred"}, default="causal"
        How the detector's temporal smoothing is applied: to trailing frames (no added
        latency; the score of frame ``t`` is the offline score of ``t - d``, see
        :func:`smoothing_delay`) or centred as offline (identical scores, ``d`` frames
        more latency).
    threshold : float, optional
        Score above which a frame is abnormal; see :func:`resolve_threshold`.
    quantile : float, optional
        Threshold at this quantile of the training-frame scores instead.
    with_maps : bool, default=False
        Also compute pixel maps with the detector's ``score_maps``.
    fps : float, optional
        Frame rate, overriding the source's (timestamps of recorded sources). Must be a
        positive finite number, for cameras and streams as for recorded sources.
    max_frames : int, optional
        Stop after this many frames (a camera never ends by itself).

    Yields
    ------
    StreamFrame
        ``(index, timestamp, score, map, abnormal, frame)`` in frame order.

    Raises
    ------
    pyvad.exceptions.VideoReadError
        The source cannot be opened or a recorded frame cannot be decoded.
    pyvad.exceptions.InvalidVideoError
        ``fps`` is not a positive finite number.
    ValueError
        A bad parameter, a detector that is not fitted, ``with_maps`` for a detector
        without ``score_maps``, or per-video min-max normalisation.

    Notes
    -----
    Memory stays bounded by ``past + hop + future`` frames whatever the length of the
    stream. A frame's score is yielded after ``hop + future`` more frames have been
    read (plus ``d`` with ``smoothing="centred"``); the last frames of a finite source
    are scored when it ends, with the same edge handling as offline.

    Examples
    --------
    >>> from pyvad.methods import MotionBaselineDetector
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=1, n_frames=40, random_state=0)
    >>> det = MotionBaselineDetector().fit(train.videos)
    >>> frames = list(score_stream(det, test.videos[0], hop=8))
    >>> len(frames), frames[0].index, frames[-1].index
    (40, 0, 39)
    """
    if smoothing not in ("causal", "centred"):
        raise ValueError(f"smoothing must be 'causal' or 'centred', got {smoothing!r}")
    hop, limit = _check_hop(hop), _check_max_frames(max_frames)
    past, future = temporal_context(detector) if context is None else _check_context(context, "context")
    cut = resolve_threshold(detector, threshold=threshold, quantile=quantile)
    _refuse_test_statistics(detector)
    if smoothing == "centred":
        before, after = _smoothing_span(_fusion(detector))
        past, future, scorer_detector, trailing = past + before, future + after, detector, None
    else:
        scorer_detector, trailing = _without_smoothing(detector), _causal_filter(detector)
    reader = _open_source(source, fps)
    scorer = _WindowScorer(scorer_detector, reader.name, reader.fps, with_maps)
    return _stream(reader, scorer, trailing, cut, past=past, future=future, hop=hop, limit=limit)


def _emit(
    window: _Window, scorer: _WindowScorer, trailing: _TrailingFilter | None, threshold: float, start: int, stop: int
) -> Iterator[StreamFrame]:
    """Score stream frames ``start … stop - 1`` of ``window`` and yield them in order."""
    scores, maps = scorer(window, start, stop)
    for index, score, pixel_map in zip(range(start, stop), scores, maps):
        value = trailing(float(score)) if trailing is not None else float(score)
        position = index - window.first
        yield StreamFrame(index, window.timestamps[position], value, pixel_map, value > threshold,
                          window.frames[position])


def _stream(
    reader: Iterable[tuple[float, np.ndarray]],
    scorer: _WindowScorer,
    trailing: _TrailingFilter | None,
    threshold: float,
    *,
    past: int,
    future: int,
    hop: int,
    limit: int | None,
) -> Iterator[StreamFrame]:
    """The sliding-window loop of :func:`score_stream`."""
    window = _Window(0, deque(), deque())
    next_index = 0  # first frame not scored yet
    frames = iter(reader)
    try:
        for count, (timestamp, frame) in enumerate(frames, start=1):
            window.append(timestamp, frame)
            if window.end - next_index >= hop + future:
                yield from _emit(window, scorer, trailing, threshold, next_index, next_index + hop)
                next_index += hop
                window.drop_before(next_index - past)
            if limit is not None and count >= limit:
                break
    finally:
        frames.close()
    if window.end > next_index:
        yield from _emit(window, scorer, trailing, threshold, next_index, window.end)


# ---------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------


def abnormal_intervals(flags: Any, *, min_frames: int = 1) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` frame intervals where ``flags`` is true.

    Parameters
    ----------
    flags : array-like of shape (n_frames,)
        Per-frame booleans or 0/1 labels (e.g. ``scores > threshold``).
    min_frames : int, default=1
        Drop intervals shorter than this.

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> abnormal_intervals([0, 1, 1, 0, 0, 1])
    [(1, 2), (5, 5)]
    >>> abnormal_intervals([0, 1, 1, 0, 0, 1], min_frames=2)
    [(1, 2)]
    """
    padded = np.concatenate([[False], np.asarray(flags).astype(bool).ravel(), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(s), int(e) - 1) for s, e in zip(edges[::2], edges[1::2]) if e - s >= min_frames]


@dataclass(frozen=True)
class Alert:
    """The start or the end of an abnormal interval of a stream.

    Attributes
    ----------
    kind : {"start", "end"}
        ``"start"`` once the interval has lasted ``min_frames``; ``"end"`` at its
        first normal frame (or when the stream ends).
    start, end : int
        First and last abnormal frame (``end`` is ``None`` for a start alert).
    start_time, end_time : float
        Their timestamps in seconds (``end_time`` is ``None`` for a start alert).
    peak_score : float
        Highest score in the interval so far.
    """

    kind: Literal["start", "end"]
    start: int
    start_time: float
    end: int | None
    end_time: float | None
    peak_score: float


class AlertTracker:
    """Turn per-frame stream results into start/end alerts of abnormal intervals.

    Parameters
    ----------
    min_frames : int, default=1
        Consecutive abnormal frames needed before a start alert (debouncing).

    Examples
    --------
    >>> tracker = AlertTracker(min_frames=2)
    >>> alerts = []
    >>> for i, flag in enumerate([0, 1, 1, 1, 0, 1, 0]):
    ...     alerts += tracker.update(i, i / 10, float(flag), bool(flag))
    >>> alerts += tracker.close()
    >>> [(a.kind, a.start, a.end) for a in alerts]
    [('start', 1, None), ('end', 1, 3)]
    """

    def __init__(self, min_frames: int = 1) -> None:
        if isinstance(min_frames, bool) or not isinstance(min_frames, Integral) or min_frames < 1:
            raise ValueError(f"min_frames must be an integer >= 1, got {min_frames!r}")
        self.min_frames = int(min_frames)
        self._run: _Run | None = None

    def update(self, index: int, timestamp: float, score: float, abnormal: bool) -> list[Alert]:
        """Feed one frame; return the alerts it triggers (none, a start, or an end).

        Parameters
        ----------
        index : int
            Frame index.
        timestamp : float
            Frame time in seconds.
        score : float
            Frame score.
        abnormal : bool
            Whether the frame is above the threshold.

        Returns
        -------
        list of Alert
        """
        if not abnormal:
            return self.close()
        if self._run is None:
            self._run = _Run(index, timestamp)
        run = self._run
        run.extend(index, timestamp, score)
        if run.started or run.length < self.min_frames:
            return []
        run.started = True
        return [Alert("start", run.first, run.first_time, None, None, run.peak)]

    def close(self) -> list[Alert]:
        """End the current interval (call when the stream ends); its end alert if any."""
        run, self._run = self._run, None
        if run is None or not run.started:
            return []
        return [Alert("end", run.first, run.first_time, run.last, run.last_time, run.peak)]


@dataclass
class _Run:
    """A run of consecutive abnormal frames, summarised in constant memory."""

    first: int
    first_time: float
    last: int = -1
    last_time: float = 0.0
    peak: float = -math.inf
    length: int = 0
    started: bool = False

    def extend(self, index: int, timestamp: float, score: float) -> None:
        self.last, self.last_time = index, timestamp
        self.peak = max(self.peak, score)
        self.length += 1
