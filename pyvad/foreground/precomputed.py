"""Boxes brought by the user (Cascade R-CNN, YOLO ... output, or VEC's released boxes)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils._param_validation import HasMethods, StrOptions

from pyvad.exceptions import InvalidVideoError
from pyvad.foreground._boxes import clip_boxes, empty_boxes
from pyvad.foreground.base import BaseForeground, BoxSource, ChunkBoxes
from pyvad.interop import BOX_FILE_READERS, is_data_frame, read_csv_boxes
from pyvad.video import Video

__all__ = ["PrecomputedBoxes", "BoxTable", "load_box_table"]


@dataclass
class BoxTable:
    """Boxes of several clips in flat arrays (the layout of ``boxes_vec/*.npz``).

    Parameters
    ----------
    boxes : ndarray of shape (N, 4), float32
        ``x1, y1, x2, y2``.
    video : ndarray of shape (N,), int64
        0-based clip index of every box.
    frame : ndarray of shape (N,), int64
        0-based frame index of every box within its clip.
    clips : tuple of str or None
        Clip names (index = clip index), when known.
    n_clips : int
        Number of clips (clips without boxes included).
    """

    boxes: np.ndarray
    video: np.ndarray
    frame: np.ndarray
    clips: tuple[str, ...] | None
    n_clips: int

    def clip_rows(self, clip: int) -> tuple[np.ndarray, np.ndarray]:
        """``(frame, boxes)`` of one clip.

        Parameters
        ----------
        clip : int
            0-based clip index.

        Returns
        -------
        frame : ndarray of shape (K,), int64
            Frame index of every box of the clip, in table order.
        boxes : ndarray of shape (K, 4), float32
            The clip's boxes; ``K`` is 0 for a clip without boxes.
        """
        rows = self.video == clip
        return self.frame[rows], self.boxes[rows]


def _table_from_mapping(data: Mapping[str, Any], label: str) -> BoxTable:
    missing = {"boxes", "video", "frame"} - set(data)
    if missing:
        raise ValueError(f"PrecomputedBoxes: {label} lacks the arrays {sorted(missing)} (expected boxes, video, frame)")
    boxes = np.asarray(data["boxes"], dtype=np.float32)
    video = np.asarray(data["video"], dtype=np.int64).reshape(-1)
    frame = np.asarray(data["frame"], dtype=np.int64).reshape(-1)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes) == len(video) == len(frame):
        raise ValueError(
            f"PrecomputedBoxes: {label} must hold boxes (N, 4), video (N,) and frame (N,); "
            f"got {boxes.shape}, {video.shape}, {frame.shape}"
        )
    if len(video) and (video.min() < 0 or frame.min() < 0):
        raise ValueError(f"PrecomputedBoxes: {label} has negative video or frame indices")
    clips = tuple(str(c) for c in np.asarray(data["clips"]).reshape(-1)) if "clips" in data else None
    if clips is not None and len(video) and video.max() >= len(clips):
        raise ValueError(f"PrecomputedBoxes: {label} has boxes of video {int(video.max())} but names only "
                         f"{len(clips)} clips")
    n_clips = len(clips) if clips is not None else int(video.max(initial=-1)) + 1
    return BoxTable(boxes, video, frame, clips, n_clips)


def _table_from_lists(per_video: Sequence[Sequence[Any]]) -> BoxTable:
    boxes, video, frame = [empty_boxes()], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for v, per_frame in enumerate(per_video):
        for t, frame_boxes in enumerate(per_frame):
            b = np.asarray(frame_boxes, dtype=np.float32)
            if b.size % 4:
                raise ValueError(
                    f"PrecomputedBoxes: boxes of video {v}, frame {t} must be (K, 4) x1, y1, x2, y2; got shape {b.shape}"
                )
            b = b.reshape(-1, 4)
            boxes.append(b)
            video.append(np.full(len(b), v, np.int64))
            frame.append(np.full(len(b), t, np.int64))
    return BoxTable(np.concatenate(boxes), np.concatenate(video), np.concatenate(frame), None, len(per_video))


def load_box_table(boxes: Any) -> BoxTable:
    """Read boxes from a file, a mapping of arrays, a DataFrame or per-video lists.

    Parameters
    ----------
    boxes : str, path, mapping, DataFrame or sequence
        - path to an ``.npz`` with ``boxes`` (N, 4), ``video`` (N,), ``frame``
          (N,) and optionally ``clips`` (clip names), as ``boxes_vec/*.npz``;
        - path to a ``.json`` (COCO-style detections), ``.txt`` (MOT-style, one
          video) or ``.csv`` (``video,frame,x1,y1,x2,y2[,score]``) file, read
          with the defaults of :func:`pyvad.interop.read_coco_boxes`,
          :func:`~pyvad.interop.read_mot_boxes` or
          :func:`~pyvad.interop.read_csv_boxes` (call those for their options,
          such as a score threshold, and pass the mapping they return);
        - a pandas DataFrame with the CSV columns;
        - a mapping with the same keys;
        - a sequence (one item per video) of sequences (one item per frame) of
          ``(K, 4)`` box arrays.

    Returns
    -------
    BoxTable

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the arrays have the wrong shapes.
    """
    if isinstance(boxes, (str, os.PathLike)):
        path = Path(boxes)
        if not path.is_file():
            raise FileNotFoundError(f"PrecomputedBoxes: box file {str(path)!r} does not exist")
        reader = BOX_FILE_READERS.get(path.suffix.lower())
        if reader is not None:
            return _table_from_mapping(reader(path), repr(str(path)))
        with np.load(path, allow_pickle=False) as data:
            return _table_from_mapping(dict(data), repr(str(path)))
    if is_data_frame(boxes):
        return _table_from_mapping(read_csv_boxes(boxes), "the DataFrame")
    if isinstance(boxes, Mapping):
        return _table_from_mapping(boxes, "the mapping")
    if isinstance(boxes, Sequence):
        return _table_from_lists(boxes)
    raise TypeError(f"PrecomputedBoxes: boxes must be a path, a mapping, a DataFrame or per-video lists, got {type(boxes).__name__}")


def _clip_name(video_name: str, clips: Sequence[str]) -> str | None:
    """The clip of a video: its full name (``ped2/test/01``) or else its last path part (``01``)."""
    for candidate in (video_name, Path(video_name).name):
        if candidate in clips:
            return candidate
    return None


def _check_boxes_fit(video: Video, frames: np.ndarray, boxes: np.ndarray) -> None:
    """Refuse boxes that are not finite, have no area, or lie outside the video's frames.

    Such boxes would otherwise be cropped into meaningless patches; a box outside the
    frame usually means boxes computed at another resolution.
    """
    height, width = video.frame_size
    x1, y1, x2, y2 = boxes.T
    bad_value = ~np.isfinite(boxes).all(axis=1)
    empty = (x2 <= x1) | (y2 <= y1)
    outside = (x1 >= width) | (y1 >= height) | (x2 <= 0) | (y2 <= 0)
    for problem, rows in (("is not finite", bad_value), ("has no area (needs x2 > x1 and y2 > y1)", empty),
                          (f"lies outside the {height}x{width} (HxW) frame", outside)):
        if rows.any():
            row = int(np.flatnonzero(rows)[0])
            raise InvalidVideoError(
                f"PrecomputedBoxes: video {video.name!r}, frame {int(frames[row])}: box {boxes[row].tolist()} "
                f"{problem}; boxes must be pixel x1, y1, x2, y2 at the video's resolution"
            )


@dataclass
class _PrecomputedSource(BoxSource):
    table: BoxTable
    match: str
    #: Whether the videos of the current ``transform`` find their clips by name, decided for
    #: all of them at once by :meth:`check_videos` (``"auto"`` never mixes names and positions).
    by_name: bool = False

    def _by_name(self, videos: Sequence[Video]) -> bool:
        clips = self.table.clips or ()
        found = [_clip_name(v.name, clips) is not None for v in videos]
        if self.match == "name" and not all(found):
            missing = [v.name for v, ok in zip(videos, found) if not ok]
            raise InvalidVideoError(f"PrecomputedBoxes: no boxes for the videos {missing} (known clips: {sorted(clips)})")
        return self.match == "name" or (self.match == "auto" and bool(found) and all(found))

    def check_videos(self, videos: Sequence[Video]) -> None:
        self.by_name = self._by_name(videos)
        if not self.by_name and len(videos) != self.table.n_clips:
            raise InvalidVideoError(
                f"PrecomputedBoxes: boxes are given for {self.table.n_clips} clips but {len(videos)} videos were passed, "
                "and the video names do not all match the clip names; pass the same videos in the same order"
            )

    def _clip_index(self, video: Video, index: int) -> int:
        if not self.by_name:
            return index
        return self.table.clips.index(_clip_name(video.name, self.table.clips))

    def for_video(self, video: Video, index: int) -> ChunkBoxes:
        frames, boxes = self.table.clip_rows(self._clip_index(video, index))
        if len(frames) and frames.max() >= len(video):
            raise InvalidVideoError(
                f"PrecomputedBoxes: video {video.name!r} has {len(video)} frames but boxes are given for frame {frames.max()}"
            )
        height, width = video.frame_size
        _check_boxes_fit(video, frames, boxes)
        per_frame = {int(t): clip_boxes(boxes[frames == t], height, width) for t in np.unique(frames)}

        def lookup(block: np.ndarray, first: int, start: int, stop: int) -> list[np.ndarray]:
            return [per_frame.get(t, empty_boxes()) for t in range(start, stop)]

        return lookup


class PrecomputedBoxes(BaseForeground):
    """Events from boxes computed elsewhere (a detector's output, VEC's released boxes).

    Parameters
    ----------
    boxes : str, path, mapping, DataFrame or sequence
        See :func:`load_box_table`: an ``.npz`` in the ``boxes_vec`` layout
        (``boxes``, ``video``, ``frame``, optional ``clips``), a COCO-style
        ``.json``, MOT-style ``.txt`` or ``.csv`` box file (see
        :mod:`pyvad.interop`), the same arrays in a mapping (what the
        :mod:`pyvad.interop` readers return), a DataFrame, or per-video lists of
        per-frame ``(K, 4)`` arrays. Required;
        the default ``None`` exists only so the estimator can be constructed
        without arguments (scikit-learn convention) and is rejected at ``fit``.
    match : {"auto", "name", "order"}, default "auto"
        How videos find their boxes: ``"name"`` -- the video name (or else its
        last path part) equals a clip name; ``"order"`` -- the i-th video gets clip
        i (then the numbers of videos and clips must agree); ``"auto"`` -- by
        name when every video name is a known clip, else by order.
    patch_size, offsets, with_flow, flow, n_jobs, chunk_size, cache_dir
        See :class:`~pyvad.foreground.base.BaseForeground`.

    Attributes
    ----------
    source_ : BoxSource
        The loaded box table.

    Examples
    --------
    >>> import numpy as np
    >>> video = np.zeros((3, 48, 48, 3), np.uint8)
    >>> boxes = [[np.array([[4, 4, 20, 30]]), [], np.array([[0, 0, 8, 8]])]]
    >>> events = PrecomputedBoxes(boxes).fit().transform([video])
    >>> events.frame_indices.tolist()
    [0, 2]
    """

    _parameter_constraints: dict = {
        **BaseForeground._parameter_constraints,
        "boxes": [str, os.PathLike, Mapping, list, tuple, HasMethods(["to_dict"]), None],
        "match": [StrOptions({"auto", "name", "order"})],
    }

    def __init__(
        self,
        boxes: Any = None,
        *,
        match: str = "auto",
        patch_size: int | Sequence[int] = 32,
        offsets: Sequence[int] = (0,),
        with_flow: bool = False,
        flow: Any = "dis",
        n_jobs: int | None = None,
        chunk_size: int = 64,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.boxes = boxes
        self.match = match
        self.patch_size = patch_size
        self.offsets = offsets
        self.with_flow = with_flow
        self.flow = flow
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir

    def _build_source(self, videos: list[Video] | None) -> BoxSource:
        if self.boxes is None:
            raise ValueError(
                "PrecomputedBoxes needs boxes=: an .npz file (boxes, video, frame arrays), "
                "a mapping of those arrays, or per-video lists of per-frame (K, 4) box arrays"
            )
        return _PrecomputedSource(load_box_table(self.boxes), self.match)
