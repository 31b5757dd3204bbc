"""Detectors: each wires an extractor, networks, training and fusion into one estimator."""

from __future__ import annotations

import importlib

from pyvad.methods.baseline import MotionBaselineDetector

__all__ = ["MotionBaselineDetector", "METHODS", "get_method"]

#: Method names accepted by the command line and :func:`get_method`, mapped to
#: ``module:Class`` so that heavy method modules are imported only when used.
METHODS: dict[str, str] = {
    "baseline": "pyvad.methods.baseline:MotionBaselineDetector",
    "pkgnet": "pyvad.methods.pkgnet:PKGNetDetector",
}


def get_method(name: str) -> type:
    """Return the detector class registered under ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`METHODS` (e.g. ``"baseline"``).

    Returns
    -------
    cls : type
        The estimator class.
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(METHODS)}")
    module_name, _, class_name = METHODS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)
