"""Lazy, streamed access to videos: arrays, tensors, video files and frame folders.

Every other pyvad module reads frames through :class:`Video`. A frame is a ``uint8``
array of shape ``(H, W, C)`` with ``C`` in {1, 3}, colour order RGB (OpenCV's BGR is
converted once, here).

Reading from disk is lazy and bounded in memory:

- constructing a :class:`Video` from a file or folder reads metadata only (frame count,
  frame rate, and the size of the first frame);
- iteration (``for frame in video``, :meth:`Video.iter_chunks`) decodes frames one after
  the other with one ``cv2.VideoCapture`` per iteration, without seeking per frame;
- random access (``video[i]``) keeps one capture per video and seeks with
  ``CAP_PROP_POS_FRAMES`` only when the wanted frame is not a few frames ahead;
- slicing (``video[10:100:2]``) returns a view that reads nothing until iterated.

Frame count of video files
--------------------------
``len(video)`` is the count the container announces (``CAP_PROP_FRAME_COUNT``). When
the container announces none, the file is decoded once at construction to count its
frames. A file that ends before the announced count (truncated or corrupt) raises
:class:`~pyvad.exceptions.VideoReadError` naming the file and the first frame that could
not be decoded; frames past the announced count are never read.
"""

from __future__ import annotations

import copy
import math
import operator
import os
import re
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from types import TracebackType
from typing import Any, Union

import cv2
import numpy as np

from pyvad.exceptions import (
    FrameSizeMismatchError,
    InvalidVideoError,
    VideoReadError,
    VideoWriteError,
)

__all__ = [
    "DEFAULT_FPS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Video",
    "VideoWriteError",
    "VideoWriter",
    "as_videos",
    "natural_key",
    "write_video",
]

DEFAULT_FPS = 25.0
"""Frame rate used when neither the caller nor the container gives one."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"})
"""File suffixes (case-insensitive) read as frames of a frame folder."""

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v"})
"""File suffixes :class:`VideoWriter` writes as a video file (any other path is refused)."""

_MAX_FORWARD_DECODE = 16
"""Random access decodes through at most this many frames before it seeks instead."""

PathLike = Union[str, "os.PathLike[str]"]


# ---------------------------------------------------------------------------
# Validation of in-memory frames
# ---------------------------------------------------------------------------


def _first_bad_frame(bad: np.ndarray) -> int:
    """Index along the first axis of the first frame where ``bad`` holds a True."""
    return int(np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))[0])


def _float_to_uint8(frames: np.ndarray, label: str, first_index: int) -> np.ndarray:
    """Scale float frames in [0, 1] to uint8, refusing NaN, inf and values outside."""
    not_finite = ~np.isfinite(frames)
    if not_finite.any():
        index = first_index + _first_bad_frame(not_finite)
        raise InvalidVideoError(f"{label}: frame {index} contains NaN or inf values.")
    outside = (frames < 0) | (frames > 1)
    if outside.any():
        index = first_index + _first_bad_frame(outside)
        raise InvalidVideoError(
            f"{label}: float frames must lie in [0, 1], but frame {index} has values in "
            f"[{frames[index - first_index].min():g}, {frames[index - first_index].max():g}]."
        )
    return np.rint(frames * 255.0).astype(np.uint8)


def _int_to_uint8(frames: np.ndarray, label: str, first_index: int) -> np.ndarray:
    """Cast integer frames to uint8, refusing values outside [0, 255]."""
    outside = (frames < 0) | (frames > 255)
    if outside.any():
        index = first_index + _first_bad_frame(outside)
        raise InvalidVideoError(
            f"{label}: integer frames must lie in [0, 255], frame {index} does not "
            f"(dtype {frames.dtype})."
        )
    return frames.astype(np.uint8)


def _to_uint8(frames: np.ndarray, label: str, first_index: int = 0) -> np.ndarray:
    """Return ``frames`` (T, ...) as uint8: uint8 as is, bool as 0/255, floats in [0, 1]
    scaled by 255, integers in [0, 255] cast; anything else raises InvalidVideoError."""
    kind = frames.dtype.kind
    if frames.dtype == np.uint8:
        return frames
    if kind == "b":
        return frames.astype(np.uint8) * np.uint8(255)
    if kind == "f":
        return _float_to_uint8(frames, label, first_index)
    if kind in "iu":
        return _int_to_uint8(frames, label, first_index)
    raise InvalidVideoError(
        f"{label}: frames must be uint8, bool, integers in [0, 255] or floats in [0, 1]; "
        f"got dtype {frames.dtype}."
    )


def _refuse_single_frame(frames: np.ndarray, label: str) -> None:
    """Raise InvalidVideoError when a 3-D array looks like one (H, W, C) frame, not a video."""
    if frames.ndim == 3 and frames.shape[-1] in (1, 3, 4) and min(frames.shape[:2]) >= 16:
        # An (H, W, C) frame would otherwise be read as H grey frames W pixels wide; no real
        # grey video is 1-4 pixels wide, while tiny test videos (T < 16) stay accepted.
        raise InvalidVideoError(
            f"{label}: shape {frames.shape} looks like one (H, W, C) frame, not a video; pass a video as "
            "(T, H, W) or (T, H, W, C), e.g. frame[np.newaxis] for a single frame."
        )


def _check_frames_array(frames: np.ndarray, label: str) -> np.ndarray:
    """Validate a (T, H, W) or (T, H, W, C) array and return it as uint8 (T, H, W, C)."""
    if frames.ndim not in (3, 4):
        raise InvalidVideoError(
            f"{label}: expected an array of shape (T, H, W) or (T, H, W, C), got "
            f"{frames.ndim} dimensions (shape {frames.shape})."
        )
    _refuse_single_frame(frames, label)
    if frames.ndim == 3:
        frames = frames[..., np.newaxis]
    if frames.shape[-1] not in (1, 3):
        raise InvalidVideoError(
            f"{label}: frames must have 1 or 3 channels (RGB), got {frames.shape[-1]} "
            f"(shape {frames.shape})."
        )
    if 0 in frames.shape:
        raise InvalidVideoError(f"{label}: the video is empty (shape {frames.shape}).")
    return _to_uint8(frames, label)


def _check_fps(fps: Any, label: str) -> float:
    """Return ``fps`` as a positive finite float or raise InvalidVideoError."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        raise InvalidVideoError(f"{label}: fps must be a positive number, got {fps!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise InvalidVideoError(f"{label}: fps must be a positive number, got {fps!r}.")
    return value


def _is_tensor(obj: Any) -> bool:
    """True for a torch.Tensor, detected without importing torch."""
    return type(obj).__module__.split(".")[0] == "torch" and hasattr(obj, "detach")


def _tensor_to_numpy(tensor: Any) -> np.ndarray:
    """Copy a tensor (any device, float16/bfloat16 included) to a NumPy array."""
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.numpy()


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    """A (H, W, 1) frame as (H, W, 3) RGB; (H, W, 3) frames are returned as they are."""
    if frame.shape[-1] == 1:
        return np.repeat(frame, 3, axis=-1)
    return frame


def _to_gray(frame: np.ndarray) -> np.ndarray:
    """An RGB (H, W, 3) frame as luminance (H, W, 1); 1-channel frames pass through."""
    if frame.shape[-1] == 1:
        return frame
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., np.newaxis]


# ---------------------------------------------------------------------------
# Frame sources: where the frames of a Video come from
# ---------------------------------------------------------------------------


class _ArraySource:
    """Frames held in memory as a uint8 (T, H, W, C) array (not copied)."""

    path: str | None = None
    container_fps: float | None = None

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.n_frames = len(frames)
        self.frame_size: tuple[int, int] = (frames.shape[1], frames.shape[2])
        self.n_channels = frames.shape[3]

    def frame(self, index: int) -> np.ndarray:
        return self.frames[index].copy()

    def iter_frames(self, indices: range) -> Iterator[np.ndarray]:
        for index in indices:
            yield self.frames[index].copy()


def natural_key(name: str) -> tuple[list[int | str], str]:
    """Sort key of names in natural order: ``2.jpg`` before ``10.jpg``, case ignored.

    The name itself breaks ties (``1`` and ``01``), so the order never depends on listing order.

    Parameters
    ----------
    name : str

    Returns
    -------
    tuple
        Comparable key.

    Examples
    --------
    >>> sorted(["10.jpg", "2.jpg", "B1", "a1"], key=natural_key)
    ['2.jpg', '10.jpg', 'a1', 'B1']
    """
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)], name


def _list_frame_files(folder: Path, name: str) -> list[Path]:
    """Image files of ``folder`` in natural order; hidden files and others are ignored."""
    files = [
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in IMAGE_SUFFIXES
        and not entry.name.startswith(".")
        and entry.is_file()
    ]
    if not files:
        raise VideoReadError(
            f"Video {name!r}: folder {folder} holds no frame images "
            f"(expected files ending in {', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    return sorted(files, key=lambda path: natural_key(path.name))


class _FolderSource:
    """Frames stored as one image file each in a folder, read on demand as RGB."""

    container_fps: float | None = None
    n_channels = 3

    def __init__(self, folder: Path, name: str) -> None:
        self.path = str(folder)
        self.name = name
        self.files = _list_frame_files(folder, name)
        self.n_frames = len(self.files)
        first = self._decode(0)
        self.frame_size: tuple[int, int] = (first.shape[0], first.shape[1])

    def _decode(self, index: int) -> np.ndarray:
        file = self.files[index]
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise VideoReadError(
                f"Video {self.name!r}: frame {index} ({file}) cannot be read as an image."
            )
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def frame(self, index: int) -> np.ndarray:
        image = self._decode(index)
        if image.shape[:2] != self.frame_size:
            raise FrameSizeMismatchError(
                f"Video {self.name!r}: frame {index} ({self.files[index]}) is "
                f"{image.shape[0]}x{image.shape[1]} (HxW) but the first frame "
                f"({self.files[0].name}) is {self.frame_size[0]}x{self.frame_size[1]}."
            )
        return image

    def iter_frames(self, indices: range) -> Iterator[np.ndarray]:
        for index in indices:
            yield self.frame(index)


def _open_capture(path: str, name: str) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` for ``path`` or VideoReadError."""
    try:
        capture = cv2.VideoCapture(path)
        opened = capture.isOpened()
    except cv2.error as error:
        raise VideoReadError(f"Video {name!r}: OpenCV cannot open {path}: {error}") from None
    if not opened:
        capture.release()
        raise VideoReadError(
            f"Video {name!r}: OpenCV cannot open {path} as a video "
            "(not a video file, unsupported codec, or corrupt/truncated file)."
        )
    return capture


class _Cursor:
    """One open capture of a video file and the index of the next frame it decodes."""

    def __init__(self, source: _FileSource) -> None:
        self._source = source
        self._capture = _open_capture(source.path, source.name)
        self._position = 0

    def read(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (RGB), decoding forward or seeking as cheapest."""
        self._move_to(index)
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise self._source.decode_error(index)
        self._position = index + 1
        return self._source.check_size(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), index)

    def _move_to(self, index: int) -> None:
        gap = index - self._position
        if 0 <= gap <= _MAX_FORWARD_DECODE:
            for _ in range(gap):
                if not self._capture.grab():
                    raise self._source.decode_error(self._position)
                self._position += 1
        else:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._position = index

    def close(self) -> None:
        self._capture.release()


class _FileSource:
    """Frames decoded from a video file by OpenCV; no capture is kept when pickled."""

    n_channels = 3

    def __init__(self, path: Path, name: str) -> None:
        self.path = str(path)
        self.name = name
        self._cursor: _Cursor | None = None
        capture = _open_capture(self.path, name)
        try:
            self._read_metadata(capture)
        finally:
            capture.release()

    def _read_metadata(self, capture: cv2.VideoCapture) -> None:
        announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = capture.get(cv2.CAP_PROP_FPS)
        ok, first = capture.read()
        if not ok or first is None:
            raise VideoReadError(
                f"Video {self.name!r}: OpenCV opened {self.path} but cannot decode its "
                "first frame (not a video, unsupported codec, or corrupt file)."
            )
        self.frame_size: tuple[int, int] = (first.shape[0], first.shape[1])
        self.container_fps = fps if math.isfinite(fps) and fps > 0 else None
        self.n_frames = announced if announced > 0 else 1 + _count_remaining(capture)

    def decode_error(self, index: int) -> VideoReadError:
        return VideoReadError(
            f"Video {self.name!r}: frame {index} of {self.path} cannot be decoded although "
            f"the container announces {self.n_frames} frames; the file is truncated or "
            "corrupt (re-encoding it, e.g. with ffmpeg, usually repairs the frame count)."
        )

    def check_size(self, frame: np.ndarray, index: int) -> np.ndarray:
        if frame.shape[:2] != self.frame_size:
            raise FrameSizeMismatchError(
                f"Video {self.name!r}: frame {index} of {self.path} is "
                f"{frame.shape[0]}x{frame.shape[1]} (HxW) but frame 0 is "
                f"{self.frame_size[0]}x{self.frame_size[1]}."
            )
        return frame

    def frame(self, index: int) -> np.ndarray:
        if self._cursor is None:
            self._cursor = _Cursor(self)
        return self._cursor.read(index)

    def iter_frames(self, indices: range) -> Iterator[np.ndarray]:
        cursor = _Cursor(self)
        try:
            for index in indices:
                yield cursor.read(index)
        finally:
            cursor.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cursor"] = None
        return state


def _count_remaining(capture: cv2.VideoCapture) -> int:
    """Number of frames a capture can still decode (used when the count is unknown)."""
    count = 0
    while capture.grab():
        count += 1
    return count


_Source = Union[_ArraySource, _FolderSource, _FileSource]


def _path_source(path: Path, name: str) -> _FolderSource | _FileSource:
    """The source for a video file or a frame folder, with clear errors for bad paths."""
    if not path.exists():
        raise VideoReadError(f"Video {name!r}: {path} does not exist.")
    if path.is_dir():
        return _FolderSource(path, name)
    if path.stat().st_size == 0:
        raise VideoReadError(f"Video {name!r}: {path} is empty (0 bytes).")
    return _FileSource(path, name)


def _make_source(source: Any, name: str) -> _Source:
    """The frame source for anything :class:`Video` accepts besides another Video."""
    if _is_tensor(source):
        source = _tensor_to_numpy(source)
    if isinstance(source, np.ndarray):
        return _ArraySource(_check_frames_array(source, f"Video {name!r}"))
    if isinstance(source, (str, os.PathLike)):
        return _path_source(Path(source), name)
    raise TypeError(
        f"Video {name!r}: cannot read frames from a {type(source).__name__}; expected a "
        "NumPy array or torch.Tensor (T, H, W[, C]), a path to a video file or frame "
        "folder, or a pyvad.Video (stack a list of frames with numpy.stack first)."
    )


def _default_name(source: Any) -> str:
    """File stem or folder name of a path source, else ``"video"``."""
    if not isinstance(source, (str, os.PathLike)):
        return "video"
    path = Path(source)
    if path.is_dir():
        return path.name or path.resolve().name or "video"
    return path.stem or "video"


# ---------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------


class Video:
    """A lazy, sliceable sequence of RGB uint8 frames.

    Parameters
    ----------
    source : array-like, path, or Video
        - NumPy array or ``torch.Tensor`` of shape ``(T, H, W)`` or ``(T, H, W, C)``,
          ``C`` in {1, 3}; dtype uint8, bool (0/255), integers in [0, 255] or floats in
          [0, 1] (scaled by 255). A uint8 array is used without copying.
        - Path (``str`` or ``os.PathLike``) to a video file (read with OpenCV) or to a
          folder of frame images (:data:`IMAGE_SUFFIXES`, natural order so ``2.jpg``
          comes before ``10.jpg``; hidden and other files are ignored). Files and
          folders are read as 3-channel RGB.
        - Another :class:`Video`: a copy of that view sharing its frames (a grayscale
          Video stays grayscale).
    fps : float, optional
        Frame rate. Defaults to the container's rate for video files, to the source's
        rate for a Video, and to :data:`DEFAULT_FPS` otherwise.
    name : str, optional
        Name used in messages and reports. Defaults to the file stem or folder name,
        the source's name for a Video, else ``"video"``.
    grayscale : bool, default=False
        Return 1-channel luminance frames ``(H, W, 1)``.

    Attributes
    ----------
    name : str
        Name of the video.
    fps : float
        Frame rate in frames per second (slices keep the rate of their source).
    grayscale : bool
        Whether frames are converted to 1-channel luminance.

    Raises
    ------
    VideoReadError
        The path is missing, empty, not a video, or its first frame cannot be decoded;
        a frame folder holds no images.
    InvalidVideoError
        The array is empty or has the wrong shape, dtype or values (NaN, inf, outside
        the valid range).
    TypeError
        ``source`` is of a type that holds no video.

    Notes
    -----
    Reading is lazy: a file or folder is only opened for metadata at construction.
    A frame folder whose images differ in size raises
    :class:`~pyvad.exceptions.FrameSizeMismatchError` when the odd frame is read. For
    the frame count of video files, see the module documentation.

    Examples
    --------
    >>> import numpy as np
    >>> from pyvad.video import Video
    >>> video = Video(np.zeros((10, 4, 6, 3), dtype=np.uint8), fps=5)
    >>> len(video), video.frame_size, video.n_channels
    (10, (4, 6), 3)
    >>> video[-1].shape
    (4, 6, 3)
    >>> video[::2].shape
    (5, 4, 6, 3)
    """

    def __init__(
        self,
        source: Any,
        *,
        fps: float | None = None,
        name: str | None = None,
        grayscale: bool = False,
    ) -> None:
        if isinstance(source, Video):
            self.name = source.name if name is None else str(name)
            self._source: _Source = source._source
            self._indices = source._indices
            self.grayscale = bool(grayscale) or source.grayscale
            default_fps = source.fps
        else:
            self.name = _default_name(source) if name is None else str(name)
            self._source = _make_source(source, self.name)
            self._indices = range(self._source.n_frames)
            self.grayscale = bool(grayscale)
            default_fps = self._source.container_fps or DEFAULT_FPS
        self.fps = default_fps if fps is None else _check_fps(fps, f"Video {self.name!r}")

    @property
    def frame_size(self) -> tuple[int, int]:
        """Frame height and width ``(H, W)`` in pixels."""
        return self._source.frame_size

    @property
    def n_channels(self) -> int:
        """Channels per frame: 1 (grayscale) or 3 (RGB)."""
        return 1 if self.grayscale else self._source.n_channels

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(T, H, W, C)``, the shape :meth:`to_array` returns."""
        height, width = self.frame_size
        return len(self), height, width, self.n_channels

    @property
    def source(self) -> str | None:
        """Path of the video file or frame folder, or None for in-memory frames."""
        return self._source.path

    def __len__(self) -> int:
        return len(self._indices)

    def __repr__(self) -> str:
        height, width = self.frame_size
        return (
            f"Video(name={self.name!r}, frames={len(self)}, size={height}x{width}, "
            f"channels={self.n_channels}, fps={self.fps:g}, source={self.source!r})"
        )

    def __getitem__(self, key: int | slice) -> np.ndarray | Video:
        """Frame ``key`` as a (H, W, C) array, or a lazy view for a slice.

        Negative indices count from the end; slices accept any non-zero step and read
        no frame.
        """
        if isinstance(key, slice):
            return self._view(key)
        try:
            index = operator.index(key)
        except TypeError:
            raise TypeError(
                f"Video {self.name!r}: frames are indexed by an int or a slice, "
                f"got {type(key).__name__}."
            ) from None
        try:
            position = self._indices[index]
        except IndexError:
            raise IndexError(
                f"Video {self.name!r}: frame index {index} is out of range for a video "
                f"of {len(self)} frames."
            ) from None
        return self._finish(self._source.frame(position))

    def _view(self, key: slice) -> Video:
        try:
            indices = self._indices[key]
        except ValueError as error:
            raise ValueError(f"Video {self.name!r}: invalid slice {key}: {error}.") from None
        view = copy.copy(self)
        view._indices = indices
        return view

    def _finish(self, frame: np.ndarray) -> np.ndarray:
        return _to_gray(frame) if self.grayscale else frame

    def __iter__(self) -> Iterator[np.ndarray]:
        """Frames one by one, decoded sequentially (one capture for a whole pass)."""
        for frame in self._source.iter_frames(self._indices):
            yield self._finish(frame)

    def _stack(self, frames: Iterator[np.ndarray], n_frames: int) -> np.ndarray:
        """The next ``n_frames`` of ``frames`` as one (n, H, W, C) array."""
        block = np.empty((n_frames, *self.shape[1:]), dtype=np.uint8)
        for row, frame in enumerate(islice(frames, n_frames)):
            block[row] = frame
        return block

    def iter_chunks(self, chunk_size: int = 64) -> Iterator[np.ndarray]:
        """Consecutive blocks of frames, streamed.

        Parameters
        ----------
        chunk_size : int, default=64
            Frames per block; the last block may be shorter.

        Yields
        ------
        numpy.ndarray
            uint8 array of shape ``(n, H, W, C)`` with ``n <= chunk_size``.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
            raise TypeError(f"Video {self.name!r}: chunk_size must be an int, got {chunk_size!r}.")
        if chunk_size < 1:
            raise ValueError(f"Video {self.name!r}: chunk_size must be >= 1, got {chunk_size}.")
        frames = iter(self)
        for start in range(0, len(self), chunk_size):
            yield self._stack(frames, min(chunk_size, len(self) - start))

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start`` to ``stop`` (excluded) as one array.

        ``start`` and ``stop`` follow slice rules: negative values count from the end
        and out-of-range values are clipped.

        Parameters
        ----------
        start : int, default=0
            First frame.
        stop : int, optional
            Frame after the last one; None reads to the end.

        Returns
        -------
        numpy.ndarray
            uint8 array of shape ``(n, H, W, C)``; ``n`` is 0 for an empty range.
        """
        view = self._view(slice(start, stop))
        return view._stack(iter(view), len(view))

    def to_array(self) -> np.ndarray:
        """All frames as one uint8 ``(T, H, W, C)`` array (loads the whole video)."""
        return self.read()


def _is_single_video(obj: Any) -> bool:
    return isinstance(obj, (Video, np.ndarray, str, os.PathLike)) or _is_tensor(obj)


def _as_one_video(item: Any, position: int) -> Video:
    """Item ``position`` of a list given to :func:`as_videos` as a Video."""
    if isinstance(item, Video):
        return item
    if not _is_single_video(item):
        raise TypeError(
            f"as_videos: item {position} is a {type(item).__name__}, not a video (array, "
            "tensor, path or pyvad.Video); pass a flat list of videos."
        )
    if isinstance(item, (str, os.PathLike)):
        return Video(item)
    return Video(item, name=f"video_{position}")


def as_videos(X: Any) -> list[Video]:
    """Turn what a user passes as videos into a list of :class:`Video`.

    Parameters
    ----------
    X : video or list/tuple of videos
        One video (array or tensor with 3 or 4 dimensions, path, :class:`Video`) or a
        list/tuple of any mix of them. A list always means several videos, never a
        list of frames. Arrays in a list are named ``video_<position>``.

    Returns
    -------
    list of Video
        Video objects given in ``X`` are returned as they are, not copied.

    Raises
    ------
    InvalidVideoError
        ``X`` is an empty list, or an array is not a valid video.
    TypeError
        ``X`` or one of its items is not a video.

    Examples
    --------
    >>> import numpy as np
    >>> from pyvad.video import as_videos
    >>> videos = as_videos([np.zeros((3, 4, 4), np.uint8), np.ones((5, 4, 4), np.uint8)])
    >>> [(v.name, len(v)) for v in videos]
    [('video_0', 3), ('video_1', 5)]
    """
    if _is_single_video(X):
        return [X if isinstance(X, Video) else Video(X)]
    if isinstance(X, (list, tuple)):
        if not X:
            raise InvalidVideoError("as_videos: got an empty list; expected at least one video.")
        return [_as_one_video(item, position) for position, item in enumerate(X)]
    raise TypeError(
        f"as_videos: expected a video (array, tensor, path, pyvad.Video) or a list of "
        f"videos, got a {type(X).__name__}."
    )


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _frame_for_writing(frame: Any, index: int, label: str) -> np.ndarray:
    """Validate one frame (H, W) or (H, W, C) and return it as uint8 RGB (H, W, 3)."""
    if _is_tensor(frame):
        frame = _tensor_to_numpy(frame)
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = frame[..., np.newaxis]
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3) or 0 in frame.shape:
        raise InvalidVideoError(
            f"{label}: frame {index} must have shape (H, W), (H, W, 1) or (H, W, 3), "
            f"got {frame.shape}."
        )
    return _as_rgb(_to_uint8(frame[np.newaxis], label, first_index=index)[0])


def _check_frame_size(frame_size: Any, label: str) -> tuple[int, int] | None:
    """``frame_size`` as ``(H, W)`` of positive ints, or None when not given."""
    if frame_size is None:
        return None
    try:
        height, width = (int(value) for value in frame_size)
    except (TypeError, ValueError):
        height = width = 0
    if height < 1 or width < 1:
        raise InvalidVideoError(f"{label}: frame_size must be (H, W) > 0, got {frame_size!r}.")
    return height, width


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """``frame`` with its last row and/or column repeated to an even height and width."""
    rows, columns = frame.shape[0] % 2, frame.shape[1] % 2
    if not (rows or columns):
        return frame
    return np.pad(frame, ((0, rows), (0, columns), (0, 0)), mode="edge")


class VideoWriter:
    """Write RGB frames to a video file or to a folder of PNG images.

    The output kind follows the path: a suffix in :data:`VIDEO_SUFFIXES` (``.mp4``,
    ``.avi`` ...) writes a video file with OpenCV; a path without suffix writes a frame
    folder ``000000.png``, ``000001.png`` ... (lossless; the folder must be new or
    empty). Parent folders are created. Nothing is written before the first frame.

    A video file always has an even height and width: OpenCV's encoders would silently
    crop an odd size to the even size below it, so a frame with an odd height (width) is
    written with its last row (column) repeated once. Nothing of the picture is lost; the
    written video is then at most one pixel taller and one pixel wider than the frames
    (``frame[:H, :W]`` of a frame read back is the original). Frame folders keep the
    exact size.

    Parameters
    ----------
    path : str or os.PathLike
        Output file or folder.
    fps : float, default=25.0
        Frame rate stored in the video file (ignored for frame folders).
    frame_size : tuple of int, optional
        ``(H, W)`` every frame must have; defaults to the size of the first frame. This
        is the size of the frames given, before any padding to an even size.
    codec : str, default="mp4v"
        FourCC code of the video codec (e.g. ``"mp4v"``, ``"MJPG"``). ``mp4v`` is lossy.

    Raises
    ------
    VideoWriteError
        Unknown suffix, non-empty frame folder, or OpenCV cannot open the output.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from pyvad.video import Video, VideoWriter
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "frames"
    >>> with VideoWriter(folder) as writer:
    ...     for value in (0, 128, 255):
    ...         writer.write(np.full((4, 6, 3), value, dtype=np.uint8))
    >>> Video(folder).shape
    (3, 4, 6, 3)
    """

    def __init__(
        self,
        path: PathLike,
        fps: float = DEFAULT_FPS,
        frame_size: tuple[int, int] | None = None,
        codec: str = "mp4v",
    ) -> None:
        self.path = Path(path)
        label = f"VideoWriter({str(self.path)!r})"
        self.fps = _check_fps(fps, label)
        self.frame_size = _check_frame_size(frame_size, label)
        if not isinstance(codec, str) or len(codec) != 4:
            raise VideoWriteError(f"{label}: codec must be a 4-character FourCC, got {codec!r}.")
        self.codec = codec
        self.n_written = 0
        self._label = label
        self._writer: cv2.VideoWriter | None = None
        self._closed = False
        self._to_folder = self._output_is_folder()
        if self._to_folder:
            self._prepare_folder()

    def _output_is_folder(self) -> bool:
        suffix = self.path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            return False
        if suffix == "":
            return True
        raise VideoWriteError(
            f"{self._label}: cannot tell what to write from suffix {suffix!r}; use one of "
            f"{', '.join(sorted(VIDEO_SUFFIXES))} for a video file or no suffix for a "
            "frame folder."
        )

    def _prepare_folder(self) -> None:
        if self.path.is_dir() and any(self.path.iterdir()):
            raise VideoWriteError(f"{self._label}: frame folder {self.path} is not empty.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise VideoWriteError(f"{self._label}: cannot create {self.path}: {error}") from None

    def _open_file(self, height: int, width: int) -> cv2.VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*self.codec)
        writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
        if not writer.isOpened():
            raise VideoWriteError(
                f"{self._label}: OpenCV cannot write {self.path} with codec "
                f"{self.codec!r} (codec unavailable for this container, or path not writable)."
            )
        return writer

    def write(self, frame: Any) -> None:
        """Append one frame: uint8 RGB ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.

        Bool, integer [0, 255] and float [0, 1] frames are converted as in :class:`Video`.

        Parameters
        ----------
        frame : array-like or torch.Tensor
            One frame of shape ``(H, W)``, ``(H, W, 1)`` (gray, written as RGB) or
            ``(H, W, 3)`` (RGB).

        Raises
        ------
        FrameSizeMismatchError
            The frame differs in size from ``frame_size`` or from the first frame.
        InvalidVideoError
            The frame has another shape, or values that cannot be converted.
        VideoWriteError
            The writer is closed, or OpenCV cannot open the output or write the frame.
        """
        if self._closed:
            raise VideoWriteError(f"{self._label}: the writer is closed.")
        rgb = _frame_for_writing(frame, self.n_written, self._label)
        self._check_size(rgb)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if self._to_folder:
            self._write_image(bgr)
        else:
            self._write_to_file(_pad_to_even(bgr))
        self.n_written += 1

    def _write_to_file(self, bgr: np.ndarray) -> None:
        if self._writer is None:
            self._writer = self._open_file(*bgr.shape[:2])
        self._writer.write(bgr)

    def _check_size(self, frame: np.ndarray) -> None:
        size = (frame.shape[0], frame.shape[1])
        if self.frame_size is None:
            self.frame_size = size
        elif size != self.frame_size:
            raise FrameSizeMismatchError(
                f"{self._label}: frame {self.n_written} is {size[0]}x{size[1]} (HxW), "
                f"expected {self.frame_size[0]}x{self.frame_size[1]}."
            )

    def _write_image(self, bgr: np.ndarray) -> None:
        file = self.path / f"{self.n_written:06d}.png"
        if not cv2.imwrite(str(file), bgr):
            raise VideoWriteError(f"{self._label}: cannot write frame {self.n_written} to {file}.")

    def close(self) -> None:
        """Finish the file; further writes raise. Closing twice is harmless."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._closed = True

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _frames_of(frames: Any, label: str) -> Iterable[Any]:
    """Something iterable frame by frame from a Video, array, tensor or iterable."""
    if _is_tensor(frames):
        frames = _tensor_to_numpy(frames)
    if isinstance(frames, np.ndarray):
        _refuse_single_frame(frames, label)
    return frames


def write_video(path: PathLike, frames: Any, fps: float | None = None) -> Path:
    """Write frames to a video file or frame folder (see :class:`VideoWriter`).

    Parameters
    ----------
    path : str or os.PathLike
        ``.mp4``/``.avi``/... for a video file (codec ``mp4v``, lossy), no suffix for a
        folder of PNG frames (lossless). A video file gets an even height and width: an
        odd one is padded by repeating the last row or column, so the file is at most one
        pixel taller and wider than the frames (see :class:`VideoWriter`).
    frames : Video, array, tensor or iterable of frames
        ``(T, H, W[, C])`` frames, streamed one by one (a Video is never loaded whole).
        A single ``(H, W, C)`` frame array is refused as :class:`Video` refuses it; pass
        ``frame[np.newaxis]``.
    fps : float, optional
        Frame rate; defaults to ``frames.fps`` for a Video, else :data:`DEFAULT_FPS`.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    InvalidVideoError
        ``frames`` holds no frame, looks like one ``(H, W, C)`` frame, or a frame is
        invalid.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from pyvad.video import Video, write_video
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clip.avi"
    >>> written = write_video(path, np.zeros((5, 16, 16, 3), np.uint8), fps=10)
    >>> Video(written).fps, len(Video(written))
    (10.0, 5)
    """
    label = f"write_video({str(path)!r})"
    if fps is None:
        fps = frames.fps if isinstance(frames, Video) else DEFAULT_FPS
    iterator = iter(_frames_of(frames, label))
    first = next(iterator, None)
    if first is None:
        raise InvalidVideoError(f"{label}: got no frames to write.")
    with VideoWriter(path, fps=fps) as writer:
        for frame in chain([first], iterator):
            writer.write(frame)
    return writer.path
