"""pyvad: video anomaly detection with a scikit-learn interface."""

from pyvad._version import __version__

__all__ = ["__version__"]
