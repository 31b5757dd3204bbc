"""The base every foreground extractor shares: chunked reading, cropping, EventSet building.

A concrete extractor only says *where the objects are*: its :meth:`fit` builds
a picklable :class:`BoxSource`, which hands out, per video, a function that
returns the boxes of a run of frames.  Everything else -- reading a video in
chunks with enough temporal context, cropping the patch cube at the requested
offsets, optional flow crops, parallelism over videos with joblib and the
optional memory-mapped storage -- lives here once.
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from pyvad.events import EventSet, crop_patches, neighbour_indices, normalize_offsets, normalize_patch_size
from pyvad.exceptions import InvalidVideoError
from pyvad.flow import make_flow, video_frame_flow
from pyvad.video import Video, as_videos

__all__ = ["BaseForeground", "BoxSource", "ChunkBoxes"]

ChunkBoxes = Callable[[np.ndarray, int, int, int], list[np.ndarray]]
"""``boxes(frames, first, start, stop)``: the ``(K, 4)`` float32 boxes of every
frame ``t`` in ``[start, stop)``; ``frames[i]`` is frame ``first + i`` and covers
``[start - before, stop + after)`` clipped to the video (see :attr:`BoxSource.context`)."""


class BoxSource(ABC):
    """Where the objects are: a picklable factory of per-video box functions.

    Attributes
    ----------
    context : tuple of int
        ``(before, after)``: how many frames around ``t`` the boxes of frame
        ``t`` look at (e.g. ``(1, 1)`` for frame differences).
    """

    context: tuple[int, int] = (0, 0)

    @abstractmethod
    def for_video(self, video: Video, index: int) -> ChunkBoxes:
        """Box function for one video (``index`` = its position in the input).

        Parameters
        ----------
        video : Video
            The video to find objects in.
        index : int
            Position of ``video`` in the sequence passed to ``transform``.

        Returns
        -------
        ChunkBoxes
            ``boxes(frames, first, start, stop)``: the boxes of every frame in
            ``[start, stop)`` (see :data:`ChunkBoxes`).
        """

    def check_videos(self, videos: Sequence[Video]) -> None:
        """Raise a clear error if this source cannot serve ``videos`` (default: any).

        Parameters
        ----------
        videos : sequence of Video
            All videos of one ``transform`` call, in order.

        Raises
        ------
        InvalidVideoError
            In subclasses, if the source has no boxes for these videos.
        """


def check_same_channels(videos: Sequence[Video], where: str) -> int:
    """Return the channel count shared by ``videos``; InvalidVideoError naming the odd video otherwise.

    Patches of 1- and 3-channel videos cannot be stacked into one EventSet.
    """
    first = videos[0]
    for video in videos[1:]:
        if video.n_channels != first.n_channels:
            raise InvalidVideoError(
                f"{where}: video {video.name!r} has {video.n_channels} channel(s) but video {first.name!r} has "
                f"{first.n_channels}; give all videos in colour, or all with Video(..., grayscale=True)"
            )
    return first.n_channels


def frame_at(frames: np.ndarray, first: int, index: int, n_frames: int) -> np.ndarray:
    """Frame ``index`` (clipped to the video) from a block starting at frame ``first``."""
    return frames[min(max(index, 0), n_frames - 1) - first]


class BaseForeground(TransformerMixin, BaseEstimator, ABC):
    """Base class of the foreground extractors (videos -> :class:`~pyvad.events.EventSet`).

    Subclasses define ``__init__`` with all their parameters (scikit-learn
    rules) and implement :meth:`_build_source`.  Common parameters:

    Parameters
    ----------
    patch_size : int or (int, int), default 32
        Side (or ``(height, width)``) of the patches.
    offsets : sequence of int, default (0,)
        Temporal offsets of the cube: ``(-1, 0, 1)`` for CAFE,
        ``(-4, -3, -2, -1, 0)`` for PKG-Net/VEC.  Out-of-video neighbours are
        replaced by the nearest valid frame.
    with_flow : bool, default False
        Also crop optical flow (see :mod:`pyvad.flow`) for every patch.
    flow : str or flow estimator, default "dis"
        Flow method when ``with_flow``: ``"dis"``, ``"farneback"``, ``"raft"``
        or an instance from :mod:`pyvad.flow`.
    n_jobs : int, optional
        Videos processed in parallel with joblib (``None``: one process; any
        joblib backend, e.g. Dask or Ray, can be used with ``parallel_config``).
    chunk_size : int, default 64
        Frames read at once; bounds memory for long videos.
    cache_dir : str or path, optional
        When given, patches (and flow) are written to memory-mapped files in
        this folder instead of being held in RAM.
    """

    _parameter_constraints: dict = {
        "patch_size": ["array-like", Interval(Integral, 1, None, closed="left")],
        "offsets": ["array-like"],
        "with_flow": ["boolean"],
        "flow": [str, object],
        "n_jobs": [Integral, None],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "cache_dir": [str, os.PathLike, None],
    }

    @abstractmethod
    def _build_source(self, videos: list[Video] | None) -> BoxSource:
        """Validate parameters, learn what needs learning and return the box source."""

    def fit(self, X: Any = None, y: Any = None) -> BaseForeground:
        """Validate the parameters and learn what the extractor needs.

        Parameters
        ----------
        X : sequence of videos, optional
            Training videos (anything :func:`pyvad.video.as_videos` accepts);
            only extractors that learn from data look at them.
        y : ignored
            Accepted for pipeline compatibility.

        Returns
        -------
        self
        """
        self._validate_params()
        self.offsets_ = normalize_offsets(self.offsets)
        self.patch_size_ = normalize_patch_size(self.patch_size)
        self.flow_ = make_flow(self.flow) if self.with_flow else None
        self.source_ = self._build_source(None if X is None else as_videos(X))
        return self

    def transform(self, X: Any) -> EventSet:
        """Extract the events of every video.

        Parameters
        ----------
        X : sequence of videos
            Anything :func:`pyvad.video.as_videos` accepts.

        Returns
        -------
        EventSet
            Events of all videos in input order; videos without events are
            still described (``n_frames``, ``video_names``, ``frame_sizes``).
        """
        check_is_fitted(self, "source_")
        videos = as_videos(X)
        if not videos:
            raise InvalidVideoError(f"{type(self).__name__}.transform got no videos")
        check_same_channels(videos, f"{type(self).__name__}.transform")
        self.source_.check_videos(videos)
        jobs = (
            delayed(extract_video_events)(
                video, index, self.source_, self.offsets_, self.patch_size_, self.flow_, self.chunk_size
            )
            for index, video in enumerate(videos)
        )
        parts = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        if self.cache_dir is None:
            return EventSet.concat(list(parts))
        return _concat_to_memmap(parts, Path(self.cache_dir))

    def __sklearn_tags__(self):  # noqa: D105 - scikit-learn hook
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


def _context_margins(source: BoxSource, offsets: tuple[int, ...], with_flow: bool) -> tuple[int, int]:
    """Frames to read before/after a chunk for detection, cube and flow."""
    before = max(source.context[0], -min(offsets), 0) + int(with_flow)
    after = max(source.context[1], max(offsets), 0) + int(with_flow)
    return before, after


def _check_block(video: Video, frames: np.ndarray, first: int) -> np.ndarray:
    """Validate a block read from ``video`` (uint8, (n, H, W, C))."""
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise InvalidVideoError(
            f"video {video.name!r}: frames {first}.. must be uint8 (n, H, W, C), got {frames.dtype} {frames.shape}"
        )
    return frames


def extract_video_events(
    video: Video,
    index: int,
    source: BoxSource,
    offsets: tuple[int, ...],
    patch_size: tuple[int, int],
    flow: Any,
    chunk_size: int,
) -> EventSet:
    """Events of one video (runs in a joblib worker).

    Parameters
    ----------
    video : Video
    index : int
        Position of the video in the input (for sources matched by position).
    source : BoxSource
    offsets : tuple of int
    patch_size : (int, int)
    flow : flow estimator or None
    chunk_size : int

    Returns
    -------
    EventSet
        Describing this one video.
    """
    n_frames = len(video)
    if n_frames == 0:
        raise InvalidVideoError(f"video {video.name!r} has no frames")
    boxes_of = source.for_video(video, index)
    before, after = _context_margins(source, offsets, flow is not None)
    ids, boxes, patches, flows = [], [], [], []
    for start in range(0, n_frames, chunk_size):
        stop = min(start + chunk_size, n_frames)
        first = max(start - before, 0)
        frames = _check_block(video, np.asarray(video.read(first, min(stop + after, n_frames))), first)
        flow_cache: dict[int, np.ndarray] = {}
        for t, frame_boxes in zip(range(start, stop), boxes_of(frames, first, start, stop)):
            if len(frame_boxes) == 0:
                continue
            cube = neighbour_indices(t, offsets, n_frames)[0]
            patches.append(_crop_cube([frame_at(frames, first, s, n_frames) for s in cube], frame_boxes, patch_size))
            if flow is not None:
                fields = [_cached_flow(flow_cache, flow, frames, first, s, n_frames) for s in cube]
                flows.append(_crop_cube(fields, frame_boxes, patch_size).astype(np.float16))
            ids.append(np.full(len(frame_boxes), t, dtype=np.int64))
            boxes.append(frame_boxes)
    return _video_event_set(video, offsets, patch_size, ids, boxes, patches, flows if flow is not None else None)


def _crop_cube(images: list[np.ndarray], boxes: np.ndarray, patch_size: tuple[int, int]) -> np.ndarray:
    """``(K, len(images), h, w, C)`` crops of every box from every image of the cube."""
    return np.stack([crop_patches(image, boxes, patch_size) for image in images], axis=1)


def _cached_flow(cache: dict[int, np.ndarray], flow: Any, frames: np.ndarray, first: int, index: int, n_frames: int) -> np.ndarray:
    """Flow of frame ``index``, computed once per chunk."""
    if index not in cache:
        cache[index] = video_frame_flow(flow, frames, first, index, n_frames)
    return cache[index]


def _video_event_set(
    video: Video,
    offsets: tuple[int, ...],
    patch_size: tuple[int, int],
    frame_ids: list[np.ndarray],
    boxes: list[np.ndarray],
    patches: list[np.ndarray],
    flows: list[np.ndarray] | None,
) -> EventSet:
    """Assemble the per-frame pieces of one video into an EventSet."""
    meta = dict(n_frames=[len(video)], video_names=[video.name], frame_sizes=[video.frame_size])
    if not frame_ids:
        return EventSet.empty(
            **meta, offsets=offsets, patch_size=patch_size, n_channels=video.n_channels, with_flow=flows is not None
        )
    frame_indices = np.concatenate(frame_ids)
    return EventSet(
        video_ids=np.zeros(len(frame_indices), np.int64),
        frame_indices=frame_indices,
        boxes=np.concatenate(boxes),
        offsets=offsets,
        patches=np.concatenate(patches),
        flow=None if flows is None else np.concatenate(flows),
        **meta,
    )


def _open_raw(path: Path, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Read-only memmap of a raw file (an in-memory empty array when there are no rows)."""
    if shape[0] == 0:
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


def _concat_to_memmap(parts: Iterable[EventSet], cache_dir: Path) -> EventSet:
    """Concatenate per-video EventSets, streaming patches/flow to memory-mapped files.

    Only one video's patches are held in memory at a time; the result's
    ``patches`` (and ``flow``) are read-only ``numpy.memmap`` arrays backed by
    ``<cache_dir>/events-<random>.patches`` (``.flow``).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = cache_dir / f"events-{uuid.uuid4().hex}"
    columns: dict[str, list] = {k: [] for k in ("video_ids", "frame_indices", "boxes", "n_frames", "frame_sizes")}
    names: list[str] = []
    with open(f"{stem}.patches", "wb") as patch_file, open(f"{stem}.flow", "wb") as flow_file:
        for part in parts:
            patch_file.write(np.ascontiguousarray(part.patches).tobytes())
            if part.flow is not None:
                flow_file.write(np.ascontiguousarray(part.flow).tobytes())
            columns["video_ids"].append(part.video_ids + len(names))
            for key in ("frame_indices", "boxes", "n_frames", "frame_sizes"):
                columns[key].append(getattr(part, key))
            names.extend(part.video_names)
            trailing, has_flow, offsets = part.patches.shape[1:], part.flow is not None, part.offsets
    arrays = {k: np.concatenate(v) for k, v in columns.items()}
    shape = (len(arrays["video_ids"]),) + trailing
    if not has_flow:
        os.remove(f"{stem}.flow")
    return EventSet(
        offsets=offsets,
        patches=_open_raw(Path(f"{stem}.patches"), np.uint8, shape),
        flow=_open_raw(Path(f"{stem}.flow"), np.float16, shape[:4] + (2,)) if has_flow else None,
        video_names=names,
        **arrays,
    )
