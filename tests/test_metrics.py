"""Specification of pyvad.metrics: frame-level AUCs, EER, AP, RBDC/TBDC, scorer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold

from pyvad.exceptions import FrameSizeMismatchError, InvalidVideoError
from pyvad.metrics import (
    average_precision,
    detection_curves,
    eer,
    evaluate,
    macro_auc,
    make_video_scorer,
    micro_auc,
    rbdc,
    tbdc,
)


@pytest.fixture
def random_videos() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Three videos of random labels (both classes each) and noisy scores."""
    rng = np.random.default_rng(0)
    labels, scores = [], []
    for length in (30, 45, 20):
        video_labels = rng.integers(0, 2, length)
        video_labels[:2] = [0, 1]
        labels.append(video_labels)
        scores.append(video_labels + rng.normal(0, 0.8, length))
    return labels, scores


# ---------------------------------------------------------------- frame level


def test_micro_auc_equals_sklearn_on_concatenated_frames(random_videos):
    labels, scores = random_videos
    expected = roc_auc_score(np.concatenate(labels), np.concatenate(scores))
    assert micro_auc(labels, scores) == pytest.approx(expected)


def test_average_precision_equals_sklearn_on_concatenated_frames(random_videos):
    labels, scores = random_videos
    expected = average_precision_score(np.concatenate(labels), np.concatenate(scores))
    assert average_precision(labels, scores) == pytest.approx(expected)


def test_macro_auc_is_mean_of_per_video_sklearn_aucs(random_videos):
    labels, scores = random_videos
    expected = np.mean([roc_auc_score(y, s) for y, s in zip(labels, scores)])
    assert macro_auc(labels, scores) == pytest.approx(expected)


def test_macro_and_micro_auc_differ_when_score_scales_differ_between_videos():
    labels = [[0, 0, 1, 1], [0, 0, 1, 1]]
    scores = [[0.1, 0.2, 0.8, 0.9], [1.0, 1.1, 1.2, 1.3]]
    assert macro_auc(labels, scores) == 1.0
    assert micro_auc(labels, scores) == pytest.approx(12 / 16)


def test_single_1d_array_is_one_video():
    labels, scores = np.array([0, 1, 0, 1]), np.array([0.1, 0.7, 0.3, 0.9])
    assert micro_auc(labels, scores) == micro_auc([labels], [scores]) == 1.0


def test_eer_of_perfectly_separated_scores_is_zero():
    assert eer([[0, 0, 1], [1, 0]], [[0.1, 0.2, 0.9], [0.8, 0.3]]) == 0.0


def test_eer_of_reversed_scores_is_one():
    assert eer([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0


def test_eer_is_where_false_positive_and_false_negative_rates_meet():
    # One normal frame above one of two abnormal frames: at the threshold 0.5
    # FPR = 1/2 and FNR = 1/2 exactly.
    assert eer([0, 0, 1, 1], [0.1, 0.6, 0.5, 0.9]) == pytest.approx(0.5)


def test_eer_of_uninformative_scores_is_about_one_half():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 4000)
    assert eer(labels, rng.random(4000)) == pytest.approx(0.5, abs=0.03)


def test_macro_auc_skips_single_class_videos_with_a_warning_naming_them():
    labels = [[0, 1, 0, 1], [0, 0, 0, 0]]
    scores = [[0.1, 0.9, 0.2, 0.8], [0.5, 0.6, 0.7, 0.8]]
    with pytest.warns(UndefinedMetricWarning, match="video 1 has only normal"):
        assert macro_auc(labels, scores) == 1.0


def test_macro_auc_can_reject_single_class_videos():
    with pytest.raises(InvalidVideoError, match="video 1 has only abnormal"):
        macro_auc([[0, 1], [1, 1]], [[0.1, 0.9], [0.5, 0.6]], single_class="error")


def test_macro_auc_raises_when_every_video_is_single_class():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        with pytest.raises(InvalidVideoError, match="every video"):
            macro_auc([[0, 0], [1, 1]], [[0.1, 0.9], [0.5, 0.6]])


def test_macro_auc_rejects_unknown_single_class_policy():
    with pytest.raises(ValueError, match="single_class"):
        macro_auc([[0, 1]], [[0.1, 0.9]], single_class="pad")


def test_frame_count_mismatch_names_the_video_and_both_lengths():
    with pytest.raises(InvalidVideoError, match=r"video 1: y_true has 3 frames but y_score has 2"):
        micro_auc([[0, 1], [0, 1, 1]], [[0.1, 0.2], [0.1, 0.2]])


def test_video_count_mismatch_is_rejected():
    with pytest.raises(InvalidVideoError, match="2 videos but y_score has 1"):
        micro_auc([[0, 1], [0, 1]], [[0.1, 0.2]])


def test_nan_score_is_rejected_naming_video_and_frame():
    with pytest.raises(InvalidVideoError, match=r"y_score\[1\].*frame 2"):
        micro_auc([[0, 1], [0, 1, 1]], [[0.1, 0.2], [0.1, 0.2, np.nan]])


def test_labels_other_than_zero_and_one_are_rejected():
    with pytest.raises(InvalidVideoError, match=r"y_true\[0\].*frame 1"):
        micro_auc([[0, 255, 0]], [[0.1, 0.2, 0.3]])


def test_single_class_over_all_frames_is_rejected():
    with pytest.raises(InvalidVideoError, match="single class"):
        eer([[0, 0], [0]], [[0.1, 0.2], [0.3]])


def test_two_dimensional_label_array_is_rejected_as_ambiguous():
    with pytest.raises(InvalidVideoError, match="shape"):
        micro_auc(np.zeros((2, 3)), np.zeros((2, 3)))


def test_errors_are_value_errors_for_code_that_does_not_know_pyvad():
    with pytest.raises(ValueError):
        micro_auc([[0, 1]], [[0.1]])


# ---------------------------------------------------------------- RBDC / TBDC


def _moving_square_masks(n_frames: int = 6, size: int = 24) -> np.ndarray:
    """One 6x6 abnormal square moving right by one pixel a frame (a single track)."""
    masks = np.zeros((n_frames, size, size), dtype=np.uint8)
    for t in range(n_frames):
        masks[t, 8:14, 4 + t : 10 + t] = 255
    return masks


def test_perfect_maps_score_one():
    masks = _moving_square_masks()
    maps = masks.astype(float) / 255
    assert rbdc([masks], [maps]) == 1.0
    assert tbdc([masks], [maps]) == 1.0


def test_empty_maps_score_zero():
    masks = _moving_square_masks()
    maps = np.zeros(masks.shape)
    assert rbdc([masks], [maps]) == 0.0
    assert tbdc([masks], [maps]) == 0.0


def _square_with_strip(strip_width: int) -> tuple[np.ndarray, np.ndarray]:
    """A 10x10 ground-truth square and a detection strip of 10 x width inside it."""
    mask = np.zeros((1, 20, 20), dtype=bool)
    mask[0, 5:15, 5:15] = True
    score_map = np.zeros((1, 20, 20))
    score_map[0, 5:15, 5 : 5 + strip_width] = 1.0
    return mask, score_map


def test_detection_with_iou_exactly_beta_counts():
    mask, score_map = _square_with_strip(1)  # IoU = 10 / 100
    assert rbdc([mask], [score_map], thresholds=[0.5]) == 1.0


def test_detection_with_iou_just_below_beta_is_a_miss_and_a_false_positive():
    mask, score_map = _square_with_strip(1)
    curves = detection_curves([mask], [score_map], iou_threshold=0.11, thresholds=[0.5])
    assert curves["region_detection_rate"][0] == 0.0
    assert curves["false_positives_per_frame"][0] == 1.0
    assert rbdc([mask], [score_map], iou_threshold=0.11, thresholds=[0.5]) == 0.0


def test_false_positive_blob_in_half_the_frames_halves_rbdc():
    masks = _moving_square_masks(n_frames=4)
    maps = masks.astype(float) / 255
    maps[::2, 18:21, 18:21] = 1.0  # as abnormal-looking as the true region
    curves = detection_curves([masks], [maps], thresholds=[0.5])
    assert curves["false_positives_per_frame"][0] == 0.5
    assert rbdc([masks], [maps], thresholds=[0.5]) == pytest.approx(0.5)


def test_weaker_false_positive_blob_is_cut_off_by_a_higher_threshold():
    masks = _moving_square_masks(n_frames=4)
    maps = masks.astype(float) / 255
    maps[:, 18:21, 18:21] = 0.4
    assert rbdc([masks], [maps], thresholds=[0.3, 0.6]) == 1.0


def test_curve_is_the_best_rate_within_each_false_positive_budget():
    # At the low threshold a halo merges with the true region in half of the
    # frames (IoU < beta: missed and false positive); the high threshold stays
    # the better operating point for every budget, so the score stays 1.
    masks = _moving_square_masks(n_frames=4)
    maps = masks.astype(float) / 255
    maps[::2] = np.maximum(maps[::2], 0.5)  # IoU 36 / 576 < beta
    curves = detection_curves([masks], [maps], thresholds=[0.25, 0.75])
    np.testing.assert_allclose(curves["false_positives_per_frame"], [0.5, 0.0])
    np.testing.assert_allclose(curves["region_detection_rate"], [0.5, 1.0])
    assert rbdc([masks], [maps], thresholds=[0.25, 0.75]) == 1.0


def test_max_fp_per_frame_sets_the_false_positive_budget():
    masks = _moving_square_masks(n_frames=4)
    maps = masks.astype(float) / 255
    maps[::2, 18:21, 18:21] = 1.0  # 0.5 false positives a frame
    assert rbdc([masks], [maps], thresholds=[0.5], max_fp_per_frame=2.0) == pytest.approx(0.75)


def test_track_counts_as_detected_when_track_fraction_of_its_regions_is():
    masks = _moving_square_masks(n_frames=10)
    maps = np.zeros(masks.shape)
    maps[3] = masks[3] / 255  # one region of the ten-region track
    assert rbdc([masks], [maps], thresholds=[0.5]) == pytest.approx(0.1)
    assert tbdc([masks], [maps], thresholds=[0.5], track_fraction=0.1) == 1.0
    assert tbdc([masks], [maps], thresholds=[0.5], track_fraction=0.2) == 0.0


def test_regions_separated_in_time_form_separate_tracks():
    masks = _moving_square_masks(n_frames=6)
    masks[2] = 0  # a gap splits the square's path into two tracks
    maps = np.zeros(masks.shape)
    maps[0] = masks[0] / 255
    curves = detection_curves([masks], [maps], track_fraction=0.5, thresholds=[0.5])
    assert curves["track_detection_rate"][0] == 0.5


def test_tracks_do_not_span_videos():
    masks = _moving_square_masks(n_frames=2)
    maps = np.zeros(masks.shape)
    maps[0] = masks[0] / 255
    curves = detection_curves(
        [masks, masks], [maps, np.zeros(masks.shape)], track_fraction=0.5, thresholds=[0.5]
    )
    assert curves["track_detection_rate"][0] == 0.5


class _LazyFrames:
    """A video that only supports len() and indexing, returning (H, W, 1) frames."""

    def __init__(self, frames: np.ndarray) -> None:
        self._frames = frames
        self.reads = 0

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> np.ndarray:
        if not isinstance(index, (int, np.integer)):
            raise TypeError("frames are read one at a time")
        self.reads += 1
        return self._frames[index][..., None]

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole video must not be materialised")


def test_lazy_videos_are_read_frame_by_frame():
    masks = _moving_square_masks(n_frames=5)
    lazy_masks, lazy_maps = _LazyFrames(masks), _LazyFrames(masks / 255.0)
    assert rbdc([lazy_masks], [lazy_maps], thresholds=10) == 1.0
    assert lazy_masks.reads == 5  # once each
    assert lazy_maps.reads == 10  # once for the value range, once for matching


def test_mask_and_map_size_mismatch_names_video_and_frame():
    masks = _moving_square_masks(n_frames=2)
    with pytest.raises(FrameSizeMismatchError, match=r"frame 0: masks_true\[0\] is \(24, 24\)"):
        rbdc([masks], [np.zeros((2, 24, 20))])


def test_frame_count_mismatch_between_masks_and_maps_is_rejected():
    masks = _moving_square_masks(n_frames=3)
    expected = r"masks_true\[0\] has 3 frames but maps_pred\[0\] has 2"
    with pytest.raises(InvalidVideoError, match=expected):
        rbdc([masks], [np.zeros((2, 24, 24))])


def test_nan_in_map_is_rejected_naming_video_and_frame():
    masks = _moving_square_masks(n_frames=3)
    maps = np.zeros(masks.shape)
    maps[2, 0, 0] = np.nan
    with pytest.raises(InvalidVideoError, match=r"maps_pred\[0\] frame 2"):
        rbdc([masks], [maps])


def test_errors_name_a_video_by_its_name_when_it_has_one():
    masks = _LazyFrames(_moving_square_masks(n_frames=2))
    maps = _LazyFrames(np.full((2, 24, 24), np.inf))
    maps.name = "Test004"
    with pytest.raises(InvalidVideoError, match=r"maps_pred\[0\] \('Test004'\) frame 0"):
        rbdc([masks], [maps])


def test_masks_without_abnormal_pixels_are_rejected():
    with pytest.raises(InvalidVideoError, match="no abnormal pixel"):
        rbdc([np.zeros((2, 8, 8))], [np.zeros((2, 8, 8))])


def test_list_of_2d_frames_is_rejected_with_a_hint():
    with pytest.raises(InvalidVideoError, match="single 2-D frame"):
        rbdc([np.zeros((8, 8))], [np.zeros((8, 8))])


@pytest.mark.parametrize(
    "kwargs",
    [{"iou_threshold": 0.0}, {"max_fp_per_frame": 0}, {"thresholds": 1}, {"thresholds": [np.nan]}],
)
def test_out_of_range_parameters_are_rejected_by_name(kwargs):
    masks = _moving_square_masks(n_frames=2)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        rbdc([masks], [masks / 255.0], **kwargs)


# ---------------------------------------------------------------- evaluate


def test_evaluate_reports_frame_metrics_and_region_metrics_when_maps_are_given():
    masks = _moving_square_masks(n_frames=4)
    masks[0] = 0
    labels = [np.array([0, 1, 1, 1])]
    scores = [np.array([0.1, 0.8, 0.9, 0.7])]
    result = evaluate(labels, scores, masks_true=[masks], maps_pred=[masks / 255.0])
    assert result == {
        "micro_auc": 1.0,
        "eer": 0.0,
        "average_precision": 1.0,
        "macro_auc": 1.0,
        "rbdc": 1.0,
        "tbdc": 1.0,
    }


def test_evaluate_leaves_out_macro_auc_when_no_video_has_both_classes():
    result = evaluate([[0, 0], [1, 1]], [[0.1, 0.2], [0.8, 0.9]])
    assert set(result) == {"micro_auc", "eer", "average_precision"}


def test_evaluate_needs_masks_and_maps_together():
    with pytest.raises(ValueError, match="both masks_true and maps_pred"):
        evaluate([[0, 1]], [[0.1, 0.9]], masks_true=[np.zeros((2, 4, 4))])


# ---------------------------------------------------------------- scorer


class _BrightnessDetector(BaseEstimator):
    """Scores a frame by its mean brightness times ``sign``."""

    def __init__(self, sign: float = 1.0) -> None:
        self.sign = sign

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def score_frames(self, X):
        return [self.sign * video.mean(axis=(1, 2)) for video in X]


def _bright_anomaly_videos(n_videos: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Dark videos whose abnormal frames are bright."""
    rng = np.random.default_rng(2)
    videos, labels = [], []
    for _ in range(n_videos):
        video_labels = np.zeros(12, dtype=np.uint8)
        video_labels[rng.integers(2, 8) :][:3] = 1
        video = rng.integers(0, 50, (12, 8, 8)).astype(np.uint8)
        video[video_labels == 1] += 150
        videos.append(video)
        labels.append(video_labels)
    return videos, labels


def test_video_scorer_selects_the_right_detector_in_grid_search():
    videos, labels = _bright_anomaly_videos()
    search = GridSearchCV(
        _BrightnessDetector(),
        {"sign": [-1.0, 1.0]},
        scoring=make_video_scorer("micro_auc"),
        cv=KFold(n_splits=2),
        error_score="raise",
    )
    search.fit(videos, labels)
    assert search.best_params_ == {"sign": 1.0}
    assert search.best_score_ == 1.0


def test_video_scorer_negates_eer_so_greater_is_better():
    videos, labels = _bright_anomaly_videos(2)
    scorer = make_video_scorer("neg_eer")
    good = scorer(_BrightnessDetector(1.0), videos, labels)
    bad = scorer(_BrightnessDetector(-1.0), videos, labels)
    assert (good, bad) == (0.0, -1.0)


def test_unknown_scorer_metric_is_rejected_with_a_hint_for_eer():
    with pytest.raises(ValueError, match="neg_eer"):
        make_video_scorer("eer")


def test_video_scorer_needs_score_frames():
    videos, labels = _bright_anomaly_videos(1)
    with pytest.raises(TypeError, match="score_frames"):
        make_video_scorer()(object(), videos, labels)
