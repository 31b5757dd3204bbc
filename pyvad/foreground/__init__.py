"""Foreground extractors: videos -> :class:`~pyvad.events.EventSet` of object events.

Every extractor is a scikit-learn transformer sharing
:class:`~pyvad.foreground.base.BaseForeground` (chunked reading, cube cropping,
optional flow crops, joblib over videos, optional memory-mapped storage):

- :class:`MotionForeground` -- VEC's motion branch (frame differences), no weights;
- :class:`BackgroundSubtraction` -- OpenCV MOG2/KNN background subtraction;
- :class:`DetectorForeground` -- VEC's appearance branch (torchvision or OpenCV-DNN detector);
- :class:`CombinedForeground` -- VEC's union of detector and motion boxes;
- :class:`PrecomputedBoxes` -- boxes from a file or arrays (e.g. VEC's released boxes);
- :class:`WholeFrames` -- one event per frame, resized, with motion-gradient maps (AED-MAE).
"""

from pyvad.foreground.background import BackgroundSubtraction
from pyvad.foreground.base import BaseForeground, BoxSource
from pyvad.foreground.combined import CombinedForeground
from pyvad.foreground.detector import DETECTOR_PRESETS, DetectorForeground
from pyvad.foreground.motion import MOTION_PRESETS, MotionForeground
from pyvad.foreground.precomputed import PrecomputedBoxes
from pyvad.foreground.whole_frames import FrameEvents, WholeFrames

__all__ = [
    "BackgroundSubtraction",
    "BaseForeground",
    "BoxSource",
    "CombinedForeground",
    "DETECTOR_PRESETS",
    "DetectorForeground",
    "MOTION_PRESETS",
    "MotionForeground",
    "PrecomputedBoxes",
    "FrameEvents",
    "WholeFrames",
]
