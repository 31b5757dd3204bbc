"""Plots and overlays: files are written, overlays colour only abnormal pixels."""

from __future__ import annotations

import numpy as np
import pytest

from pyvad.events import EventSet
from pyvad.viz import (
    annotate_frame,
    draw_score_panel,
    overlay_heatmap,
    plot_roc_curves,
    plot_score_curves,
    plot_top_events,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_score_curves_are_written_with_ground_truth_and_threshold(tmp_path):
    scores = [np.linspace(0, 1, 20), np.linspace(1, 0, 30)]
    labels = [np.r_[np.zeros(10), np.ones(10)], np.zeros(30)]
    path = plot_score_curves(scores, tmp_path / "sub" / "curves.png", labels=labels, threshold=0.5, names=["a", "b"])
    assert path.read_bytes()[:8] == PNG


def test_score_curves_of_several_detectors_share_each_video_panel(tmp_path, monkeypatch):
    import matplotlib.axes

    drawn = []
    original = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot", lambda ax, x, y, **kw: drawn.append(np.asarray(y)) or original(ax, x, y, **kw))
    scores = {"a": [np.array([1.0, 3.0, 2.0]), np.array([5.0, 5.0])], "b": [np.array([-4.0, 0.0, 4.0]), np.array([0.0, 2.0])]}
    path = plot_score_curves(scores, tmp_path / "several.png", labels=[np.array([0, 1, 0]), np.zeros(2)])
    assert path.read_bytes()[:8] == PNG
    # one line per detector and video, each rescaled to [0, 1] (a constant curve becomes 0)
    assert [c.tolist() for c in drawn] == [[0.0, 1.0, 0.5], [0.0, 0.5, 1.0], [0.0, 0.0], [0.0, 1.0]]


def test_score_curves_of_several_detectors_need_the_same_videos(tmp_path):
    with pytest.raises(ValueError, match="same 2 videos"):
        plot_score_curves({"a": [np.zeros(3), np.zeros(3)], "b": [np.zeros(3)]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="threshold"):
        plot_score_curves({"a": [np.zeros(3)]}, tmp_path / "x.png", threshold=0.5)


def test_roc_curves_of_several_detectors_go_into_one_figure(tmp_path):
    labels = [np.array([0, 0, 1, 1]), np.array([0, 1, 0])]
    scores = {"good": [np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.1, 0.9, 0.2])],
              "random": [np.array([0.5, 0.1, 0.4, 0.2]), np.array([0.3, 0.1, 0.2])]}
    assert plot_roc_curves(labels, scores, tmp_path / "roc.png").read_bytes()[:8] == PNG


def test_roc_curves_need_both_classes(tmp_path):
    with pytest.raises(ValueError):
        plot_roc_curves([np.zeros(4)], [np.arange(4.0)], tmp_path / "roc.png")


def _events(n=5):
    patches = np.zeros((n, 3, 8, 8, 3), np.uint8)
    patches[:, 1] = np.arange(n)[:, None, None, None] * 40
    return EventSet(video_ids=np.zeros(n), frame_indices=np.arange(n), boxes=np.tile([0, 0, 8, 8], (n, 1)),
                    offsets=(-1, 0, 1), patches=patches, n_frames=[n], video_names=["v"], frame_sizes=[(16, 16)])


def test_grid_of_the_most_abnormal_events_is_written(tmp_path):
    path = plot_top_events(_events(), np.arange(5.0), tmp_path / "top.png", n=3, columns=2)
    assert path.read_bytes()[:8] == PNG


def test_grid_of_events_needs_one_score_per_event(tmp_path):
    with pytest.raises(ValueError, match="4 scores for 5 events"):
        plot_top_events(_events(), np.arange(4.0), tmp_path / "top.png")


def test_heatmap_colours_abnormal_pixels_and_leaves_normal_ones_untouched():
    frame = np.full((6, 8, 3), 100, np.uint8)
    heat = np.zeros((6, 8))
    heat[2, 3] = 5.0
    out = overlay_heatmap(frame, heat, vmin=1.0, vmax=5.0)
    assert out[2, 3, 0] > out[2, 3, 2]  # hot = red
    mask = np.ones((6, 8), bool)
    mask[2, 3] = False
    np.testing.assert_array_equal(out[mask], frame[mask])
    assert frame[2, 3].tolist() == [100, 100, 100]  # input untouched


def test_a_smaller_heatmap_is_resized_to_the_frame_and_grey_frames_become_rgb():
    out = overlay_heatmap(np.zeros((8, 8), np.uint8), np.ones((2, 2)), vmin=0.0, vmax=1.0)
    assert out.shape == (8, 8, 3) and (out[..., 0] > 0).all()


def test_heatmap_needs_an_increasing_range():
    with pytest.raises(ValueError, match="vmin < vmax"):
        overlay_heatmap(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4)), vmin=1.0, vmax=1.0)


def test_score_panel_draws_the_curve_and_marks_an_abnormal_last_frame_in_red():
    calm = draw_score_panel([0.1, 0.2, 0.1], width=120, height=50, threshold=1.0)
    alarm = draw_score_panel([0.1, 0.2, 2.0], width=120, height=50, threshold=1.0)
    assert calm.shape == alarm.shape == (50, 120, 3) and calm.dtype == np.uint8

    def red_pixels(image):
        return int(((image[..., 0] > 150) & (image[..., 2] < 100)).sum())

    assert red_pixels(alarm) > 0 and red_pixels(calm) == 0


def test_annotated_frame_has_a_panel_below_and_a_red_border_when_abnormal():
    frame = np.zeros((40, 60, 3), np.uint8)
    normal = annotate_frame(frame, [0.0, 0.1], threshold=1.0, panel_height=30)
    abnormal = annotate_frame(frame, [0.0, 3.0], threshold=1.0, panel_height=30)
    assert normal.shape == abnormal.shape == (70, 60, 3)
    assert normal[0, 30].tolist() == [0, 0, 0] and abnormal[0, 30, 0] > 150


def test_annotated_frame_with_a_heatmap_needs_its_range():
    with pytest.raises(ValueError, match="map_range"):
        annotate_frame(np.zeros((4, 4, 3), np.uint8), [0.0], heatmap=np.zeros((4, 4)))
