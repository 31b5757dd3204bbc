"""pyvad: video anomaly detection with a scikit-learn interface."""

from pyvad._version import __version__
from pyvad.base import load

__all__ = ["__version__", "load"]
