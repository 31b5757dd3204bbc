"""Detectors: each wires an extractor, networks, training and fusion into one estimator."""

from __future__ import annotations

from sklearn.base import BaseEstimator

from pyvad.methods.baseline import MotionBaselineDetector
from pyvad.plugins import import_object, plugin_methods

__all__ = ["MotionBaselineDetector", "METHODS", "get_method"]

#: Method names accepted by the command line and :func:`get_method`, mapped to
#: ``module:Class`` so that heavy method modules are imported only when used.
METHODS: dict[str, str] = {
    "baseline": "pyvad.methods.baseline:MotionBaselineDetector",
    "cafe": "pyvad.methods.cafe:CAFEDetector",
    "maskedae": "pyvad.methods.maskedae:MaskedAEDetector",
    "pkgnet": "pyvad.methods.pkgnet:PKGNetDetector",
}


def get_method(name: str) -> type:
    """Return the detector class for a method name.

    Parameters
    ----------
    name : str
        A built-in method (a key of :data:`METHODS`, e.g. ``"cafe"``), a method
        declared by an installed plugin (entry-point group ``pyvad.detectors``),
        or any detector class as ``"package.module:ClassName"``.

    Returns
    -------
    cls : type
        A scikit-learn estimator class with ``fit`` and ``score_frames``.

    Raises
    ------
    ValueError
        Unknown name, or the named object is not a detector class.
    """
    registry = {**plugin_methods(), **METHODS}
    if name in registry:
        spec = registry[name]
    elif ":" in name:
        spec = name
    else:
        raise ValueError(
            f"unknown method {name!r}; choose one of {sorted(registry)} or give a class as 'package.module:ClassName'"
        )
    cls = import_object(spec)
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)
            and all(callable(getattr(cls, m, None)) for m in ("fit", "score_frames"))):
        raise ValueError(f"{spec!r} is not a detector class (a scikit-learn estimator with fit and score_frames)")
    return cls
