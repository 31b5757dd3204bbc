"""MotionBaselineDetector: the contract end to end on synthetic scenes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

import pyvad
from pyvad.exceptions import FrameSizeMismatchError
from pyvad.fusion import ScoreFusion
from pyvad.methods import MotionBaselineDetector
from pyvad.metrics import micro_auc
from pyvad.synthetic import make_train_test


@pytest.fixture(scope="module")
def scene():
    return make_train_test(random_state=0)


@pytest.fixture(scope="module")
def fitted(scene):
    train, _ = scene
    return MotionBaselineDetector().fit(train.videos)


def test_injected_anomalies_score_above_normal_frames(scene, fitted):
    _, test = scene
    assert micro_auc(test.frame_labels, fitted.score_frames(test.videos)) >= 0.6


def test_one_score_per_frame_in_video_order(scene, fitted):
    _, test = scene
    scores = fitted.score_frames(test.videos)
    assert [len(s) for s in scores] == [len(v) for v in test.videos]
    np.testing.assert_allclose(fitted.score_samples(test.videos), -np.concatenate(scores))


def test_scoring_a_different_frame_size_names_the_video(fitted):
    wrong = np.zeros((5, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(FrameSizeMismatchError, match="video"):
        fitted.score_frames([wrong])


def test_custom_fusion_is_cloned_not_fitted_in_place(scene):
    train, _ = scene
    fusion = ScoreFusion(weights={"motion": 1.0})
    det = MotionBaselineDetector(fusion=fusion).fit(train.videos)
    assert det.fusion_.components_ == ["motion"]
    assert not hasattr(fusion, "mean_")


def test_save_load_gives_identical_scores(tmp_path, scene, fitted):
    _, test = scene
    loaded = pyvad.load(fitted.save(tmp_path / "baseline.pyvad"))
    np.testing.assert_array_equal(loaded.score_samples(test.videos), fitted.score_samples(test.videos))
    assert loaded.offset_ == fitted.offset_


def test_invalid_grid_is_rejected_naming_the_parameter(scene):
    train, _ = scene
    with pytest.raises(ValueError, match="grid"):
        MotionBaselineDetector(grid=(0, 3)).fit(train.videos)


def test_single_frame_videos_are_scored(scene, fitted):
    _, test = scene
    one = test.videos[0][:1]
    assert fitted.score_frames([one])[0].shape == (1,)


def test_clone_and_params_round_trip():
    det = MotionBaselineDetector(grid=(3, 4), n_background_frames=10)
    assert clone(det).get_params() == det.get_params()
