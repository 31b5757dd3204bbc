"""The estimator base every pyvad detector shares.

:class:`BaseDetector` carries the outlier contract of scikit-learn's
``IsolationForest`` for frames: a subclass implements fitting and raw per-frame
scoring; the base turns them into ``score_samples``, ``decision_function``,
``predict``, the ``contamination`` threshold and ``save``/:func:`load`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from pyvad.exceptions import FrameSizeMismatchError, InvalidVideoError
from pyvad.persistence import load_estimator, save_estimator

__all__ = [
    "BaseDetector",
    "ExtractorSavedByParameters",
    "RANDOM_STATE_CONSTRAINT",
    "load",
    "check_frame_scores",
    "check_frame_labels",
    "check_same_frame_size",
    "preset_value",
    "resolve_preset",
]

#: scikit-learn constraint of a detector's ``random_state``: None, or a seed that
#: :func:`pyvad.training.seed_everything` accepts (a ``RandomState`` instance is not one).
RANDOM_STATE_CONSTRAINT = [Interval(Integral, 0, 2**32 - 1, closed="both"), None]

AUTO_CONTAMINATION = 0.01


def _is_learned(name: str) -> bool:
    """sklearn convention: fitted attributes end with ``_`` (and are not private)."""
    return name.endswith("_") and not name.startswith("_")


class ExtractorSavedByParameters:
    """Mixin of detectors whose ``extractor_`` is saved by its parameters, not its fitted state.

    Their extractor learns nothing a model file needs (or what it learns is large and cheap to
    redo), so a loaded detector refits it without data when it first scores videos.
    """

    def _get_state(self) -> dict[str, Any]:
        """Learned attributes to save, with ``extractor_`` unfitted (see :mod:`pyvad.persistence`)."""
        state = {name: value for name, value in vars(self).items() if _is_learned(name)}
        if state.get("extractor_") is not None:
            state["extractor_"] = clone(state["extractor_"])
        return state

    def _refitted_extractor(self) -> Any:
        """``extractor_``, fitted without data first when it is not (after loading from a file)."""
        try:
            check_is_fitted(self.extractor_)
        except NotFittedError:
            self.extractor_ = self.extractor_.fit()
        return self.extractor_


class BaseDetector(OutlierMixin, BaseEstimator):
    """Base class of pyvad detectors: the per-frame outlier contract.

    A *sample* is a frame; ``X`` is a sequence of videos (or, for fusion, a
    :class:`~pyvad.fusion.ScoreTable`). Subclasses implement

    - ``_fit(X, y=None)``: learn from normal data; may set
      ``training_frame_scores_`` (list of 1-D arrays) when the training frames
      were scored as a by-product, so they are not scored twice; may return
      what it computed on the way that a caller of :meth:`_fit_staged` can reuse
      (the fused detectors return ``transform(X)``), else None;
    - ``_score_frames(X)``: a list of 1-D ``float64`` arrays, one per video,
      **higher = more abnormal**;
    - ``_parameter_constraints``: scikit-learn style constraints, checked at
      :meth:`fit`; ``contamination`` is declared here.

    Everything learned must be stored in attributes ending in ``_`` (only those
    are kept by :meth:`fit` and saved); ``__init__`` only stores parameters.
    """

    _parameter_constraints: dict = {
        "contamination": [StrOptions({"auto"}), Interval(Real, 0.0, 0.5, closed="right")],
    }

    def __init__(self, contamination: str | float = "auto") -> None:
        self.contamination = contamination

    # -- to implement ----------------------------------------------------------
    def _fit(self, X: Any, y: Any = None) -> Any:
        raise NotImplementedError

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        raise NotImplementedError

    # -- contract ----------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> BaseDetector:
        """Learn normality from ``X`` (normal videos) and set the threshold.

        Parameters
        ----------
        X : sequence of videos
            Anything :func:`pyvad.video.as_videos` accepts (arrays, paths,
            frame folders, :class:`pyvad.Video`), or the output of the previous
            pipeline step.
        y : list of 1-D arrays, optional
            Per-video frame labels; accepted for API compatibility with
            :class:`~sklearn.model_selection.GridSearchCV` and ignored unless the
            subclass documents otherwise.

        Returns
        -------
        self : BaseDetector
            The fitted detector.
        """
        self._fit_staged(X, y)
        return self

    def _fit_staged(self, X: Any, y: Any = None) -> Any:
        """:meth:`fit`'s work; returns what ``_fit`` returned (a by-product to reuse, or None)."""
        self._validate_params()
        # Fit a fresh copy and swap its learned state in only once it succeeded, so an
        # exception or Ctrl-C leaves this estimator as it was (unfitted or fitted before).
        staged = clone(self)
        by_product = staged._fit(X, y)
        training = getattr(staged, "training_frame_scores_", None)
        if training is None:
            training = staged._score_frames(X)
        # checked as score_frames checks its output: one NaN would make the threshold NaN
        staged.training_frame_scores_ = [
            check_frame_scores(s, where=f"{type(self).__name__} score of training video {i}") for i, s in enumerate(training)]
        staged.offset_ = staged._offset_from_training(staged.training_frame_scores_)
        for name in [n for n in vars(self) if _is_learned(n)]:
            delattr(self, name)
        self.__dict__.update({n: v for n, v in vars(staged).items() if _is_learned(n)})
        return by_product

    def _offset_from_training(self, frame_scores: Sequence[np.ndarray]) -> float:
        train = -np.concatenate([np.asarray(s, dtype=np.float64) for s in frame_scores])
        if train.size == 0:
            raise InvalidVideoError("no training frame could be scored, so no threshold can be set")
        rate = AUTO_CONTAMINATION if self.contamination == "auto" else float(self.contamination)
        return float(np.percentile(train, 100.0 * rate))

    def score_frames(self, X: Any) -> list[np.ndarray]:
        """Per-frame anomaly scores, one array per video, higher = more abnormal.

        Parameters
        ----------
        X : sequence of videos
            Videos to score (see :meth:`fit`).

        Returns
        -------
        scores : list of ndarray of shape (n_frames_i,)
            ``float64`` scores in video order.
        """
        check_is_fitted(self)
        return [check_frame_scores(s, where=f"{type(self).__name__} output for video {i}")
                for i, s in enumerate(self._score_frames(X))]

    def score_samples(self, X: Any) -> np.ndarray:
        """Opposite of the anomaly score, frames of all videos concatenated.

        Lower means more abnormal, as in :meth:`sklearn.ensemble.IsolationForest.score_samples`.

        Parameters
        ----------
        X : sequence of videos
            Videos to score.

        Returns
        -------
        scores : ndarray of shape (n_frames_total,)
            ``-concatenate(score_frames(X))``.
        """
        frames = self.score_frames(X)
        if not frames:
            return np.empty(0, dtype=np.float64)
        return -np.concatenate(frames)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for abnormal frames.

        Parameters
        ----------
        X : sequence of videos
            Videos to score.

        Returns
        -------
        decision : ndarray of shape (n_frames_total,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """Label every frame: ``-1`` abnormal, ``+1`` normal.

        Parameters
        ----------
        X : sequence of videos
            Videos to label.

        Returns
        -------
        labels : ndarray of shape (n_frames_total,)
            ``int`` labels in {-1, +1}.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def score_stream(self, source: Any, **options: Any) -> Iterator[Any]:
        """Score a file, frame folder, camera index or URL frame by frame.

        Delegates to :func:`pyvad.streaming.score_stream`, which documents
        ``options`` (``hop``, ``context``, ``smoothing``, ``threshold``,
        ``quantile``, ``with_maps``, ``fps``, ``max_frames``).

        Parameters
        ----------
        source : int, str, path-like, ndarray or Video
            Camera index, ``rtsp://``/``http://`` URL, video file, frame folder or video.
        **options
            Keyword arguments of :func:`pyvad.streaming.score_stream`.

        Returns
        -------
        iterator of pyvad.streaming.StreamFrame
            ``(index, timestamp, score, map, abnormal, frame)`` per frame, in order.
        """
        from pyvad.streaming import score_stream

        return score_stream(self, source, **options)

    # -- persistence ---------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save the estimator to one ``.pyvad`` file, atomically.

        The file holds parameters as JSON and tensors loadable with
        ``torch.load(weights_only=True)``; see :func:`pyvad.load`.

        Parameters
        ----------
        path : str or path-like
            Destination. An existing file is replaced only once the new one is
            completely written.

        Returns
        -------
        path : pathlib.Path
        """
        return save_estimator(self, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        return tags


def load(
    path: str | os.PathLike, *, device: str | None = None, trusted_classes: Iterable[type | str] = ()
) -> Any:
    """Load an estimator saved with ``save``.

    Parameters
    ----------
    path : str or path-like
        A ``.pyvad`` file.
    device : str, optional
        Overrides the estimator's ``device`` parameter (for example load a
        CUDA-trained model with ``device="cpu"``). Tensors are always read onto
        the CPU first.
    trusted_classes : iterable of type or str, default=()
        Estimator classes defined outside pyvad that the file may instantiate
        (classes, or names as ``"module:Class"``). Classes of pyvad and of
        installed plugins (entry-point group ``pyvad.detectors``) are always
        allowed; any other class named by the file is refused, so loading a file
        never imports arbitrary code.

    Returns
    -------
    estimator : BaseDetector
        The fitted (or unfitted, if saved so) estimator.

    Raises
    ------
    pyvad.exceptions.ModelFileError
        The file is not a pyvad model, is truncated or corrupt, or uses a newer
        format version.
    FileNotFoundError
        ``path`` does not exist.
    """
    estimator = load_estimator(path, trusted_classes=trusted_classes)
    if device is not None and "device" in estimator.get_params(deep=False):
        estimator.set_params(device=device)
    return estimator


def check_frame_scores(scores: Any, *, where: str) -> np.ndarray:
    """Return ``scores`` as a finite 1-D float64 array or raise naming ``where``.

    Parameters
    ----------
    scores : array-like of shape (n_frames,)
        Frame scores of one video.
    where : str
        What produced the scores, put at the start of the error message.

    Returns
    -------
    scores : ndarray of shape (n_frames,)
        The scores as ``float64``.

    Raises
    ------
    InvalidVideoError
        If the scores are not 1-D or one of them is NaN or infinite.
    """
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1:
        raise InvalidVideoError(f"{where}: frame scores must be 1-D, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise InvalidVideoError(f"{where}: frame score at frame {int(bad[0])} is {array[bad[0]]}")
    return array


def check_frame_labels(labels: Any, n_frames: Sequence[int]) -> list[np.ndarray]:
    """Validate per-video 0/1 frame labels against the videos' lengths.

    Parameters
    ----------
    labels : sequence of array-like
        One label array per video.
    n_frames : sequence of int
        Number of frames of each video.

    Returns
    -------
    labels : list of ndarray of uint8
    """
    if len(labels) != len(n_frames):
        raise ValueError(f"got labels for {len(labels)} videos but {len(n_frames)} videos")
    checked = []
    for i, (y, n) in enumerate(zip(labels, n_frames)):
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"labels of video {i} have shape {y.shape}, expected ({n},) (one per frame)")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"labels of video {i} must be 0 (normal) or 1 (abnormal)")
        checked.append(y.astype(np.uint8))
    return checked


def check_same_frame_size(videos: Sequence[Any], expected: tuple[int, int] | None = None) -> tuple[int, int]:
    """Check that all videos share one frame size (and ``expected`` if given).

    Parameters
    ----------
    videos : sequence of pyvad.Video
        Videos with a ``frame_size`` attribute ``(H, W)``.
    expected : tuple of int, optional
        The size seen at fit time.

    Returns
    -------
    frame_size : tuple of int
    """
    size = expected if expected is not None else tuple(videos[0].frame_size)
    for video in videos:
        if tuple(video.frame_size) != tuple(size):
            origin = "the training videos" if expected is not None else f"video {videos[0].name!r}"
            raise FrameSizeMismatchError(
                f"video {video.name!r} has frames of size {tuple(video.frame_size)} (H, W) but "
                f"{origin} have {tuple(size)}; resize the footage or fit one detector per camera"
            )
    return tuple(size)


def resolve_preset(estimator: Any, presets: Mapping[str, Mapping[str, Any]], names: Iterable[str]) -> dict[str, Any]:
    """A detector's preset with every parameter in ``names`` that is not None applied.

    Detectors take their paper settings from ``presets[estimator.preset]``; a
    parameter left at ``None`` means "the preset's value". The parameters are
    read, never changed, so ``get_params``/``clone`` keep what the user passed.

    Parameters
    ----------
    estimator : estimator
        Has a ``preset`` attribute and the attributes named in ``names``.
    presets : mapping of str to mapping
        Preset name → settings.
    names : iterable of str
        Parameters that override the preset's entry of the same name.

    Returns
    -------
    dict
        A new configuration dictionary.
    """
    if estimator.preset not in presets:
        raise ValueError(f"unknown preset {estimator.preset!r}; choose one of {sorted(presets)}")
    config = dict(presets[estimator.preset])
    for name in names:
        value = getattr(estimator, name, None)
        if value is not None:
            config[name] = value
    return config


def preset_value(estimator: Any, presets: Mapping[str, Mapping[str, Any]], name: str) -> Any:
    """One setting of a detector: its parameter ``name`` when not None, else the preset's.

    For settings read afresh at scoring time (such as ``amp``), so that ``set_params`` on a
    fitted detector takes effect; :func:`resolve_preset` is applied once at fit.

    Parameters
    ----------
    estimator : estimator
        Has a ``preset`` attribute and an attribute ``name``.
    presets : mapping of str to mapping
        Preset name → settings.
    name : str
        The setting to read.

    Returns
    -------
    object
        ``estimator.<name>`` if it is not None, else ``presets[estimator.preset][name]``.

    Raises
    ------
    ValueError
        If ``estimator.preset`` is not a key of ``presets``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> presets = {"fast": {"amp": "auto"}}
    >>> preset_value(SimpleNamespace(preset="fast", amp=None), presets, "amp")
    'auto'
    >>> preset_value(SimpleNamespace(preset="fast", amp="fp32"), presets, "amp")
    'fp32'
    """
    return resolve_preset(estimator, presets, (name,))[name]
