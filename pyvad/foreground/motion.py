"""VEC's motion branch: blurred frame differences -> binary map -> contour boxes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from pyvad.foreground._boxes import boxes_from_mask, empty_boxes, zero_boxes
from pyvad.foreground.base import BaseForeground, BoxSource, ChunkBoxes, frame_at
from pyvad.video import Video

__all__ = ["MotionForeground", "MOTION_PRESETS"]

MOTION_PRESETS: dict[str, dict[str, Any]] = {
    "ped2": {"blur_kernel": 3, "binary_thr": 18, "min_area": 10 * 10},
    "avenue": {"blur_kernel": 5, "binary_thr": 18, "min_area": 40 * 40},
    "shanghaitech": {"blur_kernel": 5, "binary_thr": 15, "min_area": 8 * 8},
}
"""VEC's per-dataset numbers (``fore_det/obj_det_with_motion.py``).  HF2-VAD and
PKG-Net use the same ones except ``min_area=40 * 40`` for ShanghaiTech; pass
``min_area=1600`` to reproduce their boxes."""


@dataclass
class MotionMap:
    """The motion-map computation of VEC, frame by frame.

    Parameters
    ----------
    blur_kernel : int
        Odd side of the Gaussian blur (sigma derived by OpenCV).
    binary_thr : int
        A pixel moves when the summed difference of any channel exceeds it.
    min_area, max_aspect, margin : float
        Box filter and enlargement (see :func:`~pyvad.foreground._boxes.boxes_from_mask`).
    uint8_wraparound : bool
        Reproduce the original code's uint8 sum that wraps modulo 256.
    """

    blur_kernel: int
    binary_thr: int
    min_area: float
    max_aspect: float
    margin: float
    uint8_wraparound: bool

    def blur(self, frame: np.ndarray) -> np.ndarray:
        """Gaussian-blurred frame, kept as (H, W, C) uint8."""
        k = self.blur_kernel
        return cv2.GaussianBlur(frame, (k, k), 0).reshape(frame.shape)

    def mask(self, prev: np.ndarray, cur: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Binary uint8 (0/255) motion map of the blurred frames ``t - 1, t, t + 1``.

        ``|cur - prev| + |nxt - cur|`` per channel, saturating at 255 (or
        wrapping modulo 256 with ``uint8_wraparound``), then any channel above
        ``binary_thr``.
        """
        before, after = cv2.absdiff(cur, prev), cv2.absdiff(nxt, cur)
        summed = before + after if self.uint8_wraparound else cv2.add(before, after)
        channels = cv2.split(summed.reshape(cur.shape))
        peak = channels[0]
        for channel in channels[1:]:
            peak = cv2.max(peak, channel)
        return cv2.threshold(peak, self.binary_thr, 255, cv2.THRESH_BINARY)[1]

    def boxes(self, mask: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
        """Contour boxes of ``mask``, after zeroing ``exclude`` boxes grown by ``margin``."""
        if exclude is not None and len(exclude):
            mask = zero_boxes(mask, exclude, self.margin)
        if cv2.countNonZero(mask) == 0:
            return empty_boxes()
        return boxes_from_mask(mask, self.min_area, self.max_aspect, self.margin)

    def chunk_masks(self, frames: np.ndarray, first: int, start: int, stop: int, n_frames: int) -> list[np.ndarray]:
        """Motion maps of frames ``start .. stop - 1`` from a block starting at ``first``.

        At a video border the missing neighbour is the frame itself (VEC).
        """
        blurred: dict[int, np.ndarray] = {}

        def get(index: int) -> np.ndarray:
            index = min(max(index, 0), n_frames - 1)
            if index not in blurred:
                blurred[index] = self.blur(frame_at(frames, first, index, n_frames))
            return blurred[index]

        return [self.mask(get(t - 1), get(t), get(t + 1)) for t in range(start, stop)]


@dataclass
class _MotionSource(BoxSource):
    motion: MotionMap
    context: tuple[int, int] = (1, 1)

    def for_video(self, video: Video, index: int) -> ChunkBoxes:
        n_frames = len(video)

        def boxes(frames: np.ndarray, first: int, start: int, stop: int) -> list[np.ndarray]:
            return [self.motion.boxes(m) for m in self.motion.chunk_masks(frames, first, start, stop, n_frames)]

        return boxes


class MotionForeground(BaseForeground):
    """Moving-object boxes from blurred frame differences (VEC's motion branch).

    For every frame ``t``: Gaussian-blur frames ``t - 1, t, t + 1`` (the frame
    itself stands in for a missing neighbour at a video border), sum the
    per-channel absolute differences of the two consecutive pairs, mark pixels
    where any channel exceeds ``binary_thr``, take the bounding rectangles of the
    external contours, keep those with ``(w + 1)(h + 1) > min_area`` and both
    aspect ratios below ``max_aspect``, and grow them by ``margin`` pixels.  No
    weights, no learning: ``fit`` only validates.

    Parameters
    ----------
    preset : {"ped2", "avenue", "shanghaitech"}, default "ped2"
        VEC's numbers for the dataset (see :data:`MOTION_PRESETS`); every
        parameter below left at ``None`` comes from it.
    blur_kernel : int, optional
        Odd Gaussian kernel side (3 Ped2, 5 Avenue/ShanghaiTech).
    binary_thr : int, optional
        Motion threshold on the summed differences (18, 18, 15).
    min_area : float, optional
        Area threshold in pixels (100, 1600, 64; HF2-VAD/PKG-Net use 1600 on ShanghaiTech).
    max_aspect : float, default 10
        Maximum width/height and height/width ratio.
    margin : float, default 2
        Pixels added on every side of a kept box (clipped to the frame).
    uint8_wraparound : bool, default False
        Sum the two differences in uint8 modulo 256, as the original code does
        (very strong motion can then fall under the threshold).  Off by default:
        the sum saturates at 255.
    patch_size, offsets, with_flow, flow, n_jobs, chunk_size, cache_dir
        See :class:`~pyvad.foreground.base.BaseForeground`.

    Attributes
    ----------
    source_ : BoxSource
        The resolved motion computation.

    Examples
    --------
    >>> import numpy as np
    >>> video = np.zeros((5, 64, 64, 3), np.uint8)
    >>> for t in range(5):
    ...     video[t, 20:40, 5 + 5 * t:25 + 5 * t] = 255
    >>> events = MotionForeground(offsets=(-1, 0, 1)).fit().transform([video])
    >>> events.patches.shape[1:]
    (3, 32, 32, 3)
    """

    _parameter_constraints: dict = {
        **BaseForeground._parameter_constraints,
        "preset": [StrOptions(set(MOTION_PRESETS))],
        "blur_kernel": [Interval(Integral, 1, None, closed="left"), None],
        "binary_thr": [Interval(Real, 0, 255, closed="left"), None],
        "min_area": [Interval(Real, 0, None, closed="left"), None],
        "max_aspect": [Interval(Real, 1, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="left")],
        "uint8_wraparound": ["boolean"],
    }

    def __init__(
        self,
        preset: str = "ped2",
        *,
        blur_kernel: int | None = None,
        binary_thr: float | None = None,
        min_area: float | None = None,
        max_aspect: float = 10.0,
        margin: float = 2.0,
        uint8_wraparound: bool = False,
        patch_size: int | Sequence[int] = 32,
        offsets: Sequence[int] = (0,),
        with_flow: bool = False,
        flow: Any = "dis",
        n_jobs: int | None = None,
        chunk_size: int = 64,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.preset = preset
        self.blur_kernel = blur_kernel
        self.binary_thr = binary_thr
        self.min_area = min_area
        self.max_aspect = max_aspect
        self.margin = margin
        self.uint8_wraparound = uint8_wraparound
        self.patch_size = patch_size
        self.offsets = offsets
        self.with_flow = with_flow
        self.flow = flow
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir

    def motion_map(self) -> MotionMap:
        """The motion computation with the preset applied and parameters checked.

        Returns
        -------
        MotionMap
        """
        self._validate_params()
        values = {key: getattr(self, key) for key in ("blur_kernel", "binary_thr", "min_area")}
        values = {key: MOTION_PRESETS[self.preset][key] if v is None else v for key, v in values.items()}
        if values["blur_kernel"] % 2 == 0:
            raise ValueError(f"MotionForeground blur_kernel must be odd, got {values['blur_kernel']}")
        return MotionMap(
            max_aspect=self.max_aspect, margin=self.margin, uint8_wraparound=self.uint8_wraparound, **values
        )

    def _build_source(self, videos: list[Video] | None) -> BoxSource:
        return _MotionSource(self.motion_map())
