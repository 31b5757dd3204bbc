"""Evaluation metrics for video anomaly detection.

Frame-level metrics take per-video arrays: ``y_true`` is a list of 0/1 frame
labels and ``y_score`` a list of frame scores (higher = more abnormal), one
array per video; a single 1-D array is read as one video.

* :func:`micro_auc` -- ROC AUC over the frames of all videos concatenated (the
  headline "frame-level AUC" of most papers).
* :func:`macro_auc` -- mean of the per-video ROC AUCs.
* :func:`eer` -- equal error rate over the concatenated frames.
* :func:`average_precision` -- average precision over the concatenated frames.

Localisation metrics take per-video pixel masks and pixel anomaly maps:

* :func:`rbdc` / :func:`tbdc` -- Region- and Track-Based Detection Criteria of
  Ramachandra & Jones (Street Scene, WACV 2020); :func:`detection_curves`
  returns the curves they summarise.

:func:`evaluate` computes everything that applies and :func:`make_video_scorer`
turns a metric into a scorer for :class:`sklearn.model_selection.GridSearchCV`.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from pyvad.exceptions import FrameSizeMismatchError, InvalidVideoError

__all__ = [
    "micro_auc",
    "macro_auc",
    "eer",
    "average_precision",
    "detection_curves",
    "rbdc",
    "tbdc",
    "evaluate",
    "make_video_scorer",
]

ThresholdsLike = int | Sequence[float] | np.ndarray

_SINGLE_CLASS_POLICIES = ("skip", "error")
_DEFAULT_THRESHOLDS = 50


# --------------------------------------------------------------------------
# Frame-level input validation
# --------------------------------------------------------------------------


def _as_video_arrays(values: Any, name: str) -> list[np.ndarray]:
    """Return ``values`` as a non-empty list of 1-D arrays, one per video.

    A 1-D array or a flat list of numbers is one video.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of per-video arrays, got a string")
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise InvalidVideoError(
                f"{name} must be a list of 1-D per-video arrays or one 1-D array; "
                f"got an array of shape {values.shape}"
            )
        values = [values]
    videos = [np.asarray(video) for video in values]
    if videos and all(video.ndim == 0 for video in videos):
        videos = [np.asarray(values)]  # a flat list of numbers is one video
    if not videos:
        raise InvalidVideoError(f"{name} is empty: expected at least one video")
    for index, video in enumerate(videos):
        if video.ndim != 1:
            raise InvalidVideoError(
                f"{name}[{index}] must be a 1-D array with one entry per frame, "
                f"got shape {video.shape}"
            )
        if video.size == 0:
            raise InvalidVideoError(f"{name}[{index}] has no frames")
        if not (np.issubdtype(video.dtype, np.number) or video.dtype == bool):
            raise InvalidVideoError(
                f"{name}[{index}] must be numeric, got dtype {video.dtype}"
            )
    return videos


def _check_labels(labels: np.ndarray, index: int) -> None:
    """Raise if the frame labels of video ``index`` are not all 0 or 1."""
    bad = (labels != 0) & (labels != 1)
    if np.any(bad):
        frame = int(np.flatnonzero(bad)[0])
        raise InvalidVideoError(
            f"y_true[{index}] must hold 0/1 frame labels; frame {frame} is "
            f"{labels[frame]!r}"
        )


def _check_scores(scores: np.ndarray, index: int) -> None:
    """Raise if the frame scores of video ``index`` contain NaN or infinity."""
    bad = ~np.isfinite(scores)
    if np.any(bad):
        frame = int(np.flatnonzero(bad)[0])
        raise InvalidVideoError(
            f"y_score[{index}] must be finite; frame {frame} is {scores[frame]!r}"
        )


def _check_frame_inputs(
    y_true: Any, y_score: Any
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate per-video labels and scores; return them as matching lists."""
    labels = _as_video_arrays(y_true, "y_true")
    scores = _as_video_arrays(y_score, "y_score")
    if len(labels) != len(scores):
        raise InvalidVideoError(
            f"y_true has {len(labels)} videos but y_score has {len(scores)}"
        )
    for index, (video_labels, video_scores) in enumerate(zip(labels, scores)):
        if len(video_labels) != len(video_scores):
            raise InvalidVideoError(
                f"video {index}: y_true has {len(video_labels)} frames but "
                f"y_score has {len(video_scores)}"
            )
        _check_labels(video_labels, index)
        _check_scores(video_scores, index)
    labels = [video.astype(np.uint8) for video in labels]
    scores = [video.astype(np.float64) for video in scores]
    return labels, scores


def _concatenated(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated labels and scores of all videos, concatenated, both classes present."""
    labels, scores = _check_frame_inputs(y_true, y_score)
    all_labels = np.concatenate(labels)
    if np.unique(all_labels).size < 2:
        raise InvalidVideoError(
            "y_true holds a single class over all videos "
            f"(every frame is {int(all_labels[0])}); the metric needs both "
            "normal (0) and abnormal (1) frames"
        )
    return all_labels, np.concatenate(scores)


# --------------------------------------------------------------------------
# Frame-level metrics
# --------------------------------------------------------------------------


def micro_auc(y_true: Any, y_score: Any) -> float:
    """Frame-level ROC AUC over the frames of all videos concatenated.

    This is the "frame-level AUC" most video anomaly detection papers report
    (also called micro AUC): one ROC curve over every test frame.

    Parameters
    ----------
    y_true : list of array-like of shape (n_frames_i,), or array-like
        0/1 frame labels per video (1 = abnormal). A single 1-D array is one
        video.
    y_score : list of array-like of shape (n_frames_i,), or array-like
        Frame scores per video, higher = more abnormal.

    Returns
    -------
    float
        Area under the ROC curve, in [0, 1].

    Raises
    ------
    InvalidVideoError
        If the videos or their frame counts do not match, a label is not 0/1,
        a score is NaN or infinite, or all frames have the same label.

    See Also
    --------
    macro_auc : Mean of the per-video AUCs.

    Examples
    --------
    >>> micro_auc([[0, 0, 1], [0, 1]], [[0.1, 0.2, 0.9], [0.3, 0.8]])
    1.0
    """
    labels, scores = _concatenated(y_true, y_score)
    return float(roc_auc_score(labels, scores))


def macro_auc(y_true: Any, y_score: Any, *, single_class: str = "skip") -> float:
    """Mean of the per-video frame-level ROC AUCs.

    A video whose frames all have the same label has no defined AUC. Such a
    video is skipped (with an :class:`~sklearn.exceptions.UndefinedMetricWarning`
    naming it) or rejected, as ``single_class`` says. Skipping is the common
    practice; note that the released AED-MAE code instead pads every video with
    a dummy normal frame of score 0 and a dummy abnormal frame of score 1, which
    depends on the score scale and gives different numbers.

    Parameters
    ----------
    y_true : list of array-like of shape (n_frames_i,), or array-like
        0/1 frame labels per video (1 = abnormal).
    y_score : list of array-like of shape (n_frames_i,), or array-like
        Frame scores per video, higher = more abnormal.
    single_class : {"skip", "error"}, default="skip"
        What to do with a video that holds only normal or only abnormal
        frames: leave it out of the mean (with a warning) or raise.

    Returns
    -------
    float
        Mean AUC over the videos that have both classes, in [0, 1].

    Raises
    ------
    InvalidVideoError
        On invalid input (see :func:`micro_auc`), if ``single_class="error"``
        and a video has a single class, or if every video has a single class.
    ValueError
        If ``single_class`` is not one of the accepted values.

    Examples
    --------
    >>> macro_auc([[0, 1], [0, 1]], [[0.1, 0.2], [0.5, 0.9]])
    1.0
    """
    if single_class not in _SINGLE_CLASS_POLICIES:
        raise ValueError(
            f"single_class must be one of {_SINGLE_CLASS_POLICIES}, got {single_class!r}"
        )
    labels, scores = _check_frame_inputs(y_true, y_score)
    aucs = []
    for index, (video_labels, video_scores) in enumerate(zip(labels, scores)):
        if np.unique(video_labels).size < 2:
            _handle_single_class_video(index, int(video_labels[0]), single_class)
            continue
        aucs.append(roc_auc_score(video_labels, video_scores))
    if not aucs:
        raise InvalidVideoError(
            "macro AUC is undefined: every video holds a single class "
            "(only normal or only abnormal frames)"
        )
    return float(np.mean(aucs))


def _handle_single_class_video(index: int, label: int, policy: str) -> None:
    """Warn about (``"skip"``) or reject (``"error"``) a single-class video."""
    message = (
        f"video {index} has only {'abnormal' if label else 'normal'} frames, "
        "so its AUC is undefined"
    )
    if policy == "error":
        raise InvalidVideoError(message)
    warnings.warn(f"{message}; it is left out of the macro AUC", UndefinedMetricWarning)


def eer(y_true: Any, y_score: Any) -> float:
    """Equal error rate over the frames of all videos concatenated.

    The EER is the error rate at the operating point where the false positive
    rate equals the false negative rate (1 - true positive rate). It is read
    off the ROC curve by linear interpolation between the two ROC points where
    ``FPR - FNR`` changes sign. Lower is better: 0 for perfectly separated
    scores, 1 for perfectly reversed ones.

    Parameters
    ----------
    y_true : list of array-like of shape (n_frames_i,), or array-like
        0/1 frame labels per video (1 = abnormal).
    y_score : list of array-like of shape (n_frames_i,), or array-like
        Frame scores per video, higher = more abnormal.

    Returns
    -------
    float
        Equal error rate, in [0, 1].

    Raises
    ------
    InvalidVideoError
        On invalid input (see :func:`micro_auc`).

    Examples
    --------
    >>> eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    0.0
    """
    labels, scores = _concatenated(y_true, y_score)
    fpr, tpr, _ = roc_curve(labels, scores)
    gap = fpr - (1.0 - tpr)
    after = int(np.argmax(gap >= 0))  # > 0: the ROC curve starts at FPR 0, FNR 1
    before = after - 1
    weight = -gap[before] / (gap[after] - gap[before])
    return float(fpr[before] + weight * (fpr[after] - fpr[before]))


def average_precision(y_true: Any, y_score: Any) -> float:
    """Average precision of the abnormal class over all frames concatenated.

    Abnormal frames (label 1) are the positive class, as in
    :func:`sklearn.metrics.average_precision_score`.

    Parameters
    ----------
    y_true : list of array-like of shape (n_frames_i,), or array-like
        0/1 frame labels per video (1 = abnormal).
    y_score : list of array-like of shape (n_frames_i,), or array-like
        Frame scores per video, higher = more abnormal.

    Returns
    -------
    float
        Average precision, in [0, 1].

    Raises
    ------
    InvalidVideoError
        On invalid input (see :func:`micro_auc`).

    Examples
    --------
    >>> average_precision([[0, 1], [1]], [[0.1, 0.9], [0.8]])
    1.0
    """
    labels, scores = _concatenated(y_true, y_score)
    return float(average_precision_score(labels, scores))


# --------------------------------------------------------------------------
# Region/track-level input handling
# --------------------------------------------------------------------------


def _video_list(videos: Any, name: str) -> list[Any]:
    """Return ``videos`` as a non-empty list of per-video frame sequences.

    One array of shape (T, H, W) or (T, H, W, 1) is one video; anything else
    must be a sequence of videos, each supporting ``len()`` and integer
    indexing.
    """
    if isinstance(videos, np.ndarray):
        if videos.ndim == 3 or (videos.ndim == 4 and videos.shape[-1] == 1):
            return [videos]
        raise InvalidVideoError(
            f"{name} as one array must have shape (T, H, W) or (T, H, W, 1), "
            f"got {videos.shape}"
        )
    if isinstance(videos, (str, bytes)) or not hasattr(videos, "__len__"):
        raise TypeError(
            f"{name} must be a list of videos (sequences of 2-D frames), "
            f"got {type(videos).__name__}"
        )
    video_list = list(videos)
    if not video_list:
        raise InvalidVideoError(f"{name} is empty: expected at least one video")
    for index, video in enumerate(video_list):
        if isinstance(video, np.ndarray) and video.ndim == 2:
            raise InvalidVideoError(
                f"{name}[{index}] is a single 2-D frame; {name} must be a list of "
                "videos, each a sequence of frames (wrap one video as [frames])"
            )
        if not (hasattr(video, "__len__") and hasattr(video, "__getitem__")):
            raise TypeError(
                f"{name}[{index}] must support len() and integer indexing, "
                f"got {type(video).__name__}"
            )
    return video_list


def _video_label(name: str, index: int, video: Any) -> str:
    """How errors name a video: ``masks_true[3]``, plus its ``name`` when it has one."""
    video_name = getattr(video, "name", None)
    suffix = f" ({video_name!r})" if isinstance(video_name, str) else ""
    return f"{name}[{index}]{suffix}"


def _read_frame(video: Any, frame: int, label: str) -> np.ndarray:
    """Frame ``frame`` of the video named ``label`` as a 2-D array."""
    image = np.asarray(video[frame])
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise InvalidVideoError(
            f"{label} frame {frame} must have shape (H, W) or (H, W, 1), "
            f"got {image.shape}"
        )
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise InvalidVideoError(
            f"{label} frame {frame} must be numeric, got dtype {image.dtype}"
        )
    return image


def _read_map(video: Any, frame: int, label: str) -> np.ndarray:
    """Anomaly map ``frame`` of the video named ``label`` as a finite float 2-D array."""
    score_map = _read_frame(video, frame, label).astype(np.float64)
    if not np.all(np.isfinite(score_map)):
        raise InvalidVideoError(
            f"{label} frame {frame} contains NaN or infinite values"
        )
    return score_map


def _read_mask(video: Any, frame: int, label: str) -> np.ndarray:
    """Ground-truth mask ``frame`` of the video named ``label`` as a boolean 2-D array."""
    return _read_frame(video, frame, label) != 0


def _resolve_thresholds(thresholds: ThresholdsLike, maps: list[Any]) -> np.ndarray:
    """Thresholds to sweep: given values, or ``n`` evenly spaced over the maps' range."""
    if isinstance(thresholds, numbers.Integral) and not isinstance(thresholds, bool):
        if thresholds < 2:
            raise ValueError(f"thresholds as a count must be >= 2, got {thresholds}")
        low, high = _map_value_range(maps)
        return np.linspace(low, high, int(thresholds))
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(
            "thresholds must be an int >= 2 or a non-empty 1-D array of finite "
            f"values, got {thresholds!r}"
        )
    return values


def _map_value_range(maps: list[Any]) -> tuple[float, float]:
    """Smallest and largest value over every frame of every map (one pass)."""
    low, high = np.inf, -np.inf
    for index, video in enumerate(maps):
        label = _video_label("maps_pred", index, video)
        for frame in range(len(video)):
            score_map = _read_map(video, frame, label)
            low = min(low, float(score_map.min()))
            high = max(high, float(score_map.max()))
    if not np.isfinite(low):
        raise InvalidVideoError("maps_pred holds no frames")
    return low, high


def _check_fraction(value: float, name: str) -> None:
    """Raise unless ``0 < value <= 1``."""
    if not (isinstance(value, numbers.Real) and 0 < value <= 1):
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


# --------------------------------------------------------------------------
# Region matching
# --------------------------------------------------------------------------


def _connected_regions(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components: label image (0 = background, regions 1..n) and n."""
    count, labels = cv2.connectedComponents(
        binary.view(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    return labels, count - 1


def _region_iou(
    gt_ids: np.ndarray,
    gt_areas: np.ndarray,
    det_labels_at_gt: np.ndarray,
    det_areas: np.ndarray,
) -> np.ndarray:
    """Pixel IoU between every ground-truth and every detected region, (n_gt, n_det).

    ``gt_ids`` (0-based region ids) and ``det_labels_at_gt`` (detection labels,
    0 = background) are read at the same ground-truth pixels.
    """
    n_gt, n_det = len(gt_areas), len(det_areas)
    inside = det_labels_at_gt > 0
    pairs = gt_ids[inside] * n_det + det_labels_at_gt[inside] - 1
    intersection = np.bincount(pairs, minlength=n_gt * n_det).reshape(n_gt, n_det)
    return intersection / (gt_areas[:, None] + det_areas[None, :] - intersection)


def _match_frame(
    gt_labels: np.ndarray,
    n_gt: int,
    score_map: np.ndarray,
    thresholds: np.ndarray,
    iou_threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Detections of one frame at every threshold.

    Returns
    -------
    detected : ndarray of bool, shape (n_gt_regions, n_thresholds)
        Whether some detected region has IoU >= ``iou_threshold`` with the
        ground-truth region.
    false_positives : ndarray of int, shape (n_thresholds,)
        Detected regions whose IoU with every ground-truth region is below
        ``iou_threshold``.
    """
    detected = np.zeros((n_gt, len(thresholds)), dtype=bool)
    false_positives = np.zeros(len(thresholds), dtype=np.int64)
    gt_pixels = np.flatnonzero(gt_labels)
    gt_ids = gt_labels.ravel()[gt_pixels].astype(np.int64) - 1
    gt_areas = np.bincount(gt_ids, minlength=n_gt)
    peak = score_map.max()
    for k, threshold in enumerate(thresholds):
        if threshold > peak:
            continue
        det_labels, n_det = _connected_regions(score_map >= threshold)
        det_areas = np.bincount(det_labels.ravel(), minlength=n_det + 1)[1:]
        iou = _region_iou(gt_ids, gt_areas, det_labels.ravel()[gt_pixels], det_areas)
        hits = iou >= iou_threshold
        detected[:, k] = hits.any(axis=1)
        false_positives[k] = np.count_nonzero(~hits.any(axis=0))
    return detected, false_positives


class _TrackLinker:
    """Union-find over ground-truth regions that joins regions into tracks.

    Two regions of consecutive frames of a video that share at least one pixel
    belong to the same track (the 3-D connected components of the mask volume,
    linked through time by pixel overlap).
    """

    def __init__(self) -> None:
        self._parent: list[int] = []

    def add_regions(self, count: int) -> int:
        """Register ``count`` new regions; return the id of the first one."""
        first = len(self._parent)
        self._parent.extend(range(first, first + count))
        return first

    def link_overlaps(
        self,
        prev_labels: np.ndarray,
        prev_first: int,
        labels: np.ndarray,
        first: int,
    ) -> None:
        """Join every region of a frame with the overlapping regions of the previous one."""
        overlap = (prev_labels > 0) & (labels > 0)
        stride = int(labels.max()) + 1
        codes = np.unique(prev_labels[overlap].astype(np.int64) * stride + labels[overlap])
        for code in codes:
            previous, current = divmod(int(code), stride)
            self._union(prev_first + previous - 1, first + current - 1)

    def track_ids(self) -> np.ndarray:
        """Track index (0..n_tracks-1) of every region, in registration order."""
        roots = [self._find(region) for region in range(len(self._parent))]
        return np.unique(np.asarray(roots, dtype=np.int64), return_inverse=True)[1]

    def _find(self, region: int) -> int:
        while self._parent[region] != region:
            self._parent[region] = self._parent[self._parent[region]]
            region = self._parent[region]
        return region

    def _union(self, a: int, b: int) -> None:
        root_a, root_b = self._find(a), self._find(b)
        if root_a != root_b:
            self._parent[max(root_a, root_b)] = min(root_a, root_b)


@dataclass(frozen=True)
class _RegionSweep:
    """Outcome of sweeping the detection threshold over all frames."""

    thresholds: np.ndarray
    detected: np.ndarray
    track_ids: np.ndarray
    false_positives: np.ndarray
    n_frames: int

    @property
    def false_positives_per_frame(self) -> np.ndarray:
        """False-positive regions per frame at every threshold."""
        return self.false_positives / self.n_frames

    @property
    def region_detection_rate(self) -> np.ndarray:
        """Fraction of ground-truth regions detected at every threshold."""
        return self.detected.mean(axis=0)

    def track_detection_rate(self, track_fraction: float) -> np.ndarray:
        """Fraction of ground-truth tracks with >= ``track_fraction`` of regions detected."""
        n_tracks = int(self.track_ids.max()) + 1
        hits = np.zeros((n_tracks, self.detected.shape[1]), dtype=np.int64)
        np.add.at(hits, self.track_ids, self.detected)
        lengths = np.bincount(self.track_ids, minlength=n_tracks)
        return (hits / lengths[:, None] >= track_fraction).mean(axis=0)


def _sweep_regions(
    masks_true: Any,
    maps_pred: Any,
    thresholds: ThresholdsLike,
    iou_threshold: float,
) -> _RegionSweep:
    """Match ground-truth regions and detected regions at every threshold, frame by frame."""
    _check_fraction(iou_threshold, "iou_threshold")
    masks = _video_list(masks_true, "masks_true")
    maps = _video_list(maps_pred, "maps_pred")
    if len(masks) != len(maps):
        raise InvalidVideoError(
            f"masks_true has {len(masks)} videos but maps_pred has {len(maps)}"
        )
    levels = _resolve_thresholds(thresholds, maps)
    linker = _TrackLinker()
    detected: list[np.ndarray] = []
    false_positives = np.zeros(len(levels), dtype=np.int64)
    n_frames = 0
    for index, (mask_video, map_video) in enumerate(zip(masks, maps)):
        names = (
            _video_label("masks_true", index, mask_video),
            _video_label("maps_pred", index, map_video),
        )
        if len(mask_video) != len(map_video):
            raise InvalidVideoError(
                f"{names[0]} has {len(mask_video)} frames but {names[1]} has "
                f"{len(map_video)}"
            )
        video_detected, video_fp = _sweep_video(
            mask_video, map_video, names, levels, iou_threshold, linker
        )
        detected.extend(video_detected)
        false_positives += video_fp
        n_frames += len(mask_video)
    if n_frames == 0:
        raise InvalidVideoError("masks_true holds no frames")
    all_detected = np.concatenate(detected)
    if len(all_detected) == 0:
        raise InvalidVideoError(
            "masks_true holds no abnormal pixel, so region and track detection "
            "rates are undefined"
        )
    return _RegionSweep(levels, all_detected, linker.track_ids(), false_positives, n_frames)


def _sweep_video(
    mask_video: Any,
    map_video: Any,
    names: tuple[str, str],
    thresholds: np.ndarray,
    iou_threshold: float,
    linker: _TrackLinker,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-frame region matching for one video; registers its regions with ``linker``.

    ``names`` are how errors name the mask video and the map video.
    """
    detected: list[np.ndarray] = []
    false_positives = np.zeros(len(thresholds), dtype=np.int64)
    prev_labels: np.ndarray | None = None
    prev_first = 0
    for frame in range(len(mask_video)):
        mask = _read_mask(mask_video, frame, names[0])
        score_map = _read_map(map_video, frame, names[1])
        if mask.shape != score_map.shape:
            raise FrameSizeMismatchError(
                f"frame {frame}: {names[0]} is {mask.shape} but {names[1]} is "
                f"{score_map.shape}"
            )
        if prev_labels is not None and prev_labels.shape != mask.shape:
            raise FrameSizeMismatchError(
                f"{names[0]} frame {frame} is {mask.shape} but the previous frame "
                f"is {prev_labels.shape}"
            )
        gt_labels, n_gt = _connected_regions(mask)
        first = linker.add_regions(n_gt)
        if prev_labels is not None:
            linker.link_overlaps(prev_labels, prev_first, gt_labels, first)
        frame_detected, frame_fp = _match_frame(
            gt_labels, n_gt, score_map, thresholds, iou_threshold
        )
        detected.append(frame_detected)
        false_positives += frame_fp
        prev_labels, prev_first = gt_labels, first
    return detected, false_positives


def _area_under_detection_curve(
    fp_per_frame: np.ndarray, detection_rate: np.ndarray, max_fp_per_frame: float
) -> float:
    """Normalised area under the best-achievable detection rate for FP budgets 0..max.

    The curve at budget ``x`` is the highest detection rate among thresholds
    with at most ``x`` false positives per frame (0 when none qualifies).
    """
    if not (isinstance(max_fp_per_frame, numbers.Real) and max_fp_per_frame > 0):
        raise ValueError(f"max_fp_per_frame must be > 0, got {max_fp_per_frame!r}")
    order = np.argsort(fp_per_frame, kind="stable")
    fp = fp_per_frame[order]
    best_rate = np.maximum.accumulate(detection_rate[order])
    within = fp < max_fp_per_frame
    edges = np.append(fp[within], max_fp_per_frame)
    return float(np.sum(np.diff(edges) * best_rate[within]) / max_fp_per_frame)


# --------------------------------------------------------------------------
# Region/track-level metrics
# --------------------------------------------------------------------------


def detection_curves(
    masks_true: Any,
    maps_pred: Any,
    *,
    iou_threshold: float = 0.1,
    track_fraction: float = 0.1,
    thresholds: ThresholdsLike = _DEFAULT_THRESHOLDS,
) -> dict[str, np.ndarray]:
    """Region and track detection rates against false positives per frame.

    These are the curves that :func:`rbdc` and :func:`tbdc` summarise, one
    point per threshold.

    Parameters
    ----------
    masks_true, maps_pred, iou_threshold
        See :func:`rbdc`.
    track_fraction : float, default=0.1
        Minimum fraction (alpha) of a track's regions that must be detected
        for the track to count as detected.
    thresholds : int or array-like of float, default=50
        See :func:`rbdc`.

    Returns
    -------
    dict of str to ndarray of shape (n_thresholds,)
        ``"thresholds"``, ``"false_positives_per_frame"``,
        ``"region_detection_rate"`` and ``"track_detection_rate"``.

    Raises
    ------
    InvalidVideoError
        If video or frame counts differ, a map holds NaN/inf, or the masks hold
        no abnormal pixel.
    FrameSizeMismatchError
        If a mask and its map (or two frames of one video) differ in size.
    ValueError
        If a parameter is out of range.

    Examples
    --------
    >>> masks = np.zeros((2, 8, 8), dtype=np.uint8); masks[:, 2:5, 2:5] = 1
    >>> curves = detection_curves([masks], [masks.astype(float)], thresholds=[0.5])
    >>> curves["region_detection_rate"], curves["false_positives_per_frame"]
    (array([1.]), array([0.]))
    """
    _check_fraction(track_fraction, "track_fraction")
    sweep = _sweep_regions(masks_true, maps_pred, thresholds, iou_threshold)
    return {
        "thresholds": sweep.thresholds,
        "false_positives_per_frame": sweep.false_positives_per_frame,
        "region_detection_rate": sweep.region_detection_rate,
        "track_detection_rate": sweep.track_detection_rate(track_fraction),
    }


def rbdc(
    masks_true: Any,
    maps_pred: Any,
    *,
    iou_threshold: float = 0.1,
    max_fp_per_frame: float = 1.0,
    thresholds: ThresholdsLike = _DEFAULT_THRESHOLDS,
) -> float:
    """Region-Based Detection Criterion (RBDC).

    The fraction of ground-truth anomalous regions detected, against false
    positive regions per frame, summarised as a normalised area under the
    curve.

    Parameters
    ----------
    masks_true : list of videos, or array of shape (T, H, W)
        Ground-truth pixel masks per video; nonzero = abnormal. A video is a
        (T, H, W) array or any object with ``len()`` whose integer indexing
        returns an (H, W) or (H, W, 1) frame; frames are read one at a time.
    maps_pred : list of videos, or array of shape (T, H, W)
        Pixel anomaly maps per video (higher = more abnormal), same layout and
        frame sizes as ``masks_true``.
    iou_threshold : float, default=0.1
        Minimum IoU (beta) for a detected region to detect a ground-truth region.
    max_fp_per_frame : float, default=1.0
        Upper end of the false-positives-per-frame axis of the area.
    thresholds : int or array-like of float, default=50
        Detection thresholds to sweep: an explicit 1-D array, or a count ``n``
        of thresholds evenly spaced between the smallest and largest map value
        over all videos (this reads the maps once more, frame by frame).

    Returns
    -------
    float
        RBDC in [0, 1]: 1 when every region is detected without a false
        positive, 0 when no region is detected within the false-positive budget.

    Raises
    ------
    InvalidVideoError
        If video or frame counts differ, a map holds NaN/inf, or the masks hold
        no abnormal pixel.
    FrameSizeMismatchError
        If a mask and its map (or two frames of one video) differ in size.
    ValueError
        If a parameter is out of range.

    See Also
    --------
    tbdc : The track-based criterion.
    detection_curves : The curves behind the area.

    Notes
    -----
    Definitions (Ramachandra & Jones, Street Scene, WACV 2020):

    * A ground-truth region is an 8-connected component of a frame's mask
      (nonzero pixels are abnormal).
    * A ground-truth track is a set of regions linked through time: regions of
      consecutive frames of one video that share at least one pixel belong to
      the same track (the 3-D connected components of the mask volume). A gap
      of one frame or more starts a new track.
    * At a threshold ``t``, the detected regions of a frame are the 8-connected
      components of ``map >= t``.
    * A ground-truth region is detected when some detected region of its frame
      has pixel IoU >= ``iou_threshold`` (beta) with it. A detected region is a
      false positive when its IoU with every ground-truth region of its frame
      is below ``iou_threshold``.
    * A track is detected when at least ``track_fraction`` (alpha) of its
      regions are detected.
    * Sweeping ``t`` gives a detection rate (regions or tracks) against the
      number of false positives per frame. The score is the area under that
      curve for false positives per frame from 0 to ``max_fp_per_frame``,
      divided by ``max_fp_per_frame`` so that it lies in [0, 1]. The curve at
      a false-positive budget ``x`` is the best detection rate reached by any
      threshold with at most ``x`` false positives per frame (a step curve, so
      a perfect map scores exactly 1; implementations that interpolate
      linearly between sparse thresholds report slightly higher values).

    References
    ----------
    .. [1] B. Ramachandra and M. Jones, "Street Scene: A new dataset and
       evaluation protocol for video anomaly detection", WACV 2020.

    Examples
    --------
    >>> masks = np.zeros((2, 8, 8), dtype=np.uint8); masks[:, 2:5, 2:5] = 1
    >>> rbdc([masks], [masks.astype(float)])
    1.0
    """
    sweep = _sweep_regions(masks_true, maps_pred, thresholds, iou_threshold)
    return _area_under_detection_curve(
        sweep.false_positives_per_frame, sweep.region_detection_rate, max_fp_per_frame
    )


def tbdc(
    masks_true: Any,
    maps_pred: Any,
    *,
    iou_threshold: float = 0.1,
    track_fraction: float = 0.1,
    max_fp_per_frame: float = 1.0,
    thresholds: ThresholdsLike = _DEFAULT_THRESHOLDS,
) -> float:
    """Track-Based Detection Criterion (TBDC).

    The fraction of ground-truth anomalous tracks detected, against false
    positive regions per frame, summarised as a normalised area under the
    curve.

    Parameters
    ----------
    masks_true, maps_pred, iou_threshold, max_fp_per_frame, thresholds
        As in :func:`rbdc`.
    track_fraction : float, default=0.1
        Minimum fraction (alpha) of a track's regions that must be detected
        for the track to count as detected.

    Returns
    -------
    float
        TBDC in [0, 1].

    Raises
    ------
    InvalidVideoError, FrameSizeMismatchError, ValueError
        As in :func:`rbdc`.

    See Also
    --------
    rbdc : The region-based criterion (definitions in its Notes).

    References
    ----------
    .. [1] B. Ramachandra and M. Jones, "Street Scene: A new dataset and
       evaluation protocol for video anomaly detection", WACV 2020.

    Examples
    --------
    >>> masks = np.zeros((4, 8, 8), dtype=np.uint8); masks[:, 2:5, 2:5] = 1
    >>> maps = np.zeros((4, 8, 8)); maps[0] = masks[0]   # one frame of four found
    >>> tbdc([masks], [maps], track_fraction=0.25)
    1.0
    """
    _check_fraction(track_fraction, "track_fraction")
    sweep = _sweep_regions(masks_true, maps_pred, thresholds, iou_threshold)
    return _area_under_detection_curve(
        sweep.false_positives_per_frame,
        sweep.track_detection_rate(track_fraction),
        max_fp_per_frame,
    )


# --------------------------------------------------------------------------
# Everything at once, and model selection
# --------------------------------------------------------------------------


def evaluate(
    y_true: Any,
    y_score: Any,
    *,
    masks_true: Any = None,
    maps_pred: Any = None,
    iou_threshold: float = 0.1,
    track_fraction: float = 0.1,
    max_fp_per_frame: float = 1.0,
    thresholds: ThresholdsLike = _DEFAULT_THRESHOLDS,
) -> dict[str, float]:
    """Compute every metric that applies to the given ground truth and predictions.

    Parameters
    ----------
    y_true : list of array-like of shape (n_frames_i,), or array-like
        0/1 frame labels per video (1 = abnormal).
    y_score : list of array-like of shape (n_frames_i,), or array-like
        Frame scores per video, higher = more abnormal.
    masks_true, maps_pred : list of videos, optional
        Pixel masks and anomaly maps (see :func:`rbdc`). Give both to add
        ``"rbdc"`` and ``"tbdc"``.
    iou_threshold, track_fraction, max_fp_per_frame, thresholds
        Parameters of :func:`rbdc` and :func:`tbdc`.

    Returns
    -------
    dict of str to float
        ``"micro_auc"``, ``"eer"``, ``"average_precision"``, ``"macro_auc"``
        (only when some video has both classes; single-class videos are
        skipped with a warning) and, with masks and maps, ``"rbdc"`` and
        ``"tbdc"``.

    Raises
    ------
    ValueError
        If only one of ``masks_true`` and ``maps_pred`` is given, or on any
        error of the individual metrics.

    Examples
    --------
    >>> scores = evaluate([[0, 0, 1, 1]], [[0.1, 0.2, 0.8, 0.9]])
    >>> sorted(scores), scores["micro_auc"]
    (['average_precision', 'eer', 'macro_auc', 'micro_auc'], 1.0)
    """
    if (masks_true is None) != (maps_pred is None):
        raise ValueError("give both masks_true and maps_pred, or neither")
    results = {
        "micro_auc": micro_auc(y_true, y_score),
        "eer": eer(y_true, y_score),
        "average_precision": average_precision(y_true, y_score),
    }
    labels, _ = _check_frame_inputs(y_true, y_score)
    if any(np.unique(video).size == 2 for video in labels):
        results["macro_auc"] = macro_auc(y_true, y_score)
    if masks_true is not None:
        _check_fraction(track_fraction, "track_fraction")
        sweep = _sweep_regions(masks_true, maps_pred, thresholds, iou_threshold)
        fp_rate = sweep.false_positives_per_frame
        results["rbdc"] = _area_under_detection_curve(
            fp_rate, sweep.region_detection_rate, max_fp_per_frame
        )
        results["tbdc"] = _area_under_detection_curve(
            fp_rate, sweep.track_detection_rate(track_fraction), max_fp_per_frame
        )
    return results


def _negated_eer(y_true: Any, y_score: Any) -> float:
    """Equal error rate negated, so that greater is better."""
    return -eer(y_true, y_score)


_SCORER_METRICS: dict[str, Callable[[Any, Any], float]] = {
    "micro_auc": micro_auc,
    "macro_auc": macro_auc,
    "average_precision": average_precision,
    "neg_eer": _negated_eer,
}


class _VideoScorer:
    """Scorer ``(estimator, X, y) -> float`` over per-video frame scores."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self._function = _SCORER_METRICS[metric]

    def __call__(self, estimator: Any, X: Any, y: Any) -> float:
        score_frames = getattr(estimator, "score_frames", None)
        if not callable(score_frames):
            raise TypeError(
                f"{type(estimator).__name__} has no score_frames(X) method; "
                "make_video_scorer needs a video anomaly detector"
            )
        return self._function(y, score_frames(X))

    def __repr__(self) -> str:
        return f"make_video_scorer({self.metric!r})"


def make_video_scorer(metric: str = "micro_auc") -> Callable[[Any, Any, Any], float]:
    """Make a scorer for model selection over whole videos.

    The scorer is called as ``scorer(estimator, X, y)`` with ``X`` a list of
    videos and ``y`` the list of their 0/1 frame-label arrays; it calls
    ``estimator.score_frames(X)`` (higher = more abnormal) and applies the
    metric. Pass it as ``scoring=`` to
    :class:`~sklearn.model_selection.GridSearchCV` or
    :func:`~sklearn.model_selection.cross_val_score` with a splitter over
    videos, so that no video is split across folds.

    Parameters
    ----------
    metric : {"micro_auc", "macro_auc", "average_precision", "neg_eer"}, \
default="micro_auc"
        The metric; as in scikit-learn, greater is better, so the equal error
        rate is negated (``"neg_eer"``).

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``.

    Raises
    ------
    ValueError
        If ``metric`` is not one of the accepted names.

    Examples
    --------
    >>> make_video_scorer("macro_auc")
    make_video_scorer('macro_auc')
    """
    if metric not in _SCORER_METRICS:
        hint = " (use 'neg_eer': scorers are greater-is-better)" if metric == "eer" else ""
        raise ValueError(
            f"metric must be one of {sorted(_SCORER_METRICS)}, got {metric!r}{hint}"
        )
    return _VideoScorer(metric)
