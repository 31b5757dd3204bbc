"""Foreground extractors: videos -> :class:`~pyvad.events.EventSet` of object events.

Every extractor is a scikit-learn transformer sharing
:class:`~pyvad.foreground.base.BaseForeground` (chunked reading, cube cropping,
optional flow crops, joblib over videos, optional memory-mapped storage):

- :class:`MotionForeground` -- VEC's motion branch (frame differences), no weights;
- :class:`PrecomputedBoxes` -- boxes from a file or arrays (e.g. VEC's released boxes);
"""

from pyvad.foreground.base import BaseForeground, BoxSource
from pyvad.foreground.motion import MOTION_PRESETS, MotionForeground
from pyvad.foreground.precomputed import PrecomputedBoxes

__all__ = ["BaseForeground", "BoxSource", "MOTION_PRESETS", "MotionForeground", "PrecomputedBoxes"]
