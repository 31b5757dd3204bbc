"""Cross-method ensembles: several detectors fitted on the same videos, one frame score.

Detectors look at different cues (appearance, motion, objects, whole frames), so their
mistakes differ and a combination can beat each of them. :class:`DetectorEnsemble` fits
every member on the same training videos, puts the members' frame scores on one scale with
statistics of the **training** videos (a z-score per member; by default each member's scores
of training videos held out of its fit), and adds them with weights: equal by default, so
no label is needed.

:func:`cross_validated_weights` is the optional path that uses labels: weights chosen with
:class:`~sklearn.model_selection.GridSearchCV` by nested leave-videos-out cross-validation
over labelled videos, so that no video is scored with weights tuned on its own labels. Its
numbers are a different row of a results table than the equal-weight ensemble's.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, KFold, check_cv
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import _BaseComposition, available_if
from sklearn.utils.validation import check_is_fitted

from pyvad.base import BaseDetector, check_frame_labels
from pyvad.exceptions import InvalidVideoError
from pyvad.fusion import zscore_statistics
from pyvad.metrics import make_video_scorer
from pyvad.smoothing import SMOOTHING_METHODS, smooth_scores
from pyvad.streaming import _fusion, _smoothing_span, temporal_context
from pyvad.video import Video, as_videos

__all__ = [
    "CrossValidatedWeights",
    "DetectorEnsemble",
    "EnsembleScoreMaps",
    "PAPER_METHODS",
    "combine_member_scores",
    "cross_validated_weights",
    "make_ensemble",
    "simplex_grid",
]


def _check_weights(weights: Any, names: Sequence[str]) -> np.ndarray:
    """One non-negative weight per member, scaled to sum to 1 (equal weights when None)."""
    if weights is None:
        return np.full(len(names), 1.0 / len(names))
    try:
        values = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weights must be numbers, one per detector {list(names)}; got {weights!r}") from exc
    if values.shape != (len(names),):
        raise ValueError(
            f"weights has shape {values.shape} but there are {len(names)} detectors {list(names)}; "
            "give one weight per detector, in their order"
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"weights must be finite and >= 0; got {values.tolist()} for detectors {list(names)}")
    if values.sum() == 0:
        raise ValueError("weights are all 0: give at least one detector a positive weight")
    return values / values.sum()


def combine_member_scores(
    member_scores: Sequence[np.ndarray],
    mean: np.ndarray,
    scale: np.ndarray,
    weights: np.ndarray,
    smoothing: str | None = None,
    window: int = 9,
    sigma: float | None = None,
) -> list[np.ndarray]:
    """Weighted sum of z-scored member scores, smoothed per video.

    Parameters
    ----------
    member_scores : list of ndarray of shape (n_frames_i, n_members)
        Raw frame scores of every member, one matrix per video.
    mean, scale : ndarray of shape (n_members,)
        Statistics of the members' scores on the training videos.
    weights : ndarray of shape (n_members,)
        Weight of every member.
    smoothing, window, sigma
        Temporal filter applied to each video separately, see :func:`pyvad.smoothing.smooth_scores`.

    Returns
    -------
    list of ndarray of shape (n_frames_i,)
        ``sum_m weights[m] * (scores[:, m] - mean[m]) / scale[m]``, smoothed.
    """
    fused = [((np.asarray(scores, dtype=np.float64) - mean) / scale) @ weights for scores in member_scores]
    return smooth_scores(fused, smoothing, window, sigma=sigma)


def _decoded(video: Video) -> Video:
    """``video`` with all its frames in memory: a file or folder is decoded once, in-memory frames are kept."""
    if video.source is None:
        return video
    return Video(video.to_array(), fps=video.fps, name=video.name)


def _frames_of(name: str, scores: Sequence[np.ndarray], videos: Sequence[Video], what: str) -> list[np.ndarray]:
    """Check that a member gave one score per frame of every video."""
    if len(scores) != len(videos):
        raise InvalidVideoError(f"detector {name!r} returned {what} for {len(scores)} videos, expected {len(videos)}")
    for video, values in zip(videos, scores):
        if len(values) != len(video):
            raise InvalidVideoError(
                f"detector {name!r} returned {len(values)} {what} for video {video.name!r}, which has {len(video)} frames"
            )
    return [np.asarray(values, dtype=np.float64) for values in scores]


class EnsembleScoreMaps:
    """Pixel anomaly maps of one video: weighted sum of the members' z-scored maps, computed per frame.

    Every member's map is normalised with the mean and scale of that member's frame scores on
    the training videos, as its frame scores are, then weighted.

    Parameters
    ----------
    maps : list of map sequences
        One ``(n_frames, H, W)`` sequence per member (array or lazy maps such as
        :class:`~pyvad.fusion.EventScoreMaps`), all of the same shape.
    mean, scale, weights : sequence of float
        Training mean, training scale and weight of each member.
    """

    def __init__(self, maps: Sequence[Any], mean: Sequence[float], scale: Sequence[float], weights: Sequence[float]) -> None:
        shapes = {tuple(np.shape(m)) for m in maps}
        if len(shapes) != 1:
            raise ValueError(f"the members' score maps differ in shape: {sorted(shapes)}")
        self._maps = list(maps)
        self._terms = list(zip(mean, scale, weights))
        self._shape: tuple[int, int, int] = shapes.pop()

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_frames, H, W)``."""
        return self._shape

    def __len__(self) -> int:
        return self._shape[0]

    def __getitem__(self, frame: int) -> np.ndarray:
        total = np.zeros(self._shape[1:], dtype=np.float32)
        for member_maps, (mean, scale, weight) in zip(self._maps, self._terms):
            total += np.float32(weight / scale) * (np.asarray(member_maps[frame], dtype=np.float32) - np.float32(mean))
        return total

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self.to_array()
        return array if dtype is None else array.astype(dtype)

    def to_array(self) -> np.ndarray:
        """All maps as one ``(n_frames, H, W)`` float32 array."""
        return np.stack([self[t] for t in range(len(self))])


class DetectorEnsemble(BaseDetector, _BaseComposition):
    """Several detectors fitted on the same videos, their frame scores z-scored and added.

    ``fit`` fits a clone of every member on the training videos and learns, per member, the
    mean and standard deviation of its frame scores on normal footage **it did not train
    on**: by default the training videos are split into groups, and clones fitted on the
    other groups score each group (``statistics="cross_fit"``, cross-fitting, as
    :class:`~sklearn.calibration.CalibratedClassifierCV` calibrates on held-out folds).
    Scoring z-scores every member's frame scores with these statistics, adds them with
    ``weights`` and smooths each video separately. No label is needed; for weights chosen
    on labelled videos see :func:`cross_validated_weights`.

    Parameters
    ----------
    detectors : list of (str, detector) tuples
        The members and their names, as in scikit-learn's ``VotingClassifier``. A member
        is any estimator with ``fit`` and ``score_frames`` (every pyvad detector, or one
        written with :class:`~pyvad.base.BaseDetector`). Names are used by
        ``set_params`` (``ensemble.set_params(cafe__epochs=5)``), ``get_params(deep=True)``,
        :meth:`member_scores` and ``detectors_``.
    weights : array-like of shape (n_detectors,), optional
        Non-negative weight of every member, in the order of ``detectors``; only their
        ratios matter (they are scaled to sum to 1). ``None``: equal weights, so the
        ensemble score is the mean of the members' training-z-scored frame scores.
    smoothing : {"moving_average", "median", "gaussian"} or None, default=None
        Temporal filter applied to the combined score of each video separately (never
        across videos); see :mod:`pyvad.smoothing`. Members already smooth their own
        scores, so the default adds nothing.
    window : int, default=9
        Filter length in frames.
    sigma : float, optional
        Standard deviation in frames of the ``"gaussian"`` kernel; default ``window / 6``.
    device : str, optional
        Device of every member that has a ``device`` parameter (``"cpu"``, ``"cuda"``,
        ``"auto"`` ...), set on the members at ``fit`` and, when changed later with
        ``set_params``, on the fitted members too, so ``pyvad.load(path, device="cpu")``
        scores a GPU-trained ensemble on a CPU. ``None``: members keep their own.
    statistics : {"auto", "cross_fit", "training"}, default="auto"
        Where each member's z-score mean and scale come from. ``"cross_fit"``: scores of
        training videos the member did not see -- the training videos are split into
        ``n_folds`` groups of consecutive whole videos, a clone of every member is fitted on the other
        groups and scores the held-out group. ``"training"``: the member's scores of its own
        training videos. Members fit their training videos better than new normal footage,
        each to a different degree (a member trained longer can score unseen normal frames
        many of its training standard deviations high), so in-sample statistics let the
        member that overfits most outvote the others; held-out statistics measure every
        member on footage it has not seen, as new footage will be. The cost is ``n_folds``
        extra fits of every member on part of the videos. Neither uses labels.
        ``"auto"``: ``"cross_fit"`` when there are at least ``n_folds`` training videos,
        else ``"training"`` with a warning. A member wrapped in
        :class:`~sklearn.frozen.FrozenEstimator` keeps its fitted model for scoring; its
        held-out scores come from unfitted clones of that model's configuration, fitted on
        the folds.
    n_folds : int, default=2
        Groups of training videos for ``statistics="cross_fit"``.
    verbose : bool, default=False
        Print one line per member fit (the cross-fit folds' and the final ones) with its
        elapsed time, as scikit-learn's ``Pipeline(verbose=True)`` does per step.
    cache_videos : bool, default=True
        With more than one member, decode each video file or frame folder once and hand the
        frames in memory to every member instead of letting each re-read the file. All the
        videos of one ``fit`` or scoring call are then held in memory at once (Ped2's 16
        training videos take about 0.7 GB as RGB). Set to False for footage too long for
        memory.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Expected share of abnormal training frames; sets ``offset_`` from the ensemble's
        training-frame scores.

    Attributes
    ----------
    detectors_ : dict of str to detector
        The fitted clones of the members, by name, in the order of ``detectors``.
    weights_ : ndarray of shape (n_detectors,)
        The members' weights, scaled to sum to 1.
    statistics_ : {"cross_fit", "training"}
        The statistics used (what ``statistics="auto"`` chose).
    mean_ : ndarray of shape (n_detectors,)
        Mean of every member's frame scores over the training frames (held-out scores with
        ``statistics_ == "cross_fit"``).
    scale_ : ndarray of shape (n_detectors,)
        Their standard deviation (1 for a member whose scores are constant).
    training_frame_scores_ : list of ndarray
        Ensemble scores of the training videos, from the same member scores as the
        statistics (used for ``offset_``).
    temporal_context_ : tuple of int
        ``(past, future)`` frames read around a frame to score it (every member's context
        and smoothing, plus the ensemble's smoothing), so that
        :func:`pyvad.streaming.score_stream` gives the offline scores.
    offset_ : float
        Threshold of ``decision_function``, set from ``contamination``.

    See Also
    --------
    cross_validated_weights : Weights chosen on labelled videos by nested cross-validation.
    pyvad.fusion.ScoreFusion : The same normalise-weight-smooth steps inside one detector.

    Notes
    -----
    Members do not share their foreground extraction: a pyvad detector fitted on an
    :class:`~pyvad.events.EventSet` scores event sets only, so each member extracts its own
    events from the (shared, decoded once) frames.

    :meth:`score_maps` exists only when every member has ``score_maps``.

    Examples
    --------
    >>> from pyvad.ensemble import DetectorEnsemble
    >>> from pyvad.methods import MotionBaselineDetector
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=2, n_frames=24, random_state=0)
    >>> ensemble = DetectorEnsemble([("coarse", MotionBaselineDetector(grid=(2, 2))),
    ...                              ("fine", MotionBaselineDetector(grid=(6, 8)))]).fit(train.videos)
    >>> members = ensemble.member_scores(test.videos)      # one pass over the test videos
    >>> sorted(members), [len(s) for s in ensemble.combine(members)]
    (['coarse', 'fine'], [24, 24])
    """

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "detectors": [list, None],
        "weights": ["array-like", None],
        "smoothing": [StrOptions(set(SMOOTHING_METHODS)), None],
        "window": [Interval(Integral, 1, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "device": [str, None],
        "statistics": [StrOptions({"auto", "cross_fit", "training"})],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "cache_videos": ["boolean"],
        "verbose": ["boolean"],
    }

    def __init__(
        self,
        detectors: Sequence[tuple[str, Any]] | None = None,
        *,
        weights: Sequence[float] | None = None,
        smoothing: Literal["moving_average", "median", "gaussian"] | None = None,
        window: int = 9,
        sigma: float | None = None,
        device: str | None = None,
        statistics: Literal["auto", "cross_fit", "training"] = "auto",
        n_folds: int = 2,
        cache_videos: bool = True,
        verbose: bool = False,
        contamination: str | float = "auto",
    ) -> None:
        self.detectors = detectors
        self.weights = weights
        self.smoothing = smoothing
        self.window = window
        self.sigma = sigma
        self.device = device
        self.statistics = statistics
        self.n_folds = n_folds
        self.cache_videos = cache_videos
        self.verbose = verbose
        self.contamination = contamination

    # -- parameters of the members (sklearn's composition helpers) --------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of the ensemble and, with ``deep=True``, of every member as ``name__param``.

        Parameters
        ----------
        deep : bool, default=True
            Include the members and their parameters.

        Returns
        -------
        dict
        """
        return self._get_params("detectors", deep=deep)

    def set_params(self, **params: Any) -> DetectorEnsemble:
        """Set parameters; ``name`` replaces a member, ``name__param`` sets a member's parameter.

        Setting ``device`` on a fitted ensemble also moves its fitted members.

        Parameters
        ----------
        **params
            Parameter names and values.

        Returns
        -------
        self : DetectorEnsemble
        """
        self._set_params("detectors", **params)
        if "device" in params and hasattr(self, "detectors_"):
            for member in self.detectors_.values():
                self._place(member)
        return self

    def _place(self, member: Any) -> Any:
        """``member`` with its ``device`` parameter set to the ensemble's ``device`` (when both exist)."""
        if self.device is not None and "device" in member.get_params(deep=False):
            member.set_params(device=self.device)
        return member

    def _members(self) -> list[tuple[str, Any]]:
        """The ``detectors`` parameter, checked: named, unique, each with ``fit`` and ``score_frames``."""
        if not self.detectors:
            raise ValueError("DetectorEnsemble needs at least one detector: detectors=[(name, detector), ...]")
        members = []
        for position, item in enumerate(self.detectors):
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise TypeError(f"detectors[{position}] must be a (name, detector) tuple, got {item!r}")
            name, detector = item
            if not (callable(getattr(detector, "fit", None)) and callable(getattr(detector, "score_frames", None))):
                raise TypeError(
                    f"detector {name!r} ({type(detector).__name__}) has no fit and score_frames methods; "
                    "members must be video anomaly detectors"
                )
            members.append((name, detector))
        self._validate_names([name for name, _ in members])
        return members

    # -- fitting -------------------------------------------------------------------------
    def _fit(self, X: Any, y: Any = None) -> None:
        members = self._members()
        self.weights_ = _check_weights(self.weights, [name for name, _ in members])
        videos = self._shared(as_videos(X), len(members))
        self.statistics_ = self._statistics_for(len(videos))
        if self.statistics_ == "cross_fit":
            reference = self._held_out_member_scores(videos, members)
        self.detectors_ = {name: self._fit_member(name, detector, videos, y, "final") for name, detector in members}
        if self.statistics_ == "training":
            reference = self._training_member_scores(videos)
        self.mean_, self.scale_ = zscore_statistics(np.concatenate(reference))
        self.training_frame_scores_ = self._combine(reference, self.weights_)
        self.temporal_context_ = self._temporal_context()

    def _statistics_for(self, n_videos: int) -> str:
        """The statistics to use with ``n_videos`` training videos (resolves ``"auto"``)."""
        if self.statistics != "auto":
            return self.statistics
        if n_videos >= self.n_folds:
            return "cross_fit"
        warnings.warn(
            f"DetectorEnsemble: {n_videos} training video(s) cannot be split into n_folds={self.n_folds} "
            "groups of whole videos, so each member's z-score statistics come from its own training "
            "frames (statistics='training'). A member that fits its training footage much better than "
            "new footage will then outweigh the others; give at least n_folds videos (cut a long video "
            "into several) for held-out statistics.", UserWarning, stacklevel=5)
        return "training"

    def _held_out_member_scores(self, videos: list[Video], members: list[tuple[str, Any]]) -> list[np.ndarray]:
        """Every member's scores of each training video, by a clone fitted on the other folds of videos."""
        if len(videos) < self.n_folds:
            raise ValueError(
                f"statistics='cross_fit' splits the training videos into n_folds={self.n_folds} groups, "
                f"but only {len(videos)} videos were given"
            )
        templates = [(name, detector.estimator if isinstance(detector, FrozenEstimator) else detector)
                     for name, detector in members]
        matrices: list[np.ndarray] = [np.empty((0, 0))] * len(videos)
        for number, (fit_rows, held_rows) in enumerate(KFold(self.n_folds).split(videos), start=1):
            held = [videos[i] for i in held_rows]
            fold = {name: self._fit_on_fold(name, detector, [videos[i] for i in fit_rows], number)
                    for name, detector in templates}
            scored = self._member_matrices(fold, held, lambda detector: detector.score_frames(held), "held-out frame scores")
            for index, matrix in zip(held_rows, scored):
                matrices[index] = matrix
        return matrices

    def _fit_member(self, name: str, detector: Any, videos: list[Video], y: Any, stage: str) -> Any:
        """A fresh clone of ``detector`` fitted on ``videos`` (with a timed line when ``verbose``)."""
        start = time.perf_counter()
        fitted = self._place(clone(detector)).fit(videos, y)
        if self.verbose:
            print(f"[DetectorEnsemble] ({stage}) fitted {name!r} on {len(videos)} videos, "
                  f"total={time.perf_counter() - start:.1f}s", flush=True)
        return fitted

    def _fit_on_fold(self, name: str, detector: Any, videos: list[Video], number: int) -> Any:
        """``_fit_member`` on one fold's videos; a failure names the member and fold."""
        try:
            return self._fit_member(name, detector, videos, None, f"fold {number} of {self.n_folds}")
        except Exception as error:
            error.add_note(
                f"DetectorEnsemble: raised while fitting member {name!r} on the cross-fit fold of training videos "
                f"{[video.name for video in videos]} (statistics='cross_fit' fits every member on part of the "
                "videos to measure its scores on footage it did not see; statistics='training' needs no such fit)")
            raise

    def _temporal_context(self) -> tuple[int, int]:
        """Frames before and after ``t`` read to score ``t``, for :func:`pyvad.streaming.score_stream`.

        Members smooth inside their own scoring, so each needs its context plus its filter's
        span; the ensemble's own filter adds its span on top.
        """
        spans = [np.add(temporal_context(member), _smoothing_span(_fusion(member))) for member in self.detectors_.values()]
        past, future = np.add(np.max(spans, axis=0), _smoothing_span(self))
        return int(past), int(future)

    def _shared(self, videos: list[Video], n_members: int) -> list[Video]:
        """The videos every member reads: decoded once when several members read them (``cache_videos``)."""
        if self.cache_videos and n_members > 1:
            return [_decoded(video) for video in videos]
        return videos

    def _training_member_scores(self, videos: Sequence[Video]) -> list[np.ndarray]:
        """Every member's frame scores of the training videos, one (n_frames, n_members) matrix per video.

        A member's ``training_frame_scores_`` (set by fitting) is reused; only a member without
        it scores the training videos.
        """
        def training_scores(detector: Any) -> list[np.ndarray]:
            scores = getattr(detector, "training_frame_scores_", None)
            return detector.score_frames(videos) if scores is None else scores

        return self._member_matrices(self.detectors_, videos, training_scores, "training frame scores")

    def _score_members(self, X: Any) -> list[np.ndarray]:
        """Every member's frame scores of ``X``, one (n_frames, n_members) matrix per video.

        Each member scores all videos in one call, as it would alone (so extractors keep their
        parallelism and boxes matched by video order stay right); with ``cache_videos`` the
        videos are decoded once for all members.
        """
        videos = self._shared(as_videos(X), len(self.detectors_))
        return self._member_matrices(self.detectors_, videos, lambda detector: detector.score_frames(videos), "frame scores")

    @staticmethod
    def _member_matrices(detectors: Mapping[str, Any], videos: Sequence[Video],
                         scores_of: Callable[[Any], Sequence[np.ndarray]], what: str) -> list[np.ndarray]:
        """``scores_of(detector)`` of every detector, checked, as one (n_frames, n_detectors) matrix per video."""
        columns = [_frames_of(name, scores_of(detector), videos, what) for name, detector in detectors.items()]
        return [np.column_stack(per_video) for per_video in zip(*columns)]

    def _combine(self, matrices: Sequence[np.ndarray], weights: np.ndarray) -> list[np.ndarray]:
        return combine_member_scores(matrices, self.mean_, self.scale_, weights, self.smoothing, self.window, self.sigma)

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        return self._combine(self._score_members(X), self.weights_)

    def member_scores(self, X: Any) -> dict[str, list[np.ndarray]]:
        """Every member's own frame scores (higher = more abnormal), from one pass over ``X``.

        Parameters
        ----------
        X : sequence of videos
            Videos to score.

        Returns
        -------
        dict of str to list of ndarray
            Member name → one 1-D array per video, the member's ``score_frames``. Pass it to
            :meth:`combine` for the ensemble's scores without scoring again.
        """
        check_is_fitted(self)
        matrices = self._score_members(X)
        return {name: [matrix[:, column].copy() for matrix in matrices] for column, name in enumerate(self.detectors_)}

    def combine(self, member_scores: Mapping[str, Sequence[np.ndarray]], weights: Sequence[float] | None = None) -> list[np.ndarray]:
        """Ensemble frame scores from the members' frame scores.

        Parameters
        ----------
        member_scores : mapping of str to list of ndarray
            Every member's frame scores, as returned by :meth:`member_scores`.
        weights : array-like of shape (n_detectors,), optional
            Weights to use instead of ``weights_`` (for example those chosen by
            :func:`cross_validated_weights`); scaled to sum to 1.

        Returns
        -------
        list of ndarray of shape (n_frames_i,)
            What :meth:`score_frames` returns for the same videos.
        """
        check_is_fitted(self)
        matrices = self._matrices(member_scores)
        chosen = self.weights_ if weights is None else _check_weights(weights, list(self.detectors_))
        return self._combine(matrices, chosen)

    def _matrices(self, member_scores: Mapping[str, Sequence[np.ndarray]]) -> list[np.ndarray]:
        """:meth:`member_scores` output as one (n_frames, n_members) matrix per video, checked."""
        names = list(self.detectors_)
        missing = [name for name in names if name not in member_scores]
        if missing:
            raise ValueError(f"member_scores lacks the detectors {missing}; it has {sorted(member_scores)}")
        per_member = [list(member_scores[name]) for name in names]
        if len({len(videos) for videos in per_member}) != 1:
            raise ValueError("member_scores must hold the same number of videos for every detector")
        matrices = []
        for video, columns in enumerate(zip(*per_member)):
            if len({len(column) for column in columns}) != 1:
                raise InvalidVideoError(f"member_scores of video {video} differ in length between detectors")
            matrices.append(np.column_stack(columns))
        return matrices

    def _members_have_maps(self) -> bool:
        return bool(self.detectors) and all(hasattr(detector, "score_maps") for _, detector in self.detectors)

    @available_if(_members_have_maps)
    def score_maps(self, X: Any) -> list[EnsembleScoreMaps]:
        """Pixel anomaly maps: the members' maps, z-scored like their frame scores, weighted and added.

        Available only when every member has ``score_maps``. Members with weight 0 are not run.

        Parameters
        ----------
        X : sequence of videos
            Videos to score (each member computes its maps, one more pass through it).

        Returns
        -------
        list of EnsembleScoreMaps
            One lazy ``(n_frames, H, W)`` float32 map sequence per video.
        """
        check_is_fitted(self)
        used = [(name, column) for column, name in enumerate(self.detectors_) if self.weights_[column] > 0]
        terms = [(self.mean_[c], self.scale_[c], self.weights_[c]) for _, c in used]
        videos = self._shared(as_videos(X), len(used))
        per_member = [self.detectors_[name].score_maps(videos) for name, _ in used]
        return [EnsembleScoreMaps(list(maps), *zip(*terms)) for maps in zip(*per_member)]


#: The methods :func:`make_ensemble` combines by default: one detector per paper.
PAPER_METHODS: tuple[str, ...] = ("cafe", "pkgnet", "maskedae")


def make_ensemble(preset: str = "ped2", *, methods: Sequence[str] = PAPER_METHODS, random_state: int | None = None,
                  **params: Any) -> DetectorEnsemble:
    """A :class:`DetectorEnsemble` of pyvad methods, built by name with one preset.

    What the ``pyvad fit --method ensemble`` command builds. Each member is named after its
    method, so ``ensemble.set_params(cafe__epochs=5)`` reaches it.

    Parameters
    ----------
    preset : str, default="ped2"
        The preset of every member that has presets (``"ped2"``, ``"avenue"``,
        ``"shanghaitech"`` or ``"fast"`` for the three paper detectors).
    methods : sequence of str, default=("cafe", "pkgnet", "maskedae")
        Method names, as :func:`pyvad.methods.get_method` takes them.
    random_state : int, optional
        Seed of every member that has one.
    **params
        Parameters of the :class:`DetectorEnsemble` (``weights``, ``statistics``, ``device`` ...).

    Returns
    -------
    DetectorEnsemble
        Unfitted.

    Examples
    --------
    >>> from pyvad.ensemble import make_ensemble
    >>> ensemble = make_ensemble("fast", random_state=0, statistics="training")
    >>> [(name, member.preset, member.random_state) for name, member in ensemble.detectors]
    [('cafe', 'fast', 0), ('pkgnet', 'fast', 0), ('maskedae', 'fast', 0)]
    """
    from pyvad.methods import get_method

    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods must be a non-empty sequence of method names, got {methods!r}")
    members = []
    for name in methods:
        cls = get_method(name)
        accepted = cls().get_params(deep=False)
        shared = {key: value for key, value in (("preset", preset), ("random_state", random_state)) if key in accepted}
        members.append((name, cls(**shared)))
    return DetectorEnsemble(members, **params)


# ---------------------------------------------------------------------------------------
# Weights chosen on labelled videos
# ---------------------------------------------------------------------------------------
def simplex_grid(n_members: int, steps: int = 4) -> list[tuple[float, ...]]:
    """Candidate weight vectors: every split of 1 into ``n_members`` multiples of ``1 / steps``.

    Equal weights come first, so that :class:`~sklearn.model_selection.GridSearchCV` (which
    keeps the first of tied candidates) falls back to them.

    Parameters
    ----------
    n_members : int
        Number of detectors.
    steps : int, default=4
        Resolution: weights are multiples of ``1 / steps``.

    Returns
    -------
    list of tuple of float

    Examples
    --------
    >>> simplex_grid(2, steps=2)
    [(0.5, 0.5), (0.0, 1.0), (1.0, 0.0)]
    """
    if isinstance(n_members, bool) or not isinstance(n_members, Integral) or n_members < 1:
        raise ValueError(f"n_members must be an integer >= 1, got {n_members!r}")
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    equal = tuple([1.0 / n_members] * n_members)
    splits = [tuple(k / steps for k in counts)
              for counts in itertools.product(range(steps + 1), repeat=n_members) if sum(counts) == steps]
    return [equal] + [split for split in splits if not np.allclose(split, equal)]


class _FrozenCombination(BaseEstimator):
    """Ensemble scores of cached member scores with frozen training statistics; ``fit`` learns nothing.

    ``X`` is a list of (n_frames, n_members) matrices of member scores, so a grid search over
    ``weights`` never runs a detector again. Parameters are plain values (no fitted ensemble),
    so :func:`~sklearn.base.clone` keeps the training statistics.
    """

    def __init__(self, names: Sequence[str], mean: np.ndarray, scale: np.ndarray, weights: Sequence[float] | None = None,
                 smoothing: str | None = None, window: int = 9, sigma: float | None = None) -> None:
        self.names = names
        self.mean = mean
        self.scale = scale
        self.weights = weights
        self.smoothing = smoothing
        self.window = window
        self.sigma = sigma

    def fit(self, X: Any, y: Any = None) -> _FrozenCombination:
        self.weights_ = _check_weights(self.weights, self.names)
        return self

    def score_frames(self, X: Sequence[np.ndarray]) -> list[np.ndarray]:
        check_is_fitted(self)
        return combine_member_scores(X, self.mean, self.scale, self.weights_, self.smoothing, self.window, self.sigma)


@dataclass(frozen=True)
class CrossValidatedWeights:
    """Result of :func:`cross_validated_weights`.

    Attributes
    ----------
    frame_scores : list of ndarray
        Out-of-fold ensemble scores, one array per video in input order: every video is
        scored with weights chosen on the other videos only.
    fold_weights : list of dict of str to float
        The weights chosen in each outer fold (member name → weight, summing to 1).
    fold_videos : list of ndarray
        Indices of the videos scored by each outer fold.
    member_scores : dict of str to list of ndarray
        Every member's own frame scores of the videos (computed once, reused by all folds).
    """

    frame_scores: list[np.ndarray]
    fold_weights: list[dict[str, float]]
    fold_videos: list[np.ndarray]
    member_scores: dict[str, list[np.ndarray]]


def _inner_splits(inner_cv: int | Any, outer_train: np.ndarray, outer_test: np.ndarray,
                  labels: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The inner folds over one outer fold's training videos, each checked to hold both classes.

    A fold of only normal (or only abnormal) frames has no AUC, and the error scikit-learn
    would raise from deep inside the grid search names neither the fold nor a remedy.
    """
    outer_train = np.asarray(outer_train)  # a user's splitter may yield lists
    outer_labels = [labels[i] for i in outer_train]
    splits = list(check_cv(inner_cv).split(outer_labels))
    for _, inner_test in splits:
        frames = np.concatenate([outer_labels[i] for i in inner_test])
        if frames.min() == frames.max():
            kind = "abnormal" if frames[0] else "normal"
            raise ValueError(
                f"an inner fold holds only {kind} frames (videos {outer_train[inner_test].tolist()}, while "
                f"choosing weights for videos {np.asarray(outer_test).tolist()}): the scorers need both "
                "classes in every fold. Use fewer inner folds, or a splitter that mixes videos, e.g. "
                "inner_cv=KFold(2, shuffle=True, random_state=0)")
    return splits


def cross_validated_weights(
    ensemble: DetectorEnsemble,
    videos: Any,
    labels: Sequence[Any],
    grid: Iterable[Sequence[float]] | None = None,
    *,
    cv: int | Any = 4,
    inner_cv: int | Any = 3,
    scoring: str = "micro_auc",
) -> CrossValidatedWeights:
    """Choose the ensemble's weights on labelled videos by nested leave-videos-out cross-validation.

    The members are **not** refitted: every member scores the labelled videos once, and only
    the combination is searched. The z-score statistics stay those of the ensemble's
    training videos. The videos are split into outer folds (a fold never splits a video);
    for each outer fold a :class:`~sklearn.model_selection.GridSearchCV` with
    :func:`pyvad.metrics.make_video_scorer` and inner leave-videos-out folds picks the
    weights on the *other* videos, and those weights score the fold's videos. So no video
    is scored with weights tuned on its own labels, and the concatenated out-of-fold scores
    can be evaluated as an honest, label-using result (report it beside the equal-weight
    ensemble, not instead of it).

    Parameters
    ----------
    ensemble : DetectorEnsemble
        A fitted ensemble; its smoothing parameters are kept.
    videos : sequence of videos, or mapping of str to list of ndarray
        Labelled videos, or their members' scores as returned by
        :meth:`DetectorEnsemble.member_scores` (then nothing is scored again).
    labels : list of array-like
        0/1 frame labels, one array per video.
    grid : iterable of array-like, optional
        Candidate weight vectors, one weight per member. Default: :func:`simplex_grid`
        with steps of 0.25.
    cv : int or cross-validation splitter, default=4
        Outer folds over the videos (an int means :class:`~sklearn.model_selection.KFold`
        over videos in order).
    inner_cv : int or cross-validation splitter, default=3
        Folds of the inner grid search over the outer-training videos. Every inner test
        fold needs normal and abnormal frames for the AUC scorers; a fold without both
        raises a ``ValueError`` naming its videos before any search runs.
    scoring : str, default="micro_auc"
        A metric of :func:`pyvad.metrics.make_video_scorer`.

    Returns
    -------
    CrossValidatedWeights
        Out-of-fold frame scores, the weights chosen per fold, the folds and the cached
        member scores.

    Examples
    --------
    >>> from pyvad.ensemble import DetectorEnsemble, cross_validated_weights
    >>> from pyvad.methods import MotionBaselineDetector
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=4, n_frames=24, random_state=0)
    >>> ensemble = DetectorEnsemble([("coarse", MotionBaselineDetector(grid=(2, 2))),
    ...                              ("fine", MotionBaselineDetector(grid=(6, 8)))]).fit(train.videos)
    >>> result = cross_validated_weights(ensemble, test.videos, test.frame_labels, cv=2, inner_cv=2)
    >>> len(result.frame_scores), len(result.fold_weights)
    (4, 2)
    """
    check_is_fitted(ensemble)
    names = list(ensemble.detectors_)
    matrices = ensemble._matrices(videos) if isinstance(videos, Mapping) else ensemble._score_members(videos)
    y = check_frame_labels(labels, [len(matrix) for matrix in matrices])
    candidates = simplex_grid(len(names)) if grid is None else [list(weights) for weights in grid]
    if not candidates:
        raise ValueError("grid is empty: give at least one weight vector")
    for weights in candidates:
        _check_weights(weights, names)
    combination = _FrozenCombination(names, ensemble.mean_, ensemble.scale_, smoothing=ensemble.smoothing,
                                     window=ensemble.window, sigma=ensemble.sigma)
    scores: list[np.ndarray | None] = [None] * len(matrices)
    fold_weights, fold_videos = [], []
    for train, test in check_cv(cv).split(matrices):
        search = GridSearchCV(combination, {"weights": candidates}, scoring=make_video_scorer(scoring),
                              cv=_inner_splits(inner_cv, train, test, y), error_score="raise")
        search.fit([matrices[i] for i in train], [y[i] for i in train])
        chosen = search.best_estimator_
        for index, video_scores in zip(test, chosen.score_frames([matrices[i] for i in test])):
            scores[index] = video_scores
        fold_weights.append(dict(zip(names, chosen.weights_.tolist())))
        fold_videos.append(np.asarray(test))
    unscored = [index for index, video_scores in enumerate(scores) if video_scores is None]
    if unscored:
        raise ValueError(f"the outer cv left videos {unscored} unscored; use a splitter whose test folds cover every video")
    member_scores = {name: [matrix[:, column].copy() for matrix in matrices] for column, name in enumerate(names)}
    return CrossValidatedWeights(scores, fold_weights, fold_videos, member_scores)
