"""PKGNetDetector and its U-Net student: the specification on tiny synthetic scenes.

Teachers are randomly initialised ResNet-18s (no weights are downloaded in tests);
students are 8 channels wide and train for one or two epochs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

import pyvad
from pyvad.events import EventSet
from pyvad.exceptions import InvalidVideoError
from pyvad.foreground import MotionForeground
from pyvad.fusion import ScoreFusion
from pyvad.methods import get_method
from pyvad.methods.pkgnet import OFFSETS, PKGNetDetector, gradient_loss, inconsistency
from pyvad.metrics import micro_auc
from pyvad.nets.unet import UNetPredictor
from pyvad.synthetic import make_train_test

TINY = {"teacher": "resnet18", "teacher_weights": "random", "width": 8, "epochs": 2, "batch_size": 32,
        "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def scene():
    return make_train_test(n_train=3, n_test=4, n_frames=32, random_state=0)


@pytest.fixture(scope="module")
def events(scene):
    train, test = scene
    extractor = MotionForeground("ped2", offsets=OFFSETS, patch_size=32).fit()
    return extractor.transform(train.videos), extractor.transform(test.videos)


@pytest.fixture(scope="module")
def fitted(events):
    return PKGNetDetector("ped2", **TINY).fit(events[0])


# -- losses and scores ----------------------------------------------------------------
def test_gradient_loss_is_zero_for_a_perfect_prediction_and_positive_otherwise():
    target = torch.rand(2, 3, 8, 8)
    assert gradient_loss(target, target, alpha=3).abs().max() == 0
    assert (gradient_loss(torch.zeros_like(target), target, alpha=1) > 0).all()


def test_inconsistency_is_zero_for_aligned_and_two_for_opposite_features():
    features = torch.randn(2, 16, 4, 4)
    torch.testing.assert_close(inconsistency(3 * features, features), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(inconsistency(-features, features), torch.full((2,), 2.0), atol=1e-6, rtol=0)


# -- the student ----------------------------------------------------------------------
def test_student_taps_the_bottleneck_and_a_decoder_stage_at_teacher_channels():
    net = UNetPredictor(in_channels=12, width=8, depth=3, taps=(2, 3), tap_channels=(64, 128))
    prediction, features = net(torch.rand(2, 12, 32, 32))
    assert prediction.shape == (2, 3, 32, 32)
    assert features[2].shape == (2, 64, 8, 8) and features[3].shape == (2, 128, 4, 4)


def test_a_tapped_decoder_stage_has_no_skip_connection():
    with_tap = UNetPredictor(width=8, depth=3, taps=(2, 3))
    without = UNetPredictor(width=8, depth=3, taps=(3,))
    assert with_tap.dec[0][0].in_channels == 32 and without.dec[0][0].in_channels == 64


def test_student_rejects_a_tap_outside_its_levels():
    with pytest.raises(ValueError, match="taps"):
        UNetPredictor(depth=3, taps=(4,))


# -- the detector ---------------------------------------------------------------------
def test_is_registered_for_the_command_line():
    assert get_method("pkgnet") is PKGNetDetector


def test_transform_gives_the_papers_components_for_every_object(events, fitted):
    table = fitted.transform(events[1])
    assert table.components == ["pred", "kd_block1", "kd_block2"]
    assert len(table) == len(events[1])
    np.testing.assert_array_equal(table.boxes, events[1].boxes)
    assert all(np.all(table[name] >= 0) for name in table.components)


def test_ped2_preset_fuses_with_the_papers_weights_top3_mean_and_median_filter(fitted):
    fusion = fitted.fusion_
    assert dict(zip(fusion.components_, fusion.weights_)) == {"pred": 0.01, "kd_block1": 0.65, "kd_block2": 0.35}
    assert (fusion.aggregation, fusion.top_k, fusion.smoothing, fusion.window) == ("topk_mean", 3, "median", 19)


def test_fusion_statistics_come_from_the_training_objects(events, fitted):
    train_table = fitted.transform(events[0])
    np.testing.assert_allclose(fitted.fusion_.mean_, [train_table[c].mean() for c in fitted.fusion_.components_])


def test_one_score_per_frame_in_video_order(scene, fitted):
    _, test = scene
    scores = fitted.score_frames(test.videos)
    assert [len(s) for s in scores] == [len(v) for v in test.videos]


def test_an_unpredictable_target_crop_scores_a_higher_prediction_error(events, fitted):
    normal = events[0][np.arange(min(64, len(events[0])))]
    broken = normal.patches.copy()
    broken[:, -1] = np.random.default_rng(0).integers(0, 256, broken[:, -1].shape, dtype=np.uint8)
    shuffled = EventSet(video_ids=normal.video_ids, frame_indices=normal.frame_indices, boxes=normal.boxes,
                        offsets=normal.offsets, patches=broken, n_frames=normal.n_frames,
                        video_names=normal.video_names, frame_sizes=normal.frame_sizes)
    assert np.median(fitted.transform(shuffled)["pred"]) > np.median(fitted.transform(normal)["pred"])


def test_injected_anomalies_score_above_normal_frames(scene):
    train, test = scene
    det = PKGNetDetector("ped2", **{**TINY, "epochs": 4}).fit(train.videos)
    assert micro_auc(test.frame_labels, det.score_frames(test.videos)) > 0.5


def test_score_maps_paint_object_scores_into_their_boxes(scene, fitted):
    _, test = scene
    maps = fitted.score_maps(test.videos[:1])
    video = test.videos[0]
    assert maps[0].shape == video.shape[:3]
    assert maps[0].to_array().max() > fitted.fusion_.train_min_


@pytest.mark.parametrize(
    ("settings", "weights", "depth"),
    [
        ({"architecture": "ae"}, {"pred": 0.01}, 3),
        ({"architecture": "kd"}, {"kd_block1": 0.65, "kd_block2": 0.35}, 3),
        ({"kd_blocks": (2,)}, {"pred": 0.01, "kd_block2": 1.0}, 3),
        ({"kd_blocks": (1, 2, 3)}, {"pred": 0.01, "kd_block1": 1 / 3, "kd_block2": 1 / 3, "kd_block3": 1 / 3}, 4),
    ],
)
def test_ablation_switches_change_components_weights_and_student(events, settings, weights, depth):
    det = PKGNetDetector("ped2", **{**TINY, "epochs": 1}, **settings).fit(events[0])
    assert det.transform(events[1]).components == list(weights)
    assert dict(zip(det.fusion_.components_, det.fusion_.weights_)) == pytest.approx(weights)
    assert (det.teacher_ is not None) == (settings.get("architecture") != "ae")
    assert det.student_.depth == depth


def test_avenue_preset_distils_block2_only_with_equal_weights(events):
    det = PKGNetDetector("avenue", **{**TINY, "epochs": 1}).fit(events[0])
    assert det.config_["kd_blocks"] == (2,)
    assert dict(zip(det.fusion_.components_, det.fusion_.weights_)) == {"pred": 0.5, "kd_block2": 0.5}
    assert det.fusion_.aggregation == "max"


def test_cached_teacher_features_train_like_the_online_teacher(events):
    online = PKGNetDetector("ped2", **{**TINY, "epochs": 1}, cache_teacher=False).fit(events[0])
    cached = PKGNetDetector("ped2", **{**TINY, "epochs": 1}, cache_teacher=True).fit(events[0])
    assert cached.history_[0]["inconsistency"] == pytest.approx(online.history_[0]["inconsistency"], rel=1e-2)


def test_max_train_events_limits_what_the_networks_see(events):
    det = PKGNetDetector("ped2", **{**TINY, "epochs": 1, "batch_size": 5}, max_train_events=10).fit(events[0])
    assert det.n_train_events_ == 10
    assert det.fusion_.training_frame_scores_[0].shape == (events[0].n_frames[0],)


def test_save_load_gives_identical_scores_without_the_teacher_weights(tmp_path, events, fitted):
    loaded = pyvad.load(fitted.save(tmp_path / "pkgnet.pyvad"))
    np.testing.assert_allclose(loaded.score_samples(events[1]), fitted.score_samples(events[1]), rtol=1e-5)


def test_runs_as_the_middle_step_of_a_pipeline(scene):
    train, test = scene
    pipe = make_pipeline(
        MotionForeground("ped2", offsets=OFFSETS), PKGNetDetector("ped2", **{**TINY, "epochs": 1}), ScoreFusion()
    ).fit(train.videos)
    assert pipe.score_samples(test.videos).shape == (sum(len(v) for v in test.videos),)


def test_fit_transform_scores_the_training_videos_once(scene, monkeypatch, count_calls):
    train, test = scene
    calls = count_calls(MotionForeground, "transform")
    passes = count_calls(PKGNetDetector, "transform")
    det = PKGNetDetector("ped2", **{**TINY, "epochs": 1})
    table = det.fit_transform(train.videos)
    assert len(calls) == 1  # decoded and extracted once
    assert len(passes) == 1  # the table _fit computed for the fusion is returned, not recomputed
    monkeypatch.undo()
    reference = PKGNetDetector("ped2", **{**TINY, "epochs": 1}).fit(train.videos)
    np.testing.assert_allclose(table["pred"], reference.transform(train.videos)["pred"], rtol=1e-5)


# -- errors ---------------------------------------------------------------------------
def test_offsets_that_do_not_end_at_the_target_are_refused(scene):
    train, _ = scene
    det = PKGNetDetector("ped2", **TINY, extractor=MotionForeground("ped2", offsets=(-1, 0, 1)))
    with pytest.raises(ValueError, match="offsets"):
        det.fit(train.videos)


def test_a_teacher_tap_at_the_wrong_resolution_names_teacher_taps(events):
    det = PKGNetDetector("ped2", **TINY, teacher_taps=("layer1", "layer3"))
    with pytest.raises(ValueError, match="teacher_taps"):
        det.fit(events[0])


def test_score_weights_for_a_missing_component_name_it(events):
    det = PKGNetDetector("ped2", **TINY, architecture="ae", score_weights={"kd_block2": 1.0})
    with pytest.raises(ValueError, match="score_weights"):
        det.fit(events[0])


def test_training_videos_without_objects_are_reported():
    still = [np.zeros((8, 64, 64, 3), np.uint8)]
    with pytest.raises(InvalidVideoError, match="no object"):
        PKGNetDetector("ped2", **TINY).fit(still)


@pytest.mark.parametrize("other", [{"trainer_params": {"weight_decay": 10.0}}, {"teacher_taps": ("layer1.0", "layer2")}])
def test_fits_with_other_trainer_settings_or_taps_keep_their_own_checkpoints(events, tmp_path, other):
    settings = {**TINY, "epochs": 1, "checkpoint_dir": tmp_path, "resume": True}
    first = PKGNetDetector("ped2", **settings).fit(events[0][:32])
    changed = PKGNetDetector("ped2", **settings, **other).fit(events[0][:32])
    assert len(list(tmp_path.glob("pkgnet-*-last.pt"))) == 2  # not the first fit's finished checkpoint
    assert not all(torch.equal(value, changed.student_.state_dict()[name])
                   for name, value in first.student_.state_dict().items())


def test_events_of_another_patch_size_are_refused(scene, events):
    train, _ = scene
    large = MotionForeground("ped2", offsets=OFFSETS, patch_size=64).fit().transform(train.videos[:1])
    det = PKGNetDetector("ped2", **{**TINY, "epochs": 1}).fit(large[:16])
    with pytest.raises(ValueError, match=r"\(32, 32\) patches.*trained on \(64, 64\)"):
        det.transform(events[1])


def test_grey_footage_after_colour_training_names_the_channels(scene, fitted):
    _, test = scene
    with pytest.raises(InvalidVideoError, match="3-channel frames.*1-channel"):
        fitted.score_frames([test.videos[0][..., :1]])


def test_the_extractor_is_kept_at_fit_so_a_later_preset_does_not_change_scoring(scene):
    train, test = scene
    det = PKGNetDetector("ped2", **{**TINY, "epochs": 1}).fit(train.videos)
    before = det.score_frames(test.videos[:1])[0]
    det.set_params(preset="avenue")
    np.testing.assert_array_equal(det.score_frames(test.videos[:1])[0], before)
    assert det.extractor_.preset == "ped2"


def test_a_model_saved_before_the_extractor_was_kept_still_scores_videos(tmp_path, scene, fitted, monkeypatch):
    _, test = scene
    state = PKGNetDetector._get_state
    monkeypatch.setattr(PKGNetDetector, "_get_state",
                        lambda self: {k: v for k, v in state(self).items() if k != "extractor_"})
    loaded = pyvad.load(fitted.save(tmp_path / "old.pyvad"))
    assert not hasattr(loaded, "extractor_")
    for a, b in zip(loaded.score_frames(test.videos), fitted.score_frames(test.videos)):
        np.testing.assert_allclose(a, b, rtol=1e-5)
