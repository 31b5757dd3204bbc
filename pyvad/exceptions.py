"""Exception types raised by pyvad.

Every error a user can trigger with bad input derives from :class:`PyvadError`
and from the matching builtin (``ValueError``, ``FileNotFoundError`` ...), so
``except ValueError`` keeps working for code that does not know pyvad.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError

__all__ = [
    "PyvadError",
    "VideoReadError",
    "VideoWriteError",
    "InvalidVideoError",
    "FrameSizeMismatchError",
    "DatasetNotFoundError",
    "ModelFileError",
    "WeightsUnavailableError",
    "NotFittedError",
]


class PyvadError(Exception):
    """Base class of all pyvad errors."""


class VideoReadError(PyvadError, OSError):
    """A video file, frame folder or stream cannot be opened or decoded."""


class VideoWriteError(PyvadError, OSError):
    """A video file or frame folder cannot be created or written."""


class InvalidVideoError(PyvadError, ValueError):
    """Frames have the wrong type, shape, dtype or values (NaN, inf, empty)."""


class FrameSizeMismatchError(InvalidVideoError):
    """Frames (or videos) have a different size than required."""


class DatasetNotFoundError(PyvadError, FileNotFoundError):
    """A benchmark dataset is missing or incomplete under the given root."""


class ModelFileError(PyvadError, ValueError):
    """A saved model file is corrupt, truncated, foreign or of a newer format."""


class WeightsUnavailableError(PyvadError, OSError):
    """Pretrained weights cannot be had here: offline, a missing package or a missing file.

    The message says which options exist (a local weights file, an optional
    package, a pretraining routine); pyvad never substitutes random weights.
    """


def __getattr__(name: str) -> Any:
    # Re-exported lazily: importing scikit-learn costs ~1 s, which video readers
    # in worker processes should not pay.
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError

        return NotFittedError
    raise AttributeError(f"module 'pyvad.exceptions' has no attribute {name!r}")
