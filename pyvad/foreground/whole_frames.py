"""Whole frames as events: the extractor of frame-level methods such as AED-MAE.

:class:`WholeFrames` turns every frame of every video into one event whose box is the
whole frame. The event's "patch cube" is the frame resized to the method's input size,
optionally stacked with temporal neighbours (AED-MAE's released code stacks ``t - 3``,
``t``, ``t + 3``), and the event carries its **motion-gradient map** (the absolute
difference of consecutive frames) used to weight the reconstruction loss.

The output is a :class:`FrameEvents`, an :class:`~pyvad.events.EventSet` with one extra
array, ``motion``; everything that accepts an EventSet accepts it, so ``WholeFrames`` is
a regular first step of a pipeline::

    make_pipeline(WholeFrames(image_size=(80, 160)), MaskedAEDetector(), ScoreFusion())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from numbers import Integral
from typing import Any, Literal

import cv2
import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from pyvad.events import EventSet, join_arrays, neighbour_indices, normalize_offsets, normalize_patch_size
from pyvad.exceptions import InvalidVideoError
from pyvad.foreground.base import check_same_channels
from pyvad.video import Video, as_videos

__all__ = ["FrameEvents", "WholeFrames", "motion_gradients", "resize_frames"]

MotionMethod = Literal["paper", "released"]


@dataclass(eq=False)
class FrameEvents(EventSet):
    """An :class:`~pyvad.events.EventSet` of whole frames with their motion gradients.

    Parameters
    ----------
    motion : ndarray of shape (N, h, w, C), uint8, optional
        Motion-gradient magnitude of every event's frame at the patch size (grey levels
        0-255 per channel), see :func:`motion_gradients`.
    **kwargs
        The fields of :class:`~pyvad.events.EventSet`; ``boxes`` cover whole frames.
    """

    motion: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.motion is not None:
            expected = (len(self),) + self.patches.shape[2:]
            if self.motion.shape != expected or self.motion.dtype != np.uint8:
                raise ValueError(
                    f"FrameEvents.motion must be uint8 of shape {expected}, got {self.motion.dtype} {self.motion.shape}"
                )

    def _base_fields(self, event_set: EventSet) -> dict[str, Any]:
        return {f.name: getattr(event_set, f.name) for f in fields(EventSet)}

    def __getitem__(self, index: Any) -> FrameEvents:
        """Subset of the events, motion maps included (see :meth:`EventSet.__getitem__`)."""
        rows = np.arange(len(self))[[int(index)] if isinstance(index, (int, np.integer)) else index]
        subset = super().__getitem__(rows)
        motion = None if self.motion is None else np.asarray(self.motion[rows])
        return FrameEvents(**self._base_fields(subset), motion=motion)

    @classmethod
    def concat(cls, event_sets: Sequence[EventSet]) -> FrameEvents:
        """Join the frame events of different videos (all with or all without motion)."""
        joined = EventSet.concat(event_sets)
        motions = [getattr(s, "motion", None) for s in event_sets]
        if any(m is None for m in motions) and not all(m is None for m in motions):
            raise ValueError("cannot concatenate FrameEvents with and without motion maps")
        motion = None if motions[0] is None else join_arrays(motions)
        return cls(**{f.name: getattr(joined, f.name) for f in fields(EventSet)}, motion=motion)


_MIN_FRAMES_PER_THREAD = 8


def _for_each_frame(n_frames: int, work: Callable[[int], None]) -> None:
    """Call ``work(index)`` for every frame index, on as many threads as OpenCV uses.

    OpenCV's functions release the GIL, so the frames are split into contiguous blocks, one
    per thread: at least 8 frames to a thread, at most ``cv2.getNumThreads()`` threads
    (``cv2.setNumThreads(1)`` makes it serial). ``work`` must write only its own frame.
    """
    n_threads = max(1, min(cv2.getNumThreads(), n_frames // _MIN_FRAMES_PER_THREAD))
    if n_threads == 1:
        for index in range(n_frames):
            work(index)
        return
    bounds = np.linspace(0, n_frames, n_threads + 1).astype(int)

    def run_block(block: range) -> None:
        for index in block:
            work(index)

    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(run_block, [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]))


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 frames ``(T, H, W, C)`` to ``size = (h, w)``.

    Area interpolation when shrinking (no aliasing), bilinear when enlarging. The aspect
    ratio is not kept, as in the AED-MAE code.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
    size : (int, int)

    Returns
    -------
    ndarray of shape (T, h, w, C), uint8
    """
    h, w = size
    if frames.shape[1:3] == (h, w):
        return np.ascontiguousarray(frames)
    shrink = h * w < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = np.empty((len(frames), h, w, frames.shape[3]), dtype=np.uint8)

    def resize(index: int) -> None:
        out[index] = cv2.resize(frames[index], (w, h), interpolation=interpolation).reshape(h, w, -1)

    _for_each_frame(len(frames), resize)
    return out


def motion_gradients(frames: np.ndarray, method: MotionMethod = "paper", median_size: int = 3) -> np.ndarray:
    """Motion-gradient magnitude of every frame of one video.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C), uint8
        Consecutive frames of one video.
    method : {"paper", "released"}, default="paper"
        ``"paper"`` (Ristea et al., after Ionescu et al.): every frame is filtered with a
        ``median_size`` median filter, then ``|x_t - x_{t-1}|`` (frame 0 uses frame 1).
        ``"released"`` (the authors' code): ``|x_{t-1} - x_{t+1}|`` without filtering,
        the missing neighbour at each end replaced by frame ``t``.
    median_size : int, default=3
        Side of the median filter of ``"paper"``.

    Returns
    -------
    ndarray of shape (T, H, W, C), uint8
        Per-channel absolute differences in grey levels.

    Examples
    --------
    >>> frames = np.zeros((3, 6, 6, 1), np.uint8); frames[1, 1:5, 1:5] = 200
    >>> motion_gradients(frames)[1].max(), motion_gradients(frames, "released")[1].max()
    (np.uint8(200), np.uint8(0))
    """
    if len(frames) < 2:
        return np.zeros_like(frames)
    if method == "released":
        last = len(frames) - 1
        before = frames[np.clip(np.arange(len(frames)) - 1, 0, last)]
        after = frames[np.clip(np.arange(len(frames)) + 1, 0, last)]
        return cv2.absdiff(before.reshape(len(frames), -1), after.reshape(len(frames), -1)).reshape(frames.shape)
    filtered = np.empty_like(frames)

    def median(index: int) -> None:
        filtered[index] = cv2.medianBlur(frames[index], median_size).reshape(frames.shape[1:])

    _for_each_frame(len(frames), median)
    previous = np.concatenate([filtered[1:2], filtered[:-1]])
    return cv2.absdiff(filtered.reshape(len(frames), -1), previous.reshape(len(frames), -1)).reshape(frames.shape)


def _read_resized(video: Video, size: tuple[int, int], chunk_size: int, pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """All frames of ``video`` resized to ``size``, (T + before + after, h, w, C) uint8, with
    ``pad = (before, after)`` copies of the first and the last frame around them."""
    chunks = [resize_frames(chunk, size) for chunk in video.iter_chunks(chunk_size)]
    if not chunks:
        raise InvalidVideoError(f"video {video.name!r} has no frames")
    before, after = pad
    return np.concatenate([np.repeat(chunks[0][:1], before, axis=0), *chunks, np.repeat(chunks[-1][-1:], after, axis=0)])


def _evenly_spaced(offsets: tuple[int, ...]) -> bool:
    steps = np.diff(offsets)
    return bool((steps > 0).all() and len(set(steps.tolist())) <= 1)


def _stacks(padded: np.ndarray, offsets: tuple[int, ...], pad: tuple[int, int]) -> np.ndarray:
    """Frame stacks ``(T, S, h, w, C)`` of the frames inside ``padded`` (see :func:`_read_resized`).

    With evenly spaced offsets (``(0,)``, ``(-3, 0, 3)``) this is a read-only strided view, so
    stacking costs no memory; otherwise a copy. Either way a neighbour outside the video is
    the nearest frame of the video (the padding).
    """
    n = len(padded) - sum(pad)
    if not _evenly_spaced(offsets):
        return padded[neighbour_indices(np.arange(n), offsets, n) + pad[0]]
    step = offsets[1] - offsets[0] if len(offsets) > 1 else 0
    first = padded[pad[0] + offsets[0] :]
    frame_stride = padded.strides[0]
    return np.lib.stride_tricks.as_strided(first, shape=(n, len(offsets), *padded.shape[1:]),
                                           strides=(frame_stride, step * frame_stride, *padded.strides[1:]),
                                           writeable=False)


def _padding(offsets: tuple[int, ...]) -> tuple[int, int]:
    """Copies of the first and last frame the stacks of ``offsets`` reach beyond a video."""
    return max(0, -min(offsets)), max(0, max(offsets))


def _events_of(video: Video, padded: np.ndarray, offsets: tuple[int, ...], motion: np.ndarray | None) -> FrameEvents:
    """The frame events of one video (video id 0) over its padded resized frames."""
    pad = _padding(offsets)
    n = len(padded) - sum(pad)
    height, width = video.frame_size
    return FrameEvents(
        video_ids=np.zeros(n, np.int64),
        frame_indices=np.arange(n),
        boxes=np.tile(np.array([[0, 0, width, height]], np.float32), (n, 1)),
        offsets=offsets,
        patches=_stacks(padded, offsets, pad),
        n_frames=[n],
        video_names=[video.name],
        frame_sizes=[(height, width)],
        motion=motion,
    )


def _video_events(
    video: Video, size: tuple[int, int], offsets: tuple[int, ...], motion: MotionMethod | None,
    median_size: int, chunk_size: int,
) -> FrameEvents:
    """The frame events of one video (video id 0)."""
    pad = _padding(offsets)
    padded = _read_resized(video, size, chunk_size, pad)
    frames = padded[pad[0] : len(padded) - pad[1]]
    return _events_of(video, padded, offsets, None if motion is None else motion_gradients(frames, motion, median_size))


class _BackgroundReader:
    """Reads and resizes one video's frames into a padded array (see :func:`_read_resized`) on
    a background thread, for events stacked with ``offsets``.

    :meth:`ready` blocks until given events can be read from the array, :meth:`close` stops
    the reading (a caller that gives up must call it, or the thread reads to the end).
    """

    def __init__(self, video: Video, size: tuple[int, int], offsets: tuple[int, ...], chunk_size: int) -> None:
        if len(video) == 0:
            raise InvalidVideoError(f"video {video.name!r} has no frames")
        self.pad = _padding(offsets)
        self.padded = np.empty((len(video) + sum(self.pad), *size, video.shape[3]), np.uint8)
        self._written = 0
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(video, size, chunk_size), daemon=True,
                                        name=f"pyvad-read-{video.name}")
        self._thread.start()
        if not _evenly_spaced(offsets):  # the stacks are gathered (copied) from the complete frames
            self._wait(len(self.padded))

    def _read(self, video: Video, size: tuple[int, int], chunk_size: int) -> None:
        before = row = self.pad[0]
        try:
            for chunk in video.iter_chunks(chunk_size):
                if self._stop.is_set():
                    raise RuntimeError(f"reading video {video.name!r} was stopped")
                self.padded[row : row + len(chunk)] = resize_frames(chunk, size)
                if row == before:
                    self.padded[:before] = self.padded[before]
                row += len(chunk)
                self._publish(row)
            if row == before:
                raise InvalidVideoError(f"video {video.name!r} has no frames")
            self.padded[row:] = self.padded[row - 1]
            self._publish(len(self.padded))
        except BaseException as error:  # re-raised by _wait() in the thread that scores
            with self._condition:
                self._error = error
                self._condition.notify_all()

    def _publish(self, rows: int) -> None:
        with self._condition:
            self._written = rows
            self._condition.notify_all()

    def _wait(self, rows: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._written >= rows or self._error is not None)
            if self._error is not None:
                raise self._error
        if rows >= len(self.padded):
            self._thread.join()  # so that the thread no longer holds the frames once they are used

    def ready(self, n_events: int) -> None:
        """Block until the stacks of events ``0 … n_events - 1`` are complete; re-raise a read error."""
        n = len(self.padded) - sum(self.pad)
        self._wait(len(self.padded) if n_events >= n else self.pad[0] + n_events + self.pad[1])

    def close(self) -> None:
        """Stop reading (after the chunk in hand) and wait for the thread."""
        self._stop.set()
        self._thread.join()


def _streamed_video_events(
    video: Video, size: tuple[int, int], offsets: tuple[int, ...], chunk_size: int
) -> tuple[FrameEvents, _BackgroundReader]:
    """The frame events of one video, without motion maps, while its frames are still being read.

    Reading and resizing run on a background thread (OpenCV releases the GIL), so a caller
    that scores batch by batch overlaps the two. ``events.patches`` may be read only after
    ``reader.ready(k)`` for the events read; a caller that stops early calls ``reader.close()``.
    """
    reader = _BackgroundReader(video, size, offsets, chunk_size)
    return _events_of(video, reader.padded, offsets, None), reader


class WholeFrames(TransformerMixin, BaseEstimator):
    """Extractor: every frame becomes one event (box = whole frame), resized, with motion maps.

    Parameters
    ----------
    image_size : (int, int), default=(80, 160)
        ``(height, width)`` the frames are resized to (the network's input size).
    offsets : sequence of int, default=(0,)
        Frames stacked per event, relative to the event frame: ``(0,)`` is the paper's
        single-frame input, ``(-3, 0, 3)`` the released code's. A neighbour outside the
        video is replaced by the nearest frame.
    motion : {"paper", "released"} or None, default="paper"
        Motion-gradient maps to attach (see :func:`motion_gradients`); None skips them
        (enough for scoring, which does not use them).
    median_size : int, default=3
        Median filter side of ``motion="paper"``.
    n_jobs : int, optional
        Videos processed in parallel with joblib.
    chunk_size : int, default=64
        Frames decoded at once.

    Attributes
    ----------
    image_size_ : tuple of int
        Validated ``(height, width)``.
    offsets_ : tuple of int
        Validated offsets.

    Examples
    --------
    >>> from pyvad.synthetic import make_train_test
    >>> train, _ = make_train_test(n_train=1, n_test=1, n_frames=8)
    >>> events = WholeFrames(image_size=(32, 48), offsets=(-3, 0, 3)).fit_transform(train.videos)
    >>> len(events), events.patches.shape[1:], events.motion.shape[1:]
    (8, (3, 32, 48, 3), (32, 48, 3))
    """

    _parameter_constraints: dict = {
        "image_size": ["array-like"],
        "offsets": ["array-like"],
        "motion": [StrOptions({"paper", "released"}), None],
        "median_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        image_size: tuple[int, int] = (80, 160),
        *,
        offsets: Sequence[int] = (0,),
        motion: MotionMethod | None = "paper",
        median_size: int = 3,
        n_jobs: int | None = None,
        chunk_size: int = 64,
    ) -> None:
        self.image_size = image_size
        self.offsets = offsets
        self.motion = motion
        self.median_size = median_size
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size

    def fit(self, X: Any = None, y: Any = None) -> WholeFrames:
        """Validate the parameters (nothing is learned from data).

        Parameters
        ----------
        X, y : ignored
            Accepted for pipeline compatibility.

        Returns
        -------
        self
        """
        self._validate_params()
        try:
            self.image_size_ = normalize_patch_size(tuple(self.image_size))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"image_size must be (height, width) positive ints, got {self.image_size!r}") from exc
        self.offsets_ = normalize_offsets(self.offsets)
        if self.median_size % 2 == 0:
            raise ValueError(f"median_size must be odd, got {self.median_size}")
        return self

    def transform(self, X: Any) -> FrameEvents:
        """One event per frame of every video.

        Parameters
        ----------
        X : sequence of videos
            Anything :func:`pyvad.video.as_videos` accepts; frame sizes may differ.

        Returns
        -------
        FrameEvents
            Events in video order, frame by frame.
        """
        check_is_fitted(self, "image_size_")
        videos = as_videos(X)
        if not videos:
            raise InvalidVideoError("WholeFrames.transform got no videos")
        check_same_channels(videos, "WholeFrames.transform")
        jobs = (
            delayed(_video_events)(video, self.image_size_, self.offsets_, self.motion, self.median_size,
                                   self.chunk_size)
            for video in videos
        )
        return FrameEvents.concat(Parallel(n_jobs=self.n_jobs)(jobs))

    def _stream(self, video: Video) -> tuple[FrameEvents, _BackgroundReader]:
        """One video's events (no motion maps) and their reader, which reads them on a background
        thread while the caller scores them (see :func:`_streamed_video_events`)."""
        check_is_fitted(self, "image_size_")
        return _streamed_video_events(as_videos([video])[0], self.image_size_, self.offsets_, self.chunk_size)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags
