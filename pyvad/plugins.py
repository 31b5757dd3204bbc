"""Third-party detectors: import by ``module:Class`` and discovery through entry points.

An installed package makes its detectors available to :func:`pyvad.methods.get_method`,
the ``pyvad`` command line and :func:`pyvad.load` by declaring them in the
``pyvad.detectors`` entry-point group, e.g. in its ``pyproject.toml``::

    [project.entry-points."pyvad.detectors"]
    motionstats = "my_pkg.detectors:MotionStatsDetector"

Installing a package is the act of trust: classes named by an installed plugin
may be instantiated by :func:`pyvad.load` like pyvad's own.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

__all__ = ["ENTRY_POINT_GROUP", "plugin_methods", "import_object"]

ENTRY_POINT_GROUP = "pyvad.detectors"


def plugin_methods() -> dict[str, str]:
    """Detectors declared by installed packages.

    Returns
    -------
    dict of str to str
        Entry-point name → ``"module:Class"``.
    """
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def import_object(spec: str) -> Any:
    """Import ``"package.module:Qualified.Name"``.

    Parameters
    ----------
    spec : str
        Module path and attribute path separated by one colon.

    Returns
    -------
    object
        The attribute.

    Raises
    ------
    ValueError
        ``spec`` is malformed, the module cannot be imported or lacks the attribute.
    """
    module_name, sep, qualname = spec.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"expected 'package.module:ClassName', got {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} (from {spec!r}): {exc}") from exc
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {qualname!r} (from {spec!r})") from None
    return obj
