"""Specification of pyvad.synthetic: tiny, seeded walkway videos with injected anomalies."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from pyvad.synthetic import ANOMALY_KINDS, SyntheticVideos, make_train_test, make_videos

FOREGROUND_THRESHOLD = 40  # grey levels between a (dark) object and the (bright) background


@pytest.fixture(scope="module")
def train_test() -> tuple[SyntheticVideos, SyntheticVideos]:
    return make_train_test(n_train=2, n_test=4, n_frames=48)


def _foreground(video: np.ndarray) -> np.ndarray:
    """Pixels far from the temporal median: the moving objects of a video, (T, H, W) bool."""
    background = np.median(video, axis=0)
    return np.abs(video.astype(np.int16) - background).max(axis=-1) > FOREGROUND_THRESHOLD


def _normal_blobs(train: SyntheticVideos) -> np.ndarray:
    """``(area, width, height)`` of the objects in training frames, away from the borders."""
    blobs = []
    for video in train.videos:
        for frame_mask in _foreground(video).astype(np.uint8):
            _, _, stats, _ = cv2.connectedComponentsWithStats(frame_mask)
            for x, y, w, h, area in stats[1:]:
                if x > 0 and y > 0 and x + w < frame_mask.shape[1] and y + h < frame_mask.shape[0]:
                    blobs.append((area, w, h))
    return np.array(blobs)


def _mean_frame_difference(video: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute difference to the previous frame over ``region[t]``, t >= 1."""
    diff = np.abs(np.diff(video.astype(np.int16), axis=0)).mean(axis=-1)
    return float(diff[region[1:]].mean())


def _anomalous_video(kind: str, random_state: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = make_videos(n_videos=1, n_frames=48, anomaly=kind, random_state=random_state)
    return data.videos[0], data.frame_labels[0], data.masks[0]


@pytest.mark.parametrize("channels", [1, 3])
def test_arrays_have_documented_shapes_and_dtypes(channels):
    data = make_videos(n_videos=3, n_frames=10, frame_size=(32, 40), anomaly="fast", channels=channels)
    assert len(data.videos) == len(data.frame_labels) == len(data.masks) == len(data.names) == len(data.kinds) == 3
    for video, labels, mask in zip(data.videos, data.frame_labels, data.masks):
        assert video.shape == (10, 32, 40, channels) and video.dtype == np.uint8
        assert labels.shape == (10,) and labels.dtype == np.uint8
        assert mask.shape == (10, 32, 40) and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
    assert data.names == ["video_00", "video_01", "video_02"]


def test_frame_labels_flat_concatenates_videos_in_order(train_test):
    _, test = train_test
    np.testing.assert_array_equal(test.frame_labels_flat, np.concatenate(test.frame_labels))
    assert test.frame_labels_flat.dtype == np.uint8


def test_same_seed_gives_identical_arrays_and_other_seeds_differ():
    first, again = (make_videos(n_videos=2, n_frames=8, anomaly="size", random_state=7) for _ in range(2))
    other = make_videos(n_videos=2, n_frames=8, anomaly="size", random_state=8)
    for a, b, c in zip(first.videos, again.videos, other.videos):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    for a, b in zip(first.masks, again.masks):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_frame_label_is_one_exactly_where_the_mask_is_non_empty(kind):
    data = make_videos(n_videos=3, n_frames=32, anomaly=kind, random_state=1)
    for labels, mask in zip(data.frame_labels, data.masks):
        np.testing.assert_array_equal(labels, mask.any(axis=(1, 2)))


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_kind_gives_one_non_empty_contiguous_interval(kind):
    _, labels, _ = _anomalous_video(kind)
    abnormal = np.flatnonzero(labels)
    assert abnormal.size > 0
    assert abnormal[-1] - abnormal[0] + 1 == abnormal.size


def test_training_videos_contain_no_anomaly(train_test):
    train, _ = train_test
    assert train.frame_labels_flat.sum() == 0
    assert all(mask.sum() == 0 for mask in train.masks)
    assert train.kinds == [None, None]
    assert train.names == ["train_00", "train_01"]


def test_test_videos_take_the_anomaly_kinds_in_turn(train_test):
    _, test = train_test
    assert test.kinds == list(ANOMALY_KINDS)
    assert all(labels.any() for labels in test.frame_labels)


def test_train_and_test_share_one_camera(train_test):
    train, test = train_test
    train_background = np.median(train.videos[0], axis=0)
    test_background = np.median(test.videos[0], axis=0)
    assert np.abs(train_background - test_background).mean() < 3.0


def test_normal_objects_are_upright_and_of_one_size_range(train_test):
    areas, widths, heights = _normal_blobs(train_test[0]).T
    assert np.median(heights) > 1.5 * np.median(widths)
    assert np.percentile(areas, 90) < 3 * np.percentile(areas, 10)


def test_fast_object_changes_its_pixels_more_than_normal_objects(train_test):
    train, _ = train_test
    video, _, mask = _anomalous_video("fast")
    normal = np.mean([_mean_frame_difference(v, _foreground(v)) for v in train.videos])
    assert _mean_frame_difference(video, mask.astype(bool)) > 1.5 * normal


def _mask_displacement(mask: np.ndarray) -> np.ndarray:
    """``(dx, dy)`` of the mask centroid from its first to its last visible frame."""
    visible = np.flatnonzero(mask.any(axis=(1, 2)))
    rows_cols = [np.argwhere(mask[t]).mean(axis=0) for t in (visible[0], visible[-1])]
    return (rows_cols[1] - rows_cols[0])[::-1]


def test_wrong_direction_object_goes_against_the_flow_or_across_the_lanes():
    data = make_videos(n_videos=6, n_frames=48, anomaly="wrong_direction", random_state=0)
    dx, dy = np.array([_mask_displacement(mask) for mask in data.masks]).T
    assert np.all(dx <= 0)  # normal pedestrians all walk left to right
    assert np.any(dx < 0) and np.any(dy != 0)  # both variants occur with this seed


def test_size_object_is_several_times_larger_than_normal_objects(train_test):
    _, _, mask = _anomalous_video("size")
    normal_area = np.median(_normal_blobs(train_test[0])[:, 0])
    assert mask.sum(axis=(1, 2)).max() > 3 * normal_area


def test_shape_object_is_wide_while_normal_objects_are_tall():
    _, _, mask = _anomalous_video("shape")
    frame = mask[mask.sum(axis=(1, 2)).argmax()]
    rows, cols = np.nonzero(frame)
    assert np.ptp(cols) > 1.5 * np.ptp(rows)


def test_anomaly_fraction_sets_how_many_videos_are_abnormal():
    data = make_videos(n_videos=4, n_frames=32, anomaly="fast", anomaly_fraction=0.5)
    assert sum(kind is not None for kind in data.kinds) == 2
    for kind, labels in zip(data.kinds, data.frame_labels):
        assert labels.any() == (kind is not None)


def test_unknown_anomaly_kind_is_rejected_with_the_valid_kinds():
    with pytest.raises(ValueError, match="teleport") as error:
        make_videos(anomaly=["fast", "teleport"])
    assert all(kind in str(error.value) for kind in ANOMALY_KINDS)


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("n_frames", 1),
        ("n_videos", 0),
        ("n_objects", -1),
        ("frame_size", (8, 96)),
        ("frame_size", (64,)),
        ("channels", 2),
        ("noise", -1.0),
        ("anomaly_fraction", 1.5),
        ("anomaly_onset", (0.5, 1.0)),
        ("anomaly", []),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_parameter(parameter, value):
    with pytest.raises(ValueError, match=parameter):
        make_videos(**{parameter: value})


def test_default_demo_pair_is_made_in_under_half_a_second():
    make_train_test()  # warm up imports and caches
    best = min(_cpu_seconds(make_train_test) for _ in range(3))
    assert best < 0.5


def _cpu_seconds(function) -> float:
    """CPU time of one call: unlike wall time, not inflated by other jobs on a shared machine."""
    start = time.process_time()
    function()
    return time.process_time() - start
