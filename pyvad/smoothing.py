"""Temporal and spatio-temporal smoothing of anomaly scores.

Every filter here works on **one video at a time**: a list of per-video score arrays is
filtered video by video, so a spike at the end of one video never leaks into the next
(the trap of filtering the concatenated test stream). At the two ends of a video the
signal is extended by repeating its first / last value (``mode="nearest"``), so the edges
are not pulled towards zero as zero padding would do.

Methods and the meaning of ``window`` (a number of frames, ``>= 1``):

``"moving_average"``
    Uniform mean over ``window`` frames centred on each frame. For an even window the
    extra frame is taken in the past: frame ``t`` averages ``t - window // 2`` to
    ``t + (window - 1) // 2`` (the same span as ``numpy.convolve(..., "same")``).
``"median"``
    Median over the same span of ``window`` frames (for an even window, the mean of the two
    middle values).
``"gaussian"``
    Normalised Gaussian kernel with standard deviation ``sigma`` frames, truncated to
    ``window // 2`` frames on each side (``2 * (window // 2) + 1`` taps). When ``sigma`` is
    not given it is ``window / 6``, so the truncated support covers about ``±3 sigma``.
``None``
    No smoothing; a copy of the input is returned.

``window=1`` leaves the scores unchanged for every method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from pyvad.base import check_frame_scores

__all__ = ["SMOOTHING_METHODS", "smooth_scores", "gaussian_filter_3d"]

SmoothingMethod = Literal["moving_average", "median", "gaussian"]
SMOOTHING_METHODS: tuple[str, ...] = ("moving_average", "median", "gaussian")


def _check_window(window: int) -> None:
    """Raise ``ValueError`` unless ``window`` is an integer >= 1."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be an integer >= 1 (frames); got {window!r}.")


def _check_sigma(sigma: float | None) -> None:
    """Raise ``ValueError`` unless ``sigma`` is None or a finite positive number."""
    if sigma is None:
        return
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.number)):
        raise ValueError(f"sigma must be a positive number of frames or None; got {sigma!r}.")
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a positive number of frames or None; got {sigma!r}.")


def _smooth_one(scores: np.ndarray, method: str | None, window: int, sigma: float | None) -> np.ndarray:
    """Filter the frame scores of a single video (see the module docstring)."""
    if method is None or scores.size == 0:
        return scores.copy()
    if method == "moving_average":
        return ndimage.uniform_filter1d(scores, size=window, mode="nearest")
    if method == "median":
        if window % 2:
            return ndimage.median_filter(scores, size=window, mode="nearest")
        # scipy takes the upper middle value of an even window; the median is the mean of both
        lower = ndimage.rank_filter(scores, window // 2 - 1, size=window, mode="nearest")
        upper = ndimage.rank_filter(scores, window // 2, size=window, mode="nearest")
        return (lower + upper) / 2
    radius = window // 2
    if radius == 0:
        return scores.copy()
    width = window / 6.0 if sigma is None else float(sigma)
    return ndimage.gaussian_filter1d(scores, sigma=width, mode="nearest", radius=radius)


@overload
def smooth_scores(
    scores: np.ndarray, method: SmoothingMethod | None, window: int, *, sigma: float | None = None
) -> np.ndarray: ...


@overload
def smooth_scores(
    scores: Sequence[ArrayLike], method: SmoothingMethod | None, window: int, *, sigma: float | None = None
) -> list[np.ndarray]: ...


def smooth_scores(
    scores: np.ndarray | Sequence[ArrayLike],
    method: SmoothingMethod | None,
    window: int,
    *,
    sigma: float | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Smooth frame scores over time, one video at a time.

    Parameters
    ----------
    scores : ndarray of shape (n_frames,) or list of such arrays
        Frame scores of one video, or a list with one array per video. Videos in a list
        are filtered independently: nothing crosses a video boundary.
    method : {"moving_average", "median", "gaussian"} or None
        The filter; see the module docstring for the exact span of each. ``None`` returns
        an unfiltered copy.
    window : int
        Length of the filter in frames (``>= 1``).
    sigma : float, optional
        Standard deviation in frames of the ``"gaussian"`` kernel; default ``window / 6``.
        Ignored by the other methods.

    Returns
    -------
    ndarray or list of ndarray
        Float64 scores with the same structure and lengths as ``scores``.

    Raises
    ------
    ValueError
        Unknown method or bad ``window``/``sigma``.
    pyvad.exceptions.InvalidVideoError
        A score array is not 1-D or holds a NaN or infinite value (the message names the
        video and frame).

    Examples
    --------
    >>> import numpy as np
    >>> from pyvad.smoothing import smooth_scores
    >>> smooth_scores(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), "moving_average", 3)
    array([0., 1., 1., 1., 0.])
    >>> [s.tolist() for s in smooth_scores([np.array([0.0, 9.0]), np.array([0.0, 0.0])], "median", 3)]
    [[0.0, 9.0], [0.0, 0.0]]
    """
    if method is not None and method not in SMOOTHING_METHODS:
        raise ValueError(f"method must be one of {SMOOTHING_METHODS} or None; got {method!r}.")
    _check_window(window)
    _check_sigma(sigma)
    if isinstance(scores, np.ndarray):
        return _smooth_one(check_frame_scores(scores, where="scores"), method, window, sigma)
    return [
        _smooth_one(check_frame_scores(video, where=f"scores of video {index}"), method, window, sigma)
        for index, video in enumerate(scores)
    ]


def gaussian_filter_3d(
    maps: ArrayLike, *, sigma_spatial: float, sigma_temporal: float, truncate: float = 4.0
) -> np.ndarray:
    """Gaussian-filter the pixel anomaly maps of one video in space and time.

    Parameters
    ----------
    maps : array-like of shape (T, H, W)
        Per-frame anomaly maps of a single video (filter each video separately).
    sigma_spatial : float
        Standard deviation in pixels along H and W (``>= 0``; 0 disables spatial filtering).
    sigma_temporal : float
        Standard deviation in frames along T (``>= 0``; 0 disables temporal filtering).
    truncate : float, default=4.0
        The kernel is cut at ``truncate`` standard deviations on each axis.

    Returns
    -------
    ndarray of shape (T, H, W), float64
        The filtered maps; borders repeat the nearest value (``mode="nearest"``).

    Raises
    ------
    ValueError
        ``maps`` is not 3-D, holds NaN/inf, or a sigma is negative or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> from pyvad.smoothing import gaussian_filter_3d
    >>> maps = np.zeros((5, 8, 8)); maps[2, 4, 4] = 1.0
    >>> out = gaussian_filter_3d(maps, sigma_spatial=1.0, sigma_temporal=1.0)
    >>> out.shape, bool(out[2, 4, 4] < 1.0), bool(out[1, 4, 4] > 0.0)
    ((5, 8, 8), True, True)
    """
    array = np.asarray(maps, dtype=np.float64)
    if array.ndim != 3:
        raise ValueError(f"maps: expected shape (T, H, W), got shape {array.shape}.")
    if not np.isfinite(array).all():
        frame = int(np.argwhere(~np.isfinite(array))[0][0])
        raise ValueError(f"maps: frame {frame} holds a NaN or infinite value.")
    for name, value in (("sigma_spatial", sigma_spatial), ("sigma_temporal", sigma_temporal)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}.")
    sigmas = (float(sigma_temporal), float(sigma_spatial), float(sigma_spatial))
    return ndimage.gaussian_filter(array, sigma=sigmas, mode="nearest", truncate=truncate)
