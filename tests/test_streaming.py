"""Streaming scoring: sliding windows reproduce offline scores, memory stays flat, alerts."""

from __future__ import annotations

import numpy as np
import psutil
import pytest

from pyvad.base import BaseDetector
from pyvad.exceptions import InvalidVideoError, VideoReadError
from pyvad.fusion import ScoreFusion
from pyvad.methods import MotionBaselineDetector
from pyvad.streaming import (
    DEFAULT_CONTEXT,
    AlertTracker,
    abnormal_intervals,
    resolve_threshold,
    smoothing_delay,
    temporal_context,
)
from pyvad.synthetic import make_train_test
from pyvad.video import write_video


class FrameDifference(BaseDetector):
    """Score = mean absolute difference to the previous frame; needs one past frame."""

    temporal_context = (1, 0)

    def __init__(self, contamination="auto"):
        self.contamination = contamination

    def _fit(self, X, y=None):
        self.seen_ = True

    def _score_frames(self, X):
        self.window_lengths_ = getattr(self, "window_lengths_", []) + [len(v) for v in X]
        return [self._differences(np.asarray(v[:], dtype=np.float64)).mean(axis=(1, 2, 3)) for v in X]

    @staticmethod
    def _differences(frames):
        previous = np.concatenate([frames[:1], frames[:-1]])
        return np.abs(frames - previous)

    def score_maps(self, X):
        return [self._differences(np.asarray(v[:], dtype=np.float64)).mean(axis=3) for v in X]


@pytest.fixture(scope="module")
def scene():
    return make_train_test(n_train=2, n_test=1, n_frames=60, frame_size=(32, 48), random_state=1)


@pytest.fixture(scope="module")
def baseline(scene):
    train, _ = scene
    return MotionBaselineDetector(grid=(2, 3)).fit(train.videos)


def _random_video(n_frames, size=(8, 8), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n_frames, *size, 3), dtype=np.uint8)


def test_centred_streaming_reproduces_offline_scores_frame_for_frame(scene, baseline):
    video = scene[1].videos[0]
    offline = baseline.score_frames([video])[0]
    streamed = [f.score for f in baseline.score_stream(video, hop=7, context=(1, 0), smoothing="centred")]
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-9)


def test_causal_streaming_equals_offline_scores_delayed_by_the_filter_half_span(scene, baseline):
    video = scene[1].videos[0]
    offline = baseline.score_frames([video])[0]
    delay = smoothing_delay(baseline)
    assert delay == baseline.fusion_.window // 2 > 0
    streamed = np.array([f.score for f in baseline.score_stream(video, hop=5, context=(1, 0))])
    np.testing.assert_allclose(streamed[delay:], offline[:-delay], rtol=0, atol=1e-9)


def test_every_frame_is_yielded_once_in_order_with_its_timestamp_and_pixels(tmp_path):
    frames = _random_video(23)
    path = write_video(tmp_path / "clip", frames)  # PNG folder: lossless
    det = FrameDifference().fit([frames])
    results = list(det.score_stream(path, hop=4, fps=10))  # a folder has no frame rate of its own
    assert [r.index for r in results] == list(range(23))
    np.testing.assert_allclose([r.timestamp for r in results], np.arange(23) / 10)
    np.testing.assert_array_equal(np.stack([r.frame for r in results]), frames)
    np.testing.assert_allclose([r.score for r in results], det.score_frames([frames])[0])


def test_a_video_file_is_streamed_to_its_last_frame(tmp_path):
    path = write_video(tmp_path / "clip.avi", _random_video(30, size=(16, 16)), fps=25)
    det = FrameDifference().fit([_random_video(5, size=(16, 16))])
    assert [r.index for r in det.score_stream(path, hop=8)] == list(range(30))


def test_windows_hold_only_the_declared_context_plus_one_hop():
    det = FrameDifference().fit([_random_video(4)])
    det.window_lengths_ = []
    list(det.score_stream(_random_video(50), hop=6))
    past, future = temporal_context(det)
    assert max(det.window_lengths_) == past + 6 + future


def test_a_detector_without_declared_context_gets_the_safe_default():
    class Plain:
        pass

    assert temporal_context(Plain()) == DEFAULT_CONTEXT


def test_fitted_temporal_context_overrides_the_class_attribute():
    det = FrameDifference().fit([_random_video(4)])
    det.temporal_context_ = (3, 2)
    assert temporal_context(det) == (3, 2)


def test_memory_stays_flat_over_10000_frames_of_a_video_file(tmp_path):
    rng = np.random.default_rng(0)
    path = write_video(tmp_path / "long.avi", (rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                                               for _ in range(10_000)), fps=25)
    det = FrameDifference().fit([_random_video(4, size=(32, 32))])
    process = psutil.Process()
    rss = {}
    count = 0
    for result in det.score_stream(path, hop=64):
        count += 1
        if result.index in (1_000, 9_999):
            rss[result.index] = process.memory_info().rss
    assert count == 10_000
    # every frame kept would be 30 MB; the window is 66 frames (200 kB)
    assert rss[9_999] - rss[1_000] < 8 * 2**20


def test_threshold_is_the_detectors_offset_a_training_quantile_or_a_given_number(baseline):
    assert resolve_threshold(baseline) == -baseline.offset_
    training = np.concatenate(baseline.training_frame_scores_)
    assert resolve_threshold(baseline, quantile=0.9) == pytest.approx(np.quantile(training, 0.9))
    assert resolve_threshold(baseline, threshold=1.5) == 1.5
    with pytest.raises(ValueError, match="not both"):
        resolve_threshold(baseline, threshold=1.0, quantile=0.5)
    with pytest.raises(ValueError, match="quantile"):
        resolve_threshold(baseline, quantile=1.5)


def test_frames_above_the_threshold_are_flagged_abnormal():
    frames = np.zeros((12, 8, 8, 3), np.uint8)
    frames[6] = 255  # a flash: frames 6 and 7 differ from their predecessor
    det = FrameDifference().fit([frames[:4]])
    flags = [r.abnormal for r in det.score_stream(frames, hop=3, threshold=1.0)]
    assert abnormal_intervals(flags) == [(6, 7)]


def test_maps_come_with_each_frame_when_asked_for():
    frames = _random_video(10)
    det = FrameDifference().fit([frames])
    results = list(det.score_stream(frames, hop=4, with_maps=True))
    np.testing.assert_allclose(np.stack([r.map for r in results]), det.score_maps([frames])[0], atol=1e-5)


def test_asking_for_maps_from_a_detector_without_score_maps_fails_early(baseline, scene):
    with pytest.raises(ValueError, match="MotionBaselineDetector has no score_maps"):
        baseline.score_stream(scene[1].videos[0], with_maps=True)


def test_max_frames_stops_an_endless_source_early():
    det = FrameDifference().fit([_random_video(4)])
    assert len(list(det.score_stream(_random_video(40), hop=4, max_frames=10))) == 10


def test_per_video_min_max_normalisation_is_refused_on_a_stream(scene):
    train, test = scene
    det = MotionBaselineDetector(grid=(2, 2), fusion=ScoreFusion(normalize="per_video_minmax")).fit(train.videos)
    with pytest.raises(ValueError, match="per_video_minmax"):
        det.score_stream(test.videos[0])


@pytest.mark.parametrize(
    "options, message",
    [({"hop": 0}, "hop"), ({"smoothing": "future"}, "smoothing"), ({"context": (-1, 0)}, "context"),
     ({"max_frames": 0}, "max_frames")],
)
def test_bad_options_are_refused_before_reading_anything(options, message):
    det = FrameDifference().fit([_random_video(4)])
    with pytest.raises(ValueError, match=message):
        det.score_stream("/nonexistent.mp4", **options)


def test_an_unfitted_detector_cannot_stream():
    with pytest.raises(ValueError, match="fit it"):
        FrameDifference().score_stream(_random_video(4))


def test_missing_files_and_cameras_raise_video_read_error():
    det = FrameDifference().fit([_random_video(4)])
    with pytest.raises(VideoReadError, match="does not exist"):
        det.score_stream("/nonexistent/clip.mp4")
    with pytest.raises(VideoReadError, match="camera 97"):
        det.score_stream(97)


class FpsSpy(FrameDifference):
    """Records the frame rate of the windows it scores."""

    def score_frames(self, X):
        self.window_fps_ = getattr(self, "window_fps_", []) + [v.fps for v in X]
        return super().score_frames(X)


@pytest.mark.parametrize("fps", [0, 0.0, -5, float("nan"), float("inf"), "fast"])
def test_a_live_source_refuses_a_bad_fps_before_opening_it(tmp_path, fps):
    det = FrameDifference().fit([_random_video(4, size=(16, 16))])
    url = write_video(tmp_path / "clip.avi", _random_video(10, size=(16, 16)), fps=10).as_uri()  # file:// is live
    for source in (url, 97):  # camera 97 does not exist: the fps is refused before it is opened
        with pytest.raises(InvalidVideoError, match="fps must be a positive number"):
            det.score_stream(source, fps=fps)


def test_a_live_source_uses_the_given_fps_else_the_announced_one(tmp_path):
    url = write_video(tmp_path / "clip.avi", _random_video(10, size=(16, 16)), fps=10).as_uri()
    for fps, expected in ((None, 10.0), (2.5, 2.5)):
        det = FpsSpy().fit([_random_video(4, size=(16, 16))])
        assert len(list(det.score_stream(url, hop=4, fps=fps))) == 10
        assert set(det.window_fps_) == {expected}


def test_alerts_start_after_min_frames_and_end_at_the_first_normal_frame():
    tracker = AlertTracker(min_frames=2)
    flags = [0, 1, 0, 1, 1, 1, 0, 1, 1]
    alerts = []
    for i, flag in enumerate(flags):
        alerts += tracker.update(i, i * 0.5, float(i), bool(flag))
    alerts += tracker.close()
    assert [(a.kind, a.start, a.end) for a in alerts] == [
        ("start", 3, None), ("end", 3, 5), ("start", 7, None), ("end", 7, 8)]
    assert alerts[1].start_time == 1.5 and alerts[1].end_time == 2.5 and alerts[1].peak_score == 5.0


def test_abnormal_intervals_are_inclusive_and_filtered_by_length():
    assert abnormal_intervals(np.array([1, 1, 0, 1, 0, 0, 1, 1, 1])) == [(0, 1), (3, 3), (6, 8)]
    assert abnormal_intervals([1, 1, 0, 1], min_frames=2) == [(0, 1)]
    assert abnormal_intervals([]) == []
