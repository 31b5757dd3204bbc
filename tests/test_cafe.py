"""Specification of CAFEDetector and its networks, on tiny synthetic videos.

A random MobileNetV2 teacher on 32x32 patches (``weights="random"``, asked for by name)
keeps the tests offline and fast; what is checked is the method's wiring, not the teacher.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

import pyvad
from pyvad.foreground import MotionForeground
from pyvad.fusion import ScoreFusion, ScoreTable
from pyvad.methods import get_method
from pyvad.methods.cafe import CAFE_PRESETS, TEACHER_LAYER_GROUPS, CAFEDetector, cafe_event_scores, cafe_loss_terms
from pyvad.metrics import micro_auc
from pyvad.nets.cafe import CAFENet, CAFEStudent, FeatureAlignment, LowLevelDecoder
from pyvad.synthetic import make_train_test
from pyvad.teachers import Teacher

TINY = {
    "teacher": "mobilenet_v2",
    "teacher_weights": "random",
    "teacher_input_size": 0,
    "student_widths": (8, 8, 16, 16),
    "batch_size": 64,
    "epochs": 2,
    "ca_start_epoch": 1,
    "device": "cpu",
    "random_state": 0,
}


def tiny(**overrides) -> CAFEDetector:
    return CAFEDetector("fast", **{**TINY, **overrides})


@pytest.fixture(scope="module")
def data():
    return make_train_test(n_train=2, n_test=2, n_frames=24, frame_size=(48, 64), anomalies=("size", "shape"),
                           random_state=0)


@pytest.fixture(scope="module")
def events(data):
    train, test = data
    extractor = MotionForeground(offsets=(-1, 0, 1)).fit()
    return extractor.transform(train.videos), extractor.transform(test.videos)


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    return tiny(low_level=("patch",)).fit(train.videos)


# ----------------------------------------------------------------------------- networks


def test_resnet9_student_taps_match_the_cifar_teacher_layer_groups():
    student = CAFEStudent("resnet9", n_groups=4)
    assert student.feature_shapes() == [(128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 1, 1)]



@pytest.mark.parametrize("name", sorted(TEACHER_LAYER_GROUPS))
def test_every_known_teacher_has_six_layer_groups_of_falling_resolution(name):
    side = 32 if name.endswith("_cifar") else 64
    shapes = list(Teacher(name, taps=TEACHER_LAYER_GROUPS[name], weights="random").feature_shapes(side, side).values())
    assert len(shapes) == 6 and shapes[-1][1:] == (1, 1)
    assert all(a[1] >= b[1] for a, b in zip(shapes, shapes[1:]))

def test_resnet17_student_has_two_blocks_per_stage():
    student = CAFEStudent("resnet17", n_groups=1)
    assert len(student.backbone.layer3) == 2 and student.feature_shapes() == [(512, 1, 1)]


def test_feature_alignment_is_identity_for_equal_shapes_and_resizes_otherwise():
    assert isinstance(FeatureAlignment((64, 8, 8), (64, 8, 8)).project, torch.nn.Identity)
    x = torch.zeros(2, 64, 16, 16)
    assert FeatureAlignment((64, 16, 16), (24, 8, 8))(x).shape == (2, 24, 8, 8)
    assert FeatureAlignment((64, 16, 16), (24, 32, 32))(x).shape == (2, 24, 32, 32)


def test_feature_alignment_reaches_negative_teacher_features_when_only_the_size_differs():
    # the fast preset's first tap: student layer2 (32, 16, 16) after ReLU vs MobileNetV2 features.6 (32, 8, 8),
    # a linear bottleneck with negative values; pooling alone could never get below zero
    torch.manual_seed(0)
    align = FeatureAlignment((32, 16, 16), (32, 8, 8))
    source = torch.rand(16, 32, 16, 16)
    target = -torch.nn.functional.avg_pool2d(source, 2)
    optimizer = torch.optim.Adam(align.parameters(), lr=0.05)
    for _ in range(100):
        optimizer.zero_grad()
        loss = torch.mean((align(source) - target) ** 2)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * torch.mean(target**2).item()


def test_low_level_decoder_reconstructs_patch_sized_output():
    assert LowLevelDecoder(128, 3, output_size=(24, 24))(torch.zeros(2, 128, 1, 1)).shape == (2, 3, 24, 24)


# ----------------------------------------------------------------------------- losses and scores


def _outputs(with_context: bool):
    torch.manual_seed(0)
    net = CAFENet(CAFEStudent(n_groups=2, widths=(8, 8, 8, 8)), [(8, 4, 4), (8, 1, 1)], {"patch": 3})
    centre = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    context = torch.randint(0, 256, (3, 2, 3, 32, 32), dtype=torch.uint8)
    return net(centre, context if with_context else None), centre


def test_consistency_term_is_absent_without_context_and_equals_eq4_with_it():
    outputs, centre = _outputs(with_context=False)
    teacher = [torch.zeros_like(f) for f in outputs["aligned"]]
    assert set(cafe_loss_terms(outputs, teacher, {"patch": centre.float() / 255})) == {"kd", "lo"}
    outputs, _ = _outputs(with_context=True)
    terms = cafe_loss_terms(outputs, teacher, {"patch": centre.float() / 255})
    expected = 0.5 * sum(
        torch.mean((ctx[:, k] - own) ** 2) for ctx, own in zip(outputs["context"], outputs["student"]) for k in (0, 1)
    )
    assert torch.allclose(terms["ca"], expected)


def test_distillation_term_can_be_switched_off_for_the_low_level_only_ablation():
    outputs, centre = _outputs(with_context=False)
    teacher = [torch.zeros_like(f) for f in outputs["aligned"]]
    assert set(cafe_loss_terms(outputs, teacher, {"patch": centre.float() / 255}, use_kd=False)) == {"lo"}


def test_event_scores_sum_squared_errors_per_event():
    outputs, centre = _outputs(with_context=True)
    teacher = [torch.zeros_like(f) for f in outputs["aligned"]]
    scores = cafe_event_scores(outputs, teacher, {"patch": centre.float() / 255}, reduction="sum")
    expected_kd = sum((f**2).flatten(1).sum(1) for f in outputs["aligned"])
    assert torch.allclose(scores["kd"], expected_kd)
    assert all(v.shape == (3,) for v in scores.values()) and set(scores) == {"kd", "ca", "lo"}


# ----------------------------------------------------------------------------- the detector


def test_cafe_is_registered_for_the_command_line():
    assert get_method("cafe") is CAFEDetector


def test_presets_hold_the_papers_per_dataset_weights_and_windows():
    assert CAFE_PRESETS["ped2"]["score_weights"] == (0.5, 1.0, 0.1) and CAFE_PRESETS["ped2"]["smoothing_window"] == 10
    assert CAFE_PRESETS["avenue"]["score_weights"] == (1.0, 0.5, 0.1) and CAFE_PRESETS["avenue"]["smoothing_window"] == 20
    assert CAFE_PRESETS["shanghaitech"]["score_weights"] == (0.5, 1.0, 0.5)
    paper = CAFE_PRESETS["ped2"]
    assert (paper["lambda_ca"], paper["lambda_lo"], paper["ca_start_epoch"], paper["epochs"]) == (0.1, 1.0, 30, 50)
    assert paper["batch_size"] == 256 and paper["student"] == "resnet9" and paper["n_layer_groups"] == 4



def test_fusion_weights_and_window_are_parameters():
    det = CAFEDetector("avenue", score_weights=(1, 0, 0.5), smoothing_window=30, low_level=("patch",))
    fusion = det._default_fusion(det._resolve_config())
    assert fusion.window == 30 and fusion.weights == {"kd": 1.0, "ca": 0.0, "lo": 0.5}
    with pytest.raises(ValueError, match="score_weights"):
        CAFEDetector(score_weights=(1, 2))._resolve_config()

def test_fit_resolves_the_preset_without_mutating_parameters(fitted):
    assert fitted.epochs == 2 and fitted.lambda_ca is None
    assert fitted.config_["lambda_ca"] == 0.1 and fitted.config_["epochs"] == 2
    assert fitted.config_["teacher_taps"] == ("features.6", "features.13", "features.18", "adaptive_avg_pool2d")


def test_score_frames_gives_one_score_per_frame_and_score_samples_negates_them(fitted, data):
    _, test = data
    frames = fitted.score_frames(test.videos)
    assert [len(s) for s in frames] == [len(v) for v in test.videos]
    np.testing.assert_allclose(fitted.score_samples(test.videos), -np.concatenate(frames))


def test_injected_anomalies_score_above_normal_frames(fitted, data):
    _, test = data
    assert micro_auc(test.frame_labels, fitted.score_frames(test.videos)) > 0.6


def test_transform_returns_the_papers_raw_components_per_event(fitted, events):
    table = fitted.transform(events[1])
    assert isinstance(table, ScoreTable) and table.components == ["kd", "ca", "lo"]
    assert len(table) == len(events[1]) and table.level == "event"


def test_consistency_loss_starts_at_ca_start_epoch(fitted):
    first, second = fitted.training_history_
    assert "ca" not in first and "ca" in second
    assert {"kd", "lo"} <= set(first)


def test_without_consistency_the_ca_loss_is_never_used(events):
    det = tiny(lambda_ca=0.0, n_layer_groups=2, epochs=2).fit(events[0][:32])
    assert all("ca" not in epoch for epoch in det.training_history_)
    assert "lo" not in det.training_history_[0] and "lo" not in det.transform(events[1]).components
    assert det.config_["teacher_taps"] == ("features.18", "adaptive_avg_pool2d") and len(det.teacher_shapes_) == 2


def test_low_level_only_ablation_trains_without_distillation(events):
    det = tiny(lambda_kd=0.0, lambda_ca=0.0, low_level=("patch",), epochs=1).fit(events[0][:32])
    assert set(det.training_history_[0]) & {"kd", "ca", "lo"} == {"lo"}


def test_optical_flow_branch_needs_flow_crops(events):
    with pytest.raises(ValueError, match="with_flow=True"):
        tiny(low_level=("flow",), epochs=1).fit(events[0])


def test_events_without_neighbour_crops_are_rejected_naming_offsets(data):
    train, _ = data
    with pytest.raises(ValueError, match="offsets"):
        tiny(extractor=MotionForeground(offsets=(0,)), epochs=1).fit(train.videos)


def test_invalid_low_level_name_is_reported_with_the_parameter(events):
    with pytest.raises(ValueError, match="low_level"):
        tiny(low_level=("depth",)).fit(events[0])


def test_save_and_load_give_identical_scores(fitted, data, tmp_path):
    _, test = data
    path = fitted.save(tmp_path / "cafe.pyvad")
    loaded = pyvad.load(path)
    for a, b in zip(loaded.score_frames(test.videos), fitted.score_frames(test.videos)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_pipeline_of_extractor_detector_and_fusion(data):
    train, test = data
    pipe = make_pipeline(MotionForeground(offsets=(-1, 0, 1)), tiny(epochs=1, max_train_events=32),
                         ScoreFusion(smoothing="median", window=3))
    pipe.fit(train.videos)
    assert pipe.score_samples(test.videos).shape == (sum(len(v) for v in test.videos),)


@pytest.mark.parametrize("limit, network_passes", [(None, 1), (32, 2)])
def test_fit_transform_extracts_once_and_reuses_the_full_training_table(data, monkeypatch, count_calls, limit,
                                                                        network_passes):
    """Extraction runs once; the fusion's training table is reused unless it covers a subset only."""
    train, test = data
    calls = count_calls(MotionForeground, "transform")
    passes = count_calls(CAFEDetector, "_event_scores")
    det = tiny(epochs=1, max_train_events=limit, random_state=0)
    table = det.fit_transform(train.videos)
    assert len(calls) == 1
    assert len(passes) == network_passes and len(table) > 32
    monkeypatch.undo()
    reference = tiny(epochs=1, max_train_events=limit, random_state=0).fit(train.videos)
    np.testing.assert_allclose(table["kd"], reference.transform(train.videos)["kd"], rtol=1e-5)
    assert [len(s) for s in det.score_frames(test.videos)] == [len(v) for v in test.videos]


def test_score_maps_paint_fused_event_scores_into_their_boxes(fitted, events):
    maps = fitted.score_maps(events[1])
    table = fitted.transform(events[1])
    fusion = fitted.fusion_
    fused = ((np.column_stack([table[c] for c in fusion.components_]) - fusion.mean_) / fusion.scale_) @ fusion.weights_
    assert len(maps) == events[1].n_videos and len(maps[0]) == events[1].n_frames[0]
    row = int(np.flatnonzero(table.video_ids == 0)[0])
    frame = int(table.frame_indices[row])
    frame_map = maps[0][frame]
    assert frame_map.shape == (48, 64) and frame_map.dtype == np.float32
    x1, y1, x2, y2 = np.ceil(table.boxes[row]).astype(int)
    assert frame_map[y1:y2, x1:x2].min() >= fused[row] - 1e-5
    covered = np.zeros((48, 64), bool)
    for bx1, by1, bx2, by2 in table.boxes[(table.video_ids == 0) & (table.frame_indices == frame)]:
        covered[int(by1):int(np.ceil(by2)), int(bx1):int(np.ceil(bx2))] = True
    np.testing.assert_allclose(frame_map[~covered], fusion.train_min_, rtol=1e-6)


def test_fits_with_other_trainer_settings_keep_their_own_checkpoints(events, tmp_path):
    resume = {"checkpoint_dir": tmp_path, "resume": True}
    first = tiny(epochs=1, trainer_params=resume).fit(events[0][:32])
    decayed = tiny(epochs=1, trainer_params={**resume, "weight_decay": 10.0}).fit(events[0][:32])
    assert len(list(tmp_path.glob("cafe-*-last.pt"))) == 2  # not the first fit's finished checkpoint
    assert not all(torch.equal(value, decayed.network_.state_dict()[name])
                   for name, value in first.network_.state_dict().items())


def test_a_random_state_that_is_not_an_integer_is_refused(events):
    with pytest.raises(ValueError, match="random_state"):
        tiny(epochs=1, random_state=np.random.RandomState(0)).fit(events[0][:32])
