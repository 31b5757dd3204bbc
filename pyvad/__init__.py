"""pyvad: video anomaly detection with a scikit-learn interface.

Fit a detector on normal videos, then score every frame of new footage
(higher = more abnormal) with ``score_frames``, or use the scikit-learn outlier
contract (``score_samples``, ``decision_function``, ``predict``).

Public names are imported on first use, so ``import pyvad.video`` in a worker
process does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pyvad._version import __version__

# public name -> module that defines it
_LAZY_NAMES = {
    "BaseDetector": "pyvad.base",
    "load": "pyvad.base",
    "MotionBaselineDetector": "pyvad.methods",
    "CAFEDetector": "pyvad.methods.cafe",
    "PKGNetDetector": "pyvad.methods.pkgnet",
    "MaskedAEDetector": "pyvad.methods.maskedae",
    "DetectorEnsemble": "pyvad.ensemble",
    "make_ensemble": "pyvad.ensemble",
    "EventSet": "pyvad.events",
    "ScoreFusion": "pyvad.fusion",
    "ScoreTable": "pyvad.fusion",
    "Video": "pyvad.video",
    "as_videos": "pyvad.video",
}
_LAZY_MODULES = ("datasets", "ensemble", "metrics", "synthetic", "video", "fusion", "foreground", "methods")

__all__ = [
    "__version__",
    "BaseDetector",
    "CAFEDetector",
    "DetectorEnsemble",
    "EventSet",
    "MaskedAEDetector",
    "PKGNetDetector",
    "MotionBaselineDetector",
    "ScoreFusion",
    "ScoreTable",
    "Video",
    "as_videos",
    "datasets",
    "ensemble",
    "foreground",
    "fusion",
    "load",
    "make_ensemble",
    "methods",
    "metrics",
    "synthetic",
    "video",
]

if TYPE_CHECKING:
    from pyvad import datasets, ensemble, foreground, fusion, methods, metrics, synthetic, video
    from pyvad.base import BaseDetector, load
    from pyvad.ensemble import DetectorEnsemble, make_ensemble
    from pyvad.events import EventSet
    from pyvad.fusion import ScoreFusion, ScoreTable
    from pyvad.methods import MotionBaselineDetector
    from pyvad.methods.cafe import CAFEDetector
    from pyvad.methods.maskedae import MaskedAEDetector
    from pyvad.methods.pkgnet import PKGNetDetector
    from pyvad.video import Video, as_videos


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"pyvad.{name}")
    else:
        raise AttributeError(f"module 'pyvad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
