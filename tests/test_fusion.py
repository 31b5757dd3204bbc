"""Specification of score tables, score fusion and smoothing (pyvad.fusion, pyvad.smoothing)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline

from pyvad.base import load
from pyvad.exceptions import InvalidVideoError, NotFittedError
from pyvad.fusion import ScoreFusion, ScoreTable
from pyvad.smoothing import gaussian_filter_3d, smooth_scores


def frame_table(**components: list[list[float]]) -> ScoreTable:
    return ScoreTable.from_frame_scores(components)


def event_table(rows: list[tuple[int, int, float]], n_frames: list[int], name: str = "s") -> ScoreTable:
    """Rows as (video, frame, score) of a single component."""
    videos, frames, scores = zip(*rows) if rows else ((), (), ())
    return ScoreTable({name: list(scores)}, video_ids=list(videos), frame_indices=list(frames), n_frames=n_frames)


# -- ScoreTable ---------------------------------------------------------------------------
def test_score_table_keeps_bookkeeping_and_knows_frames_without_events():
    table = ScoreTable(
        {"kd": [1.0, 2.0, 3.0], "ca": [0.0, 0.5, 1.0]},
        video_ids=[0, 0, 1],
        frame_indices=[1, 1, 0],
        n_frames=[3, 2],
        boxes=[[0, 0, 4, 4], [1, 1, 5, 5], [2, 2, 6, 6]],
        video_names=["a", "b"],
    )
    assert len(table) == 3 and table.n_videos == 2 and table.n_frames == [3, 2]
    assert table.components == ["kd", "ca"]
    assert table.level == "event"
    assert table.boxes.dtype == np.float32 and table.boxes.shape == (3, 4)
    assert table["ca"].tolist() == [0.0, 0.5, 1.0]
    assert table.frame_positions().tolist() == [1, 1, 3]


def test_frame_level_table_has_exactly_one_row_per_frame():
    table = ScoreTable.from_frame_scores({"err": [[0.1, 0.2, 0.3], [0.4]], "gap": [[1, 2, 3], [4]]})
    assert table.level == "frame"
    assert table.n_frames == [3, 1]
    assert table.video_ids.tolist() == [0, 0, 0, 1]
    assert table.frame_indices.tolist() == [0, 1, 2, 0]


def test_concat_shifts_video_ids_and_stacks_videos():
    first = ScoreTable.from_frame_scores({"err": [[0.1, 0.2], [0.3]]}, video_names=["a", "b"])
    second = ScoreTable.from_frame_scores({"err": [[0.4]]}, video_names=["c"])
    table = ScoreTable.concat([first, second])
    assert table.video_ids.tolist() == [0, 0, 1, 2]
    assert table.n_frames == [2, 1, 1]
    assert table.video_names == ["a", "b", "c"]
    assert table["err"].tolist() == [0.1, 0.2, 0.3, 0.4]


def test_concat_refuses_tables_with_different_components():
    with pytest.raises(ValueError, match="components"):
        ScoreTable.concat([frame_table(a=[[1.0]]), frame_table(b=[[1.0]])])


def test_select_keeps_only_the_named_components():
    table = frame_table(a=[[1.0]], b=[[2.0]], c=[[3.0]])
    assert table.select(["c", "a"]).components == ["c", "a"]
    with pytest.raises(ValueError, match="'zz'"):
        table.select("zz")


def test_unknown_component_lookup_names_the_available_ones():
    with pytest.raises(KeyError, match="'a'"):
        frame_table(a=[[1.0]])["b"]


def test_non_finite_score_error_names_component_row_and_video():
    with pytest.raises(InvalidVideoError, match=r"'kd'.*row 1.*'cam2'.*frame 4"):
        ScoreTable({"kd": [0.0, np.nan]}, video_ids=[0, 1], frame_indices=[0, 4], n_frames=[1, 5],
                   video_names=["cam1", "cam2"])


def test_frame_index_outside_its_video_is_refused():
    with pytest.raises(InvalidVideoError, match=r"frame index 3 of video 'video_0'.*3 frames"):
        ScoreTable({"kd": [0.0]}, video_ids=[0], frame_indices=[3], n_frames=[3])


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="'ca'"):
        ScoreTable({"kd": [0.0, 1.0], "ca": [0.0]}, video_ids=[0, 0], frame_indices=[0, 1], n_frames=[2])


def test_video_id_without_a_video_is_refused():
    with pytest.raises(ValueError, match="video id 2"):
        ScoreTable({"kd": [0.0]}, video_ids=[2], frame_indices=[0], n_frames=[1, 1])


def test_table_columns_cannot_be_modified_in_place():
    table = frame_table(a=[[1.0, 2.0]])
    with pytest.raises(ValueError):
        table["a"][0] = 5.0


# -- normalisation ------------------------------------------------------------------------
def test_zscore_uses_training_statistics_only():
    train = frame_table(kd=[[1.0, 2.0, 3.0, 4.0]])
    fusion = ScoreFusion().fit(train)
    mean, scale = fusion.mean_.copy(), fusion.scale_.copy()
    test = frame_table(kd=[[100.0, 200.0]])
    scores = fusion.score_frames(test)
    np.testing.assert_array_equal(fusion.mean_, mean)
    np.testing.assert_array_equal(fusion.scale_, scale)
    assert mean.tolist() == [2.5]
    np.testing.assert_allclose(scores[0], (np.array([100.0, 200.0]) - 2.5) / np.std([1, 2, 3, 4]))


@pytest.mark.parametrize("value", [2.0, 0.1])  # 0.1 repeated has a computed std of 1e-17, not 0
def test_constant_training_component_gets_scale_one(value):
    fusion = ScoreFusion().fit(frame_table(kd=[[value] * 3]))
    assert fusion.scale_.tolist() == [1.0]
    np.testing.assert_allclose(fusion.score_frames(frame_table(kd=[[value + 3.0]]))[0], [3.0])


def test_per_video_minmax_rescales_each_scored_video_with_its_own_range():
    fusion = ScoreFusion(normalize="per_video_minmax").fit(frame_table(kd=[[0.0, 1.0]]))
    scores = fusion.score_frames(frame_table(kd=[[1.0, 3.0, 2.0], [10.0, 10.0]]))
    np.testing.assert_allclose(scores[0], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(scores[1], [0.0, 0.0])


def test_default_normalisation_is_not_per_video():
    fusion = ScoreFusion().fit(frame_table(kd=[[0.0, 1.0]]))
    assert fusion.score_frames(frame_table(kd=[[1.0, 3.0]]))[0].max() > 1.0


def test_no_normalisation_keeps_raw_components():
    fusion = ScoreFusion(normalize=None).fit(frame_table(kd=[[0.0, 10.0]]))
    np.testing.assert_allclose(fusion.score_frames(frame_table(kd=[[7.0]]))[0], [7.0])


# -- weights -------------------------------------------------------------------------------
def test_weights_combine_normalised_components():
    train = frame_table(kd=[[0.0, 2.0]], ca=[[0.0, 20.0]])  # z = (x - 1)/1 and (x - 10)/10
    fusion = ScoreFusion({"kd": 0.5, "ca": 2.0}).fit(train)
    scores = fusion.score_frames(frame_table(kd=[[3.0]], ca=[[30.0]]))
    np.testing.assert_allclose(scores[0], [0.5 * 2.0 + 2.0 * 2.0])


def test_no_weights_means_every_component_with_weight_one():
    fusion = ScoreFusion(normalize=None).fit(frame_table(kd=[[1.0]], ca=[[2.0]]))
    assert fusion.components_ == ["kd", "ca"]
    np.testing.assert_allclose(fusion.score_frames(frame_table(kd=[[1.0]], ca=[[2.0]]))[0], [3.0])


def test_components_missing_from_weights_are_ignored():
    fusion = ScoreFusion({"kd": 1.0}, normalize=None).fit(frame_table(kd=[[1.0]], lo=[[50.0]]))
    assert fusion.components_ == ["kd"]
    np.testing.assert_allclose(fusion.score_frames(frame_table(kd=[[4.0]], lo=[[99.0]]))[0], [4.0])


def test_weight_for_an_absent_component_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\['lo'\]"):
        ScoreFusion({"kd": 1.0, "lo": 0.1}).fit(frame_table(kd=[[1.0, 2.0]]))


def test_scoring_a_table_without_a_fitted_component_is_a_clear_error():
    fusion = ScoreFusion().fit(frame_table(kd=[[1.0, 2.0]], ca=[[1.0, 3.0]]))
    with pytest.raises(ValueError, match=r"\['ca'\]"):
        fusion.score_frames(frame_table(kd=[[1.0]]))


# -- aggregation and empty frames ------------------------------------------------------
ROWS = [(0, 0, 1.0), (0, 0, 5.0), (0, 0, 3.0), (0, 0, 2.0), (0, 1, 4.0), (0, 1, 6.0), (0, 2, 7.0)]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        ("max", [5.0, 6.0, 7.0]),
        ("mean", [11.0 / 4, 5.0, 7.0]),
        ("topk_mean", [(5.0 + 3.0 + 2.0) / 3, 5.0, 7.0]),  # fewer than top_k events: all of them
    ],
)
def test_events_are_aggregated_per_frame(aggregation, expected):
    table = event_table(ROWS, n_frames=[3])
    fusion = ScoreFusion(normalize=None, aggregation=aggregation, top_k=3).fit(table)
    np.testing.assert_allclose(fusion.score_frames(table)[0], expected)


def test_topk_mean_with_k_one_is_the_max():
    table = event_table(ROWS, n_frames=[3])
    top1 = ScoreFusion(normalize=None, aggregation="topk_mean", top_k=1).fit(table)
    np.testing.assert_allclose(top1.score_frames(table)[0], [5.0, 6.0, 7.0])


def test_frames_without_events_get_the_training_minimum():
    train = event_table([(0, 0, 4.0), (0, 1, 2.0), (0, 1, 9.0), (0, 3, 6.0)], n_frames=[5])
    fusion = ScoreFusion(normalize=None).fit(train)
    assert fusion.train_min_ == 4.0  # frame maxima 4, 9, 6 (empty frames do not count)
    np.testing.assert_allclose(fusion.training_frame_scores_[0], [4.0, 9.0, 4.0, 6.0, 4.0])
    test = event_table([(1, 1, 8.0)], n_frames=[2, 3])
    scores = fusion.score_frames(test)
    np.testing.assert_allclose(scores[0], [4.0, 4.0])
    np.testing.assert_allclose(scores[1], [4.0, 8.0, 4.0])


def test_empty_frame_can_be_a_given_number():
    train = event_table([(0, 0, 4.0)], n_frames=[2])
    fusion = ScoreFusion(normalize=None, empty_frame=-20.0).fit(train)
    np.testing.assert_allclose(fusion.score_frames(event_table([], n_frames=[2]))[0], [-20.0, -20.0])


def test_training_table_without_events_is_refused():
    with pytest.raises(ValueError, match="no rows"):
        ScoreFusion().fit(event_table([], n_frames=[3]))


# -- smoothing ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["moving_average", "median", "gaussian"])
def test_smoothing_never_crosses_video_boundaries(method):
    videos = [np.array([0.0, 0.0, 0.0, 0.0, 100.0]), np.zeros(5)]
    smoothed = smooth_scores(videos, method, 5)
    np.testing.assert_array_equal(smoothed[1], np.zeros(5))
    table = ScoreTable.from_frame_scores({"s": videos})
    fusion = ScoreFusion(normalize=None, smoothing=method, window=5).fit(table)
    np.testing.assert_array_equal(fusion.score_frames(table)[1], np.zeros(5))


def test_moving_average_is_a_centred_box_filter_with_repeated_edges():
    np.testing.assert_allclose(smooth_scores(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), "moving_average", 3),
                               [0.0, 1.0, 1.0, 1.0, 0.0])
    # even window: frame t averages t - 1 and t; the first frame repeats itself
    np.testing.assert_allclose(smooth_scores(np.array([2.0, 4.0, 0.0]), "moving_average", 2), [2.0, 3.0, 2.0])


@pytest.mark.parametrize("window", [2, 4, 5, 6])
def test_median_filter_is_the_median_of_the_documented_span(window):
    scores = np.random.default_rng(window).normal(size=30)
    padded = np.pad(scores, window, mode="edge")  # mode="nearest" at the ends
    spans = [padded[window + t - window // 2 : window + t + (window - 1) // 2 + 1] for t in range(len(scores))]
    np.testing.assert_allclose(smooth_scores(scores, "median", window), [np.median(span) for span in spans])


def test_median_filter_removes_isolated_spikes():
    np.testing.assert_allclose(smooth_scores(np.array([0.0, 5.0, 0.0, 0.0, 1.0, 1.0]), "median", 3),
                               [0.0, 0.0, 0.0, 0.0, 1.0, 1.0])


def test_gaussian_kernel_spans_window_with_given_sigma():
    impulse = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    side = np.exp(-0.5)
    expected = np.array([0.0, side, 1.0, side, 0.0]) / (1.0 + 2.0 * side)  # 3 taps, sigma 1
    np.testing.assert_allclose(smooth_scores(impulse, "gaussian", 3, sigma=1.0), expected)


def test_gaussian_default_sigma_is_a_sixth_of_the_window():
    scores = np.random.default_rng(0).normal(size=30)
    np.testing.assert_allclose(smooth_scores(scores, "gaussian", 12), smooth_scores(scores, "gaussian", 12, sigma=2.0))


@pytest.mark.parametrize("method", ["moving_average", "median", "gaussian", None])
def test_window_one_leaves_scores_unchanged(method):
    scores = np.array([3.0, -1.0, 2.0])
    np.testing.assert_array_equal(smooth_scores(scores, method, 1), scores)


def test_fusion_smooths_after_filling_empty_frames():
    train = event_table([(0, 1, 3.0)], n_frames=[3])
    fusion = ScoreFusion(normalize=None, smoothing="moving_average", window=3).fit(train)
    np.testing.assert_allclose(fusion.training_frame_scores_[0], [3.0, 3.0, 3.0])
    test = event_table([(0, 1, 6.0)], n_frames=[3])
    np.testing.assert_allclose(fusion.score_frames(test)[0], [4.0, 4.0, 4.0])


def test_smoothing_rejects_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        smooth_scores(np.zeros(3), "mean", 3)
    with pytest.raises(ValueError, match="window"):
        smooth_scores(np.zeros(3), "median", 0)
    with pytest.raises(InvalidVideoError, match="video 1.*frame 2"):
        smooth_scores([np.zeros(3), np.array([0.0, 1.0, np.inf])], "median", 3)


def test_gaussian_filter_3d_has_separate_spatial_and_temporal_sigma():
    maps = np.zeros((5, 7, 7))
    maps[2, 3, 3] = 1.0
    temporal_only = gaussian_filter_3d(maps, sigma_spatial=0.0, sigma_temporal=1.0)
    assert temporal_only[1, 3, 3] > 0 and temporal_only[2, 3, 2] == 0
    spatial_only = gaussian_filter_3d(maps, sigma_spatial=1.0, sigma_temporal=0.0)
    assert spatial_only[1, 3, 3] == 0 and spatial_only[2, 3, 2] > 0
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        gaussian_filter_3d(np.zeros((4, 4)), sigma_spatial=1.0, sigma_temporal=1.0)


# -- estimator contract --------------------------------------------------------------------
def test_scoring_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        ScoreFusion().score_frames(frame_table(kd=[[1.0]]))


def test_fit_refuses_anything_but_a_score_table():
    with pytest.raises(TypeError, match="ScoreTable"):
        ScoreFusion().fit([np.zeros(3)])


@pytest.mark.parametrize(
    "params",
    [{"aggregation": "min"}, {"top_k": 0}, {"smoothing": "box"}, {"window": 0}, {"normalize": "minmax"},
     {"empty_frame": "zero"}, {"empty_frame": float("inf")}, {"sigma": -1.0}],
)
def test_invalid_parameters_are_refused_at_fit(params):
    with pytest.raises(ValueError):
        ScoreFusion(**params).fit(frame_table(kd=[[1.0, 2.0]]))


def test_empty_weights_are_refused():
    with pytest.raises(ValueError, match="weights is empty"):
        ScoreFusion({}).fit(frame_table(kd=[[1.0, 2.0]]))


def test_non_finite_weight_is_refused():
    with pytest.raises(ValueError, match="'kd'"):
        ScoreFusion({"kd": float("nan")}).fit(frame_table(kd=[[1.0, 2.0]]))


def test_get_params_set_params_and_clone():
    fusion = ScoreFusion({"kd": 0.5}, aggregation="topk_mean", smoothing="median", window=19)
    assert fusion.get_params()["window"] == 19
    fusion.set_params(window=5, top_k=1)
    copy = clone(fusion)
    assert copy.get_params() == fusion.get_params()
    assert copy.window == 5 and copy.weights == {"kd": 0.5}


class FrameErrorsToTable(TransformerMixin, BaseEstimator):
    """A stand-in detector: the videos' frame errors become a frame-level ScoreTable."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return ScoreTable.from_frame_scores({"err": X})


def test_fusion_is_the_final_step_of_a_pipeline():
    train = [np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0])]
    test = [np.array([2.0, 9.0])]
    pipe = Pipeline([("detector", FrameErrorsToTable()), ("fusion", ScoreFusion(contamination=0.2))])
    pipe.fit(train)
    expected = (np.array([2.0, 9.0]) - 2.0) / np.std([1.0, 2.0, 3.0, 2.0, 2.0])
    np.testing.assert_allclose(pipe.score_samples(test), -expected)
    assert pipe.predict(test).tolist() == [1, -1]


def test_save_and_load_round_trip(tmp_path):
    train = event_table([(0, 0, 1.0), (0, 0, 3.0), (0, 2, 2.0), (1, 1, 5.0)], n_frames=[3, 2])
    fusion = ScoreFusion({"s": 2.0}, aggregation="topk_mean", smoothing="gaussian", window=3).fit(train)
    loaded = load(fusion.save(tmp_path / "fusion.pyvad"))
    assert loaded.get_params() == fusion.get_params()
    assert loaded.components_ == ["s"] and loaded.train_min_ == fusion.train_min_
    for ours, theirs in zip(loaded.score_frames(train), fusion.score_frames(train)):
        np.testing.assert_allclose(ours, theirs)
    assert loaded.offset_ == fusion.offset_


def test_fuse_rows_is_the_weighted_training_zscore_of_each_row():
    train = ScoreTable({"a": [1.0, 3.0], "b": [10.0, 30.0]}, video_ids=[0, 0], frame_indices=[0, 1], n_frames=[2])
    fusion = ScoreFusion(weights={"a": 2.0, "b": 1.0}).fit(train)
    scored = ScoreTable({"a": [5.0], "b": [20.0]}, video_ids=[0], frame_indices=[0], n_frames=[1])
    # a: mean 2, std 1 -> z 3; b: mean 20, std 10 -> z 0
    np.testing.assert_allclose(fusion.fuse_rows(scored), [6.0])


def test_score_maps_paint_each_event_score_into_its_box_keeping_the_maximum():
    train = ScoreTable({"s": [0.0, 2.0]}, video_ids=[0, 0], frame_indices=[0, 1], n_frames=[2],
                       boxes=[[0, 0, 2, 2], [0, 0, 2, 2]], frame_sizes=[(4, 5)])
    fusion = ScoreFusion(normalize=None).fit(train)
    scored = ScoreTable({"s": [1.0, 3.0, 7.0]}, video_ids=[0, 0, 0], frame_indices=[0, 0, 2], n_frames=[3],
                        boxes=[[0, 0, 2, 2], [1, 1, 3, 4], [4, 3, 5, 4]], frame_sizes=[(4, 5)])
    (maps,) = fusion.score_maps(scored)
    assert len(maps) == 3 and maps[0].shape == (4, 5)
    frame0 = maps[0]
    assert frame0[0, 0] == 1.0 and frame0[1, 1] == 3.0 and frame0[3, 2] == 3.0
    assert frame0[3, 4] == fusion.train_min_ == 0.0
    np.testing.assert_array_equal(maps[1], np.zeros((4, 5)))
    assert maps[2][3, 4] == 7.0 and maps.to_array().shape == (3, 4, 5)


def test_score_maps_need_boxes():
    table = ScoreTable.from_frame_scores({"s": [np.array([0.0, 1.0])]})
    with pytest.raises(ValueError, match="boxes"):
        ScoreFusion().fit(table).score_maps(table)
