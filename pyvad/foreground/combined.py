"""VEC's full foreground: detector boxes united with motion boxes outside them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from pyvad.foreground.base import BaseForeground, BoxSource, ChunkBoxes
from pyvad.foreground.detector import DetectorForeground
from pyvad.foreground.motion import MotionForeground, MotionMap
from pyvad.video import Video

__all__ = ["CombinedForeground"]


@dataclass
class _CombinedSource(BoxSource):
    detector: Any
    motion: MotionMap
    context: tuple[int, int] = (1, 1)

    def for_video(self, video: Video, index: int) -> ChunkBoxes:
        n_frames = len(video)

        def boxes(frames: np.ndarray, first: int, start: int, stop: int) -> list[np.ndarray]:
            detected = self.detector.frame_boxes(frames[start - first : stop - first])
            masks = self.motion.chunk_masks(frames, first, start, stop, n_frames)
            return [np.concatenate([d, self.motion.boxes(m, exclude=d)]) for d, m in zip(detected, masks)]

        return boxes


class CombinedForeground(BaseForeground):
    """Detector boxes plus motion boxes that do not overlap them (VEC's foreground).

    For every frame the detector's filtered, cover-pruned boxes are kept; the
    motion map of :class:`MotionForeground` is zeroed inside every detector box
    grown by the motion ``margin`` (2 px), and the contours left give the extra
    motion boxes (objects the detector missed).  Events list detector boxes
    first, then motion boxes.

    Parameters
    ----------
    detector : DetectorForeground, optional
        Appearance branch (default ``DetectorForeground()``: torchvision
        Faster R-CNN v2 with its COCO weights).  Its own ``patch_size``,
        ``offsets``, flow and parallelism settings are ignored.
    motion : MotionForeground, optional
        Motion branch (default ``MotionForeground()``, the Ped2 preset); same remark.
    patch_size, offsets, with_flow, flow, n_jobs, chunk_size, cache_dir
        See :class:`~pyvad.foreground.base.BaseForeground`.

    Attributes
    ----------
    detector_, motion_ : fitted clones of ``detector`` and ``motion``.
    source_ : BoxSource
    """

    _parameter_constraints: dict = {
        **BaseForeground._parameter_constraints,
        "detector": [DetectorForeground, None],
        "motion": [MotionForeground, None],
    }

    def __init__(
        self,
        detector: DetectorForeground | None = None,
        motion: MotionForeground | None = None,
        *,
        patch_size: int | Sequence[int] = 32,
        offsets: Sequence[int] = (0,),
        with_flow: bool = False,
        flow: Any = "dis",
        n_jobs: int | None = None,
        chunk_size: int = 64,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.detector = detector
        self.motion = motion
        self.patch_size = patch_size
        self.offsets = offsets
        self.with_flow = with_flow
        self.flow = flow
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir

    def _build_source(self, videos: list[Video] | None) -> BoxSource:
        self.detector_ = clone(DetectorForeground() if self.detector is None else self.detector).fit(videos)
        self.motion_ = clone(MotionForeground() if self.motion is None else self.motion)
        return _CombinedSource(self.detector_.source_, self.motion_.motion_map())
