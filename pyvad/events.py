"""Events: object boxes with their spatio-temporal patch cubes.

An *event* is one object box in one frame of one video, together with the
patches cropped with that same box from the frame itself and from its temporal
neighbours (the "cube" of CAFE and PKG-Net).  :class:`EventSet` holds many events
in flat arrays plus the bookkeeping downstream code needs to map event scores
back to frames (number of frames, names and sizes of every video, including
videos or frames without any event).

Cropping follows the VEC/CAFE/PKG-Net code: the box is rounded up with ``ceil``
(end exclusive), cropped without margin and resized bilinearly to the patch size
without keeping the aspect ratio.  The *same* box (from frame ``t``) crops every
frame of the cube.  At the borders of a video an out-of-video neighbour
``t + offset`` is replaced by the nearest valid frame (index clipped to
``[0, n_frames - 1]``); with offsets ``(-1, 0, 1)`` this is exactly VEC/CAFE's
"repeat frame t", and with ``(-4, ..., 0)`` it repeats the first frame as VEC does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import cv2
import numpy as np

from pyvad.exceptions import InvalidVideoError

__all__ = [
    "EventSet",
    "check_channels",
    "check_patch_size",
    "crop_patch",
    "crop_patches",
    "neighbour_indices",
    "normalize_offsets",
    "normalize_patch_size",
    "reference_index",
]

# Arrays up to this size are hashed whole by EventSet.fingerprint, larger ones (the patches) by
# evenly spaced rows: enough to tell two data sets apart without reading gigabytes.
_FINGERPRINT_WHOLE_BYTES = 8 << 20
_FINGERPRINT_ROWS = 1024


def normalize_patch_size(patch_size: int | Sequence[int]) -> tuple[int, int]:
    """Return ``patch_size`` as a ``(height, width)`` pair of positive ints.

    Parameters
    ----------
    patch_size : int or (int, int)
        Side of a square patch, or ``(height, width)``.

    Returns
    -------
    tuple of int
        ``(height, width)``.

    Raises
    ------
    ValueError
        If the size is not one or two positive integers.
    """
    size = (patch_size, patch_size) if np.isscalar(patch_size) else tuple(patch_size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in size):
        raise ValueError(f"patch_size must be a positive int or (height, width), got {patch_size!r}")
    return int(size[0]), int(size[1])


def normalize_offsets(offsets: Sequence[int]) -> tuple[int, ...]:
    """Return temporal ``offsets`` as a non-empty tuple of distinct ints.

    Parameters
    ----------
    offsets : sequence of int
        Frame offsets relative to the event frame, e.g. ``(-1, 0, 1)``.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If ``offsets`` is empty, has repeated values or non-integers.
    """
    values = tuple(offsets) if not np.isscalar(offsets) else (offsets,)
    if not values or not all(isinstance(o, (int, np.integer)) for o in values):
        raise ValueError(f"offsets must be a non-empty sequence of ints, got {offsets!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"offsets must be distinct, got {offsets!r}")
    return tuple(int(o) for o in values)


def neighbour_indices(frame_indices: np.ndarray | int, offsets: Sequence[int], n_frames: int) -> np.ndarray:
    """Frame indices of the cube of every event, clipped to the video.

    Parameters
    ----------
    frame_indices : int or array of shape (N,)
        Event frames.
    offsets : sequence of int
        Temporal offsets of the cube.
    n_frames : int
        Length of the video.

    Returns
    -------
    ndarray of shape (N, len(offsets))
        ``clip(t + offset, 0, n_frames - 1)``: an out-of-video neighbour is
        replaced by the nearest frame of the video.
    """
    t = np.atleast_1d(np.asarray(frame_indices, dtype=np.int64))
    return np.clip(t[:, None] + np.asarray(offsets, dtype=np.int64)[None, :], 0, n_frames - 1)


def reference_index(offsets: Sequence[int]) -> int:
    """Position of the event's own frame (offset 0) in a stack of ``offsets``; the first if 0 is absent.

    Parameters
    ----------
    offsets : sequence of int
        Frame offsets of the stack, relative to the event's frame.

    Returns
    -------
    int
        Index of ``0`` in ``offsets``, or 0 if ``0`` is not there.

    Examples
    --------
    >>> reference_index((-3, 0, 3)), reference_index((1, 2))
    (1, 0)
    """
    offsets = list(offsets)
    return offsets.index(0) if 0 in offsets else 0


def _pixel_windows(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Integer crop windows ``(x1, y1, x2, y2)`` (end exclusive, at least 1 px) of boxes."""
    windows = np.ceil(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)).astype(np.int64)
    windows[:, 0] = np.clip(windows[:, 0], 0, width - 1)
    windows[:, 1] = np.clip(windows[:, 1], 0, height - 1)
    windows[:, 2] = np.clip(windows[:, 2], windows[:, 0] + 1, width)
    windows[:, 3] = np.clip(windows[:, 3], windows[:, 1] + 1, height)
    return windows


def crop_patches(image: np.ndarray, boxes: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Crop every box from ``image`` and resize it bilinearly to ``size``.

    Parameters
    ----------
    image : ndarray of shape (H, W, C)
        A frame (uint8) or a flow field (float, C = 2).
    boxes : ndarray of shape (K, 4)
        ``x1, y1, x2, y2`` in pixels; rounded up (``ceil``), end exclusive,
        clipped to the image and at least one pixel wide and high.
    size : int or (int, int)
        Patch ``(height, width)``.

    Returns
    -------
    ndarray of shape (K, h, w, C)
        Same dtype as ``image``.  Flow vectors are not rescaled: they stay in
        pixels of the original frame.
    """
    h, w = normalize_patch_size(size)
    channels = image.shape[2]
    out = np.empty((len(boxes), h, w, channels), dtype=image.dtype)
    for k, (x1, y1, x2, y2) in enumerate(_pixel_windows(boxes, image.shape[0], image.shape[1]).tolist()):
        out[k] = cv2.resize(image[y1:y2, x1:x2], (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, channels)
    return out


def crop_patch(image: np.ndarray, box: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Crop one box from one image (see :func:`crop_patches`).

    Parameters
    ----------
    image : ndarray of shape (H, W, C)
    box : array of 4 floats
    size : int or (int, int)

    Returns
    -------
    ndarray of shape (h, w, C)
    """
    return crop_patches(image, np.asarray(box).reshape(1, 4), size)[0]


def join_arrays(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """``np.concatenate(arrays)``, but a single array is returned as it is (no copy of a large stack)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _check_length(name: str, array: np.ndarray, n: int) -> None:
    if len(array) != n:
        raise ValueError(f"EventSet.{name} has {len(array)} rows, expected {n} (one per event)")


def _as_index(index: Any) -> np.ndarray:
    """``index`` as a NumPy index array; an empty list selects nothing (``np.asarray([])`` is float)."""
    index = np.asarray(index)
    return index.astype(np.int64) if index.size == 0 and index.dtype != bool else index


@dataclass(eq=False)
class EventSet:
    """Object events of a list of videos, with their patch cubes.

    Parameters
    ----------
    video_ids : ndarray of shape (N,), int64
        Position of the event's video in ``video_names``.
    frame_indices : ndarray of shape (N,), int64
        Frame of the event (0-based, within its video).
    boxes : ndarray of shape (N, 4), float32
        ``x1, y1, x2, y2`` pixel boxes in the event frame.
    offsets : tuple of int
        Temporal offsets of the cube, e.g. ``(0,)``, ``(-1, 0, 1)`` (CAFE) or
        ``(-4, -3, -2, -1, 0)`` (PKG-Net, VEC).  ``patches[:, j]`` is cropped
        from frame ``clip(t + offsets[j], 0, n_frames - 1)``.
    patches : ndarray of shape (N, len(offsets), h, w, C), uint8
        RGB (or gray) patches; may be a read-only ``numpy.memmap``.
    n_frames : ndarray of shape (V,), int64
        Number of frames of every video, events or not.
    video_names : tuple of str
        Name of every video.
    frame_sizes : ndarray of shape (V, 2), int64
        ``(height, width)`` of every video.
    flow : ndarray of shape (N, len(offsets), h, w, 2), float16, optional
        Optical-flow crops aligned with ``patches`` (flow from frame ``s`` to
        ``s + 1``, from ``s - 1`` to ``s`` on a video's last frame), in pixels of
        the original frame.

    Examples
    --------
    >>> import numpy as np
    >>> events = EventSet.empty(n_frames=[10], video_names=["v"], frame_sizes=[(64, 64)])
    >>> len(events), events.patches.shape
    (0, (0, 1, 32, 32, 3))
    """

    video_ids: np.ndarray
    frame_indices: np.ndarray
    boxes: np.ndarray
    offsets: tuple[int, ...]
    patches: np.ndarray
    n_frames: np.ndarray
    video_names: tuple[str, ...]
    frame_sizes: np.ndarray
    flow: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        self.video_ids = np.asarray(self.video_ids, dtype=np.int64).reshape(-1)
        self.frame_indices = np.asarray(self.frame_indices, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.offsets = normalize_offsets(self.offsets)
        self.n_frames = np.asarray(self.n_frames, dtype=np.int64).reshape(-1)
        self.video_names = tuple(str(name) for name in self.video_names)
        self.frame_sizes = np.asarray(self.frame_sizes, dtype=np.int64).reshape(-1, 2)
        self._validate()

    def _validate(self) -> None:
        n = len(self.video_ids)
        for name in ("frame_indices", "boxes", "patches"):
            _check_length(name, getattr(self, name), n)
        if self.patches.ndim != 5 or self.patches.shape[1] != len(self.offsets) or self.patches.dtype != np.uint8:
            raise ValueError(
                f"EventSet.patches must be uint8 of shape (N, {len(self.offsets)}, h, w, C), "
                f"got {self.patches.dtype} {self.patches.shape}"
            )
        if self.flow is not None:
            _check_length("flow", self.flow, n)
            if self.flow.shape[:4] != self.patches.shape[:4] or self.flow.shape[4] != 2:
                raise ValueError(f"EventSet.flow must have shape {self.patches.shape[:4] + (2,)}, got {self.flow.shape}")
        n_videos = len(self.n_frames)
        if len(self.video_names) != n_videos or len(self.frame_sizes) != n_videos:
            raise ValueError(
                f"EventSet has {n_videos} n_frames entries but {len(self.video_names)} video_names "
                f"and {len(self.frame_sizes)} frame_sizes"
            )
        if n and (self.video_ids.min() < 0 or self.video_ids.max() >= n_videos):
            raise ValueError(f"EventSet.video_ids must lie in [0, {n_videos}), got {self.video_ids.min()}..{self.video_ids.max()}")
        if n and (np.any(self.frame_indices < 0) or np.any(self.frame_indices >= self.n_frames[self.video_ids])):
            raise ValueError("EventSet.frame_indices must lie within the frames of their video")

    @classmethod
    def empty(
        cls,
        n_frames: Sequence[int],
        video_names: Sequence[str],
        frame_sizes: Sequence[Sequence[int]],
        *,
        offsets: Sequence[int] = (0,),
        patch_size: int | Sequence[int] = 32,
        n_channels: int = 3,
        with_flow: bool = False,
    ) -> EventSet:
        """An EventSet without events for the given videos.

        Parameters
        ----------
        n_frames, video_names, frame_sizes
            Bookkeeping of the videos (see the class docstring).
        offsets : sequence of int, default (0,)
        patch_size : int or (int, int), default 32
        n_channels : int, default 3
        with_flow : bool, default False
            Whether ``flow`` is an empty array (True) or None.

        Returns
        -------
        EventSet
            ``len(...) == 0`` with arrays of the right trailing shapes.
        """
        offsets = normalize_offsets(offsets)
        h, w = normalize_patch_size(patch_size)
        return cls(
            video_ids=np.zeros(0, np.int64),
            frame_indices=np.zeros(0, np.int64),
            boxes=np.zeros((0, 4), np.float32),
            offsets=offsets,
            patches=np.zeros((0, len(offsets), h, w, n_channels), np.uint8),
            n_frames=n_frames,
            video_names=video_names,
            frame_sizes=frame_sizes,
            flow=np.zeros((0, len(offsets), h, w, 2), np.float16) if with_flow else None,
        )

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def n_videos(self) -> int:
        """Number of videos described (with or without events)."""
        return len(self.n_frames)

    @property
    def patch_size(self) -> tuple[int, int]:
        """``(height, width)`` of the patches."""
        return int(self.patches.shape[2]), int(self.patches.shape[3])

    def __getitem__(self, index: Any) -> EventSet:
        """Subset of the events (boolean mask, integer indices or slice).

        The video bookkeeping (``n_frames``, names, sizes) is kept whole, so
        frames without a selected event stay known.
        """
        if isinstance(index, (bool, np.bool_)):
            raise TypeError("a single boolean is not an event index; give a boolean mask of every event")
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if not isinstance(index, slice):
            index = _as_index(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise ValueError(f"boolean mask must have shape ({len(self)},), got {index.shape}")
        return EventSet(
            video_ids=self.video_ids[index],
            frame_indices=self.frame_indices[index],
            boxes=self.boxes[index],
            offsets=self.offsets,
            patches=np.asarray(self.patches[index]),
            n_frames=self.n_frames,
            video_names=self.video_names,
            frame_sizes=self.frame_sizes,
            flow=None if self.flow is None else np.asarray(self.flow[index]),
        )

    def fingerprint(self) -> str:
        """A short hash of the events' content: equal for the same events, different otherwise.

        Every field is hashed: the bookkeeping (ids, frame indices, boxes, sizes) whole, the
        large image payloads (patches, flow; arrays of more than 2 dimensions over 8 MB)
        through their shape and 1024 evenly spaced rows. Training checkpoints are filed under it (with
        the fit's settings, :func:`pyvad.training.training_key`), so a fit on other data never
        resumes this one's.

        Returns
        -------
        str
            16 hexadecimal digits.
        """
        digest = hashlib.blake2b(type(self).__name__.encode(), digest_size=8)
        for item in fields(self):
            value = getattr(self, item.name)
            digest.update(item.name.encode())
            if isinstance(value, np.ndarray):
                digest.update(f"{value.dtype}{value.shape}".encode())
                if value.ndim > 2 and value.nbytes > _FINGERPRINT_WHOLE_BYTES:
                    value = value[np.linspace(0, len(value) - 1, _FINGERPRINT_ROWS).astype(np.int64)]
                digest.update(np.ascontiguousarray(value).tobytes())
            else:
                digest.update(repr(value).encode())
        return digest.hexdigest()

    def for_video(self, video_id: int) -> EventSet:
        """The events of one video (bookkeeping of all videos kept).

        Parameters
        ----------
        video_id : int
            Index of the video in this set (``0 <= video_id < n_videos``).

        Returns
        -------
        EventSet
            The events whose ``video_ids`` equal ``video_id``, in their current order;
            empty if the video has none. ``n_frames``, names and sizes of all videos stay.
        """
        return self[self.video_ids == video_id]

    @classmethod
    def concat(cls, event_sets: Sequence[EventSet]) -> EventSet:
        """Join event sets of *different* videos into one.

        The videos of the second set follow those of the first, and so on;
        ``video_ids`` are shifted accordingly.

        Parameters
        ----------
        event_sets : sequence of EventSet
            Same offsets, patch shape, channels and flow presence.

        Returns
        -------
        EventSet

        Raises
        ------
        ValueError
            If the list is empty or the sets are incompatible.
        """
        if not event_sets:
            raise ValueError("EventSet.concat needs at least one EventSet")
        first = event_sets[0]
        for other in event_sets[1:]:
            if other.offsets != first.offsets or other.patches.shape[2:] != first.patches.shape[2:]:
                raise ValueError(
                    f"cannot concatenate EventSets with offsets/patch shapes {first.offsets}/{first.patches.shape[2:]} "
                    f"and {other.offsets}/{other.patches.shape[2:]}"
                )
            if (other.flow is None) != (first.flow is None):
                raise ValueError("cannot concatenate EventSets with and without flow")
        shifts = np.cumsum([0] + [s.n_videos for s in event_sets[:-1]])
        return cls(
            video_ids=np.concatenate([s.video_ids + shift for s, shift in zip(event_sets, shifts)]),
            frame_indices=np.concatenate([s.frame_indices for s in event_sets]),
            boxes=np.concatenate([s.boxes for s in event_sets]),
            offsets=first.offsets,
            patches=join_arrays([s.patches for s in event_sets]),
            n_frames=np.concatenate([s.n_frames for s in event_sets]),
            video_names=sum((s.video_names for s in event_sets), ()),
            frame_sizes=np.concatenate([s.frame_sizes for s in event_sets]),
            flow=None if first.flow is None else join_arrays([s.flow for s in event_sets]),
        )

    def to_torch(
        self,
        indices: np.ndarray | Sequence[int] | None = None,
        *,
        batch_size: int | None = None,
        device: Any = None,
    ) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """Events as float tensors, for all/selected events or in batches.

        Parameters
        ----------
        indices : array of int or bool mask, optional
            Events to convert; all events when omitted.
        batch_size : int, optional
            When given, return an iterator over consecutive batches of
            (at most) this many of the selected events instead of one dict.
        device : torch.device or str, optional
            Device of the returned tensors.

        Returns
        -------
        dict or iterator of dict
            Keys: ``"patches"`` float32 ``(n, len(offsets), C, h, w)`` in [0, 1];
            ``"flow"`` float32 ``(n, len(offsets), 2, h, w)`` when present;
            ``"index"`` int64 ``(n,)`` event positions in this set;
            ``"video_ids"``, ``"frame_indices"`` int64 ``(n,)``; ``"boxes"`` float32 ``(n, 4)``.
        """
        selected = np.arange(len(self)) if indices is None else np.arange(len(self))[_as_index(indices)]
        if batch_size is None:
            return self._tensors(selected, device)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return (self._tensors(selected[s : s + batch_size], device) for s in range(0, len(selected), batch_size))

    def _tensors(self, index: np.ndarray, device: Any) -> dict[str, Any]:
        import torch

        patches = torch.from_numpy(np.ascontiguousarray(self.patches[index]))
        batch = {
            "patches": patches.permute(0, 1, 4, 2, 3).float().div_(255.0).to(device),
            "index": torch.from_numpy(index.astype(np.int64)).to(device),
            "video_ids": torch.from_numpy(self.video_ids[index]).to(device),
            "frame_indices": torch.from_numpy(self.frame_indices[index]).to(device),
            "boxes": torch.from_numpy(self.boxes[index]).to(device),
        }
        if self.flow is not None:
            flow = torch.from_numpy(np.ascontiguousarray(self.flow[index]))
            batch["flow"] = flow.permute(0, 1, 4, 2, 3).float().to(device)
        return batch

    def events_per_frame(self) -> list[np.ndarray]:
        """Number of events in every frame, one int64 array per video."""
        return [
            np.bincount(self.frame_indices[self.video_ids == v], minlength=int(n)).astype(np.int64)
            for v, n in enumerate(self.n_frames)
        ]


def check_patch_size(events: EventSet, trained: Sequence[int]) -> None:
    """Refuse scored events whose patches have another size than the training events'.

    Parameters
    ----------
    events : EventSet
        The events to score (an empty set passes).
    trained : (int, int)
        ``(height, width)`` of the training patches.

    Raises
    ------
    ValueError
        If the sizes differ.
    """
    if len(events) and events.patch_size != tuple(trained):
        raise ValueError(f"events have {events.patch_size} patches but the detector was trained on {tuple(trained)}; "
                         "extract them with the patch_size of the training events")


def check_channels(events: EventSet, trained: int, owner: str) -> None:
    """Refuse scored events whose frames have another number of channels than the training frames.

    Parameters
    ----------
    events : EventSet
        The events to score (an empty set passes).
    trained : int
        Channels of the training frames.
    owner : str
        The detector, for the message.

    Raises
    ------
    InvalidVideoError
        If the channel counts differ (grey footage after colour training, or the reverse).
    """
    channels = int(events.patches.shape[-1])
    if len(events) and channels != trained:
        raise InvalidVideoError(
            f"{owner} was fitted on {trained}-channel frames but videos {list(events.video_names)} have "
            f"{channels}-channel frames; read them the same way as the training footage (e.g. Video(path, grayscale=...))"
        )
