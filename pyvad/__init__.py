"""pyvad: video anomaly detection with a scikit-learn interface.

Fit a detector on normal videos, then score every frame of new footage
(higher = more abnormal) with ``score_frames``, or use the scikit-learn outlier
contract (``score_samples``, ``decision_function``, ``predict``).
"""

from pyvad import datasets, metrics, synthetic
from pyvad._version import __version__
from pyvad.base import BaseDetector, load
from pyvad.fusion import ScoreFusion, ScoreTable
from pyvad.methods import MotionBaselineDetector
from pyvad.video import Video, as_videos

__all__ = [
    "__version__",
    "BaseDetector",
    "MotionBaselineDetector",
    "ScoreFusion",
    "ScoreTable",
    "Video",
    "as_videos",
    "datasets",
    "load",
    "metrics",
    "synthetic",
]
