"""Specification of DetectorEnsemble and its cross-validated weights."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, KFold, LeaveOneOut
from sklearn.pipeline import make_pipeline

import pyvad
from pyvad.base import BaseDetector
from pyvad.ensemble import DetectorEnsemble, cross_validated_weights, make_ensemble, simplex_grid
from pyvad.methods import MotionBaselineDetector
from pyvad.methods.cafe import CAFEDetector
from pyvad.metrics import macro_auc, make_video_scorer
from pyvad.streaming import score_stream
from pyvad.synthetic import make_train_test
from pyvad.video import as_videos, write_video

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide" / "ensemble.md"
CAFE_TINY = dict(teacher="mobilenet_v2", teacher_weights="random", teacher_input_size=0, student_widths=(8, 8, 16, 16),
                 batch_size=64, epochs=1, ca_start_epoch=1, device="cpu")


class ChannelMean(BaseDetector):
    """Frame score = mean of one colour channel; records what it was given and how often it scored."""

    def __init__(self, channel: int = 0, contamination: str | float = "auto") -> None:
        self.channel = channel
        self.contamination = contamination

    def _fit(self, X: Any, y: Any = None) -> None:
        self.fit_sources_ = [video.source for video in as_videos(X)]

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        self.scored_batches_ = [*getattr(self, "scored_batches_", []), len(as_videos(X))]
        return [video.to_array()[..., self.channel].mean(axis=(1, 2)) for video in as_videos(X)]


class ChannelMaps(ChannelMean):
    """ChannelMean with pixel maps: the channel's values."""

    def score_maps(self, X: Any) -> list[np.ndarray]:
        return [video.to_array()[..., self.channel].astype(np.float32) for video in as_videos(X)]


def two_baselines(**params) -> DetectorEnsemble:
    return DetectorEnsemble([("coarse", MotionBaselineDetector(grid=(2, 2))), ("fine", MotionBaselineDetector(grid=(4, 6)))],
                            **params)


@pytest.fixture(scope="module")
def data():
    return make_train_test(n_train=2, n_test=3, n_frames=24, frame_size=(32, 48), random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    return two_baselines(statistics="training").fit(data[0].videos)


# ------------------------------------------------------------------------------ contract
def test_scores_have_one_value_per_frame_and_follow_the_outlier_contract(fitted, data):
    test = data[1]
    frames = fitted.score_frames(test.videos)
    assert [len(s) for s in frames] == [len(v) for v in test.videos]
    np.testing.assert_array_equal(fitted.score_samples(test.videos), -np.concatenate(frames))
    assert set(np.unique(fitted.predict(test.videos))) <= {-1, 1}
    members = fitted.member_scores(test.videos)
    assert list(members) == ["coarse", "fine"]
    assert all([len(s) for s in members[name]] == [len(v) for v in test.videos] for name in members)


def test_equal_weights_give_the_mean_of_the_members_training_z_scores(fitted, data):
    train, test = data
    standalone = {name: clone(det).fit(train.videos) for name, det in fitted.detectors}
    expected = []
    for video in test.videos:
        z = []
        for name, det in standalone.items():
            training = np.concatenate(det.score_frames(train.videos))
            z.append((det.score_frames([video])[0] - training.mean()) / training.std())
        expected.append(np.mean(z, axis=0))
    for got, want in zip(fitted.score_frames(test.videos), expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


class Flat(BaseDetector):
    """Scores every frame 0.1: a member with no spread (0.1 repeated has a computed std of 1e-17)."""

    def __init__(self, contamination: str | float = "auto") -> None:
        self.contamination = contamination

    def _fit(self, X: Any, y: Any = None) -> None:
        pass

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        return [np.full(len(video), 0.1) for video in as_videos(X)]


def test_a_member_without_spread_is_centred_not_divided_by_rounding_noise(data):
    train, test = data
    ensemble = DetectorEnsemble([("channel", ChannelMean()), ("flat", Flat())], statistics="training").fit(train.videos)
    assert ensemble.scale_[1] == 1.0
    channel = ensemble.detectors_["channel"]
    training = np.concatenate(channel.score_frames(train.videos))
    for got, video in zip(ensemble.score_frames(test.videos), test.videos):
        want = (channel.score_frames([video])[0] - training.mean()) / training.std() / 2
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_statistics_come_from_the_training_videos_not_from_the_scored_ones(fitted, data):
    train, test = data
    training = [np.concatenate(fitted.detectors_[name].score_frames(train.videos)) for name in fitted.detectors_]
    np.testing.assert_allclose(fitted.mean_, [t.mean() for t in training])
    np.testing.assert_allclose(fitted.scale_, [t.std() for t in training])
    before = (fitted.mean_.copy(), fitted.scale_.copy())
    together = fitted.score_frames(test.videos)
    alone = [fitted.score_frames([video])[0] for video in test.videos]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a, b)
    np.testing.assert_array_equal(fitted.mean_, before[0])
    np.testing.assert_array_equal(fitted.scale_, before[1])


def test_members_training_scores_are_reused_not_recomputed(data):
    ensemble = DetectorEnsemble([("red", ChannelMean(0)), ("green", ChannelMean(1))],
                                statistics="training").fit(data[0].videos)
    assert [det.scored_batches_ for det in ensemble.detectors_.values()] == [[2], [2]]  # their own fit, nothing more


def test_each_member_scores_all_videos_in_one_call_as_it_would_alone(data):
    # Members may depend on the batch (boxes matched to videos by order, parallel extraction).
    ensemble = DetectorEnsemble([("red", ChannelMean(0)), ("green", ChannelMean(1))]).fit(data[0].videos)
    ensemble.score_frames(data[1].videos)
    assert [det.scored_batches_ for det in ensemble.detectors_.values()] == [[2, 3], [2, 3]]


def test_frozen_members_are_used_as_fitted(fitted, data):
    train, test = data
    members = {name: clone(det).fit(train.videos) for name, det in fitted.detectors}
    frozen = DetectorEnsemble([(name, FrozenEstimator(det)) for name, det in members.items()],
                              statistics="training").fit(train.videos)
    assert all(frozen.detectors_[name].estimator is det for name, det in members.items())
    np.testing.assert_allclose(frozen.score_samples(test.videos), fitted.score_samples(test.videos))


def test_member_scores_and_combine_reproduce_score_frames_from_one_pass(fitted, data):
    test = data[1]
    members = fitted.member_scores(test.videos)
    for a, b in zip(fitted.combine(members), fitted.score_frames(test.videos)):
        np.testing.assert_array_equal(a, b)
    only_fine = fitted.combine(members, weights=[0, 3])
    z = [(s - fitted.mean_[1]) / fitted.scale_[1] for s in members["fine"]]
    for a, b in zip(only_fine, z):
        np.testing.assert_allclose(a, b)


def test_smoothing_never_crosses_video_boundaries(fitted, data):
    ensemble = clone(fitted).set_params(smoothing="moving_average", window=9).fit(data[0].videos)
    n = 20
    quiet, spiky = np.zeros(n), np.zeros(n)
    spiky[-1] = 1e6
    members = {"coarse": [spiky, quiet], "fine": [spiky, quiet]}
    smoothed = ensemble.combine(members)
    np.testing.assert_allclose(smoothed[1], ensemble.combine({"coarse": [quiet], "fine": [quiet]})[0])
    assert smoothed[0][-1] > smoothed[0][0]


def test_streaming_an_ensemble_gives_its_offline_scores(data):
    ensemble = two_baselines(smoothing="median", window=15).fit(data[0].videos)
    assert ensemble.temporal_context_ == (1 + 4 + 7, 1 + 4 + 7)  # frame difference, members' window 9, own window 15
    video = data[1].videos[0]
    streamed = [frame.score for frame in score_stream(ensemble, video, hop=4)]
    np.testing.assert_allclose(streamed, ensemble.score_frames([video])[0])


def test_files_are_decoded_once_and_members_get_frames_in_memory(data, tmp_path):
    folders = [write_video(tmp_path / f"train{i}", video) for i, video in enumerate(data[0].videos)]
    members = [("red", ChannelMean(0)), ("green", ChannelMean(1))]
    cached = DetectorEnsemble(members).fit(folders)
    streamed = DetectorEnsemble(members, cache_videos=False).fit(folders)
    assert all(source is None for det in cached.detectors_.values() for source in det.fit_sources_)
    assert all(source is not None for det in streamed.detectors_.values() for source in det.fit_sources_)
    np.testing.assert_allclose(cached.score_samples(folders), streamed.score_samples(folders))


# ------------------------------------------------------------------------------ sklearn
def test_set_params_reaches_members_and_clone_keeps_parameters(fitted):
    params = fitted.get_params(deep=True)
    assert params["coarse__grid"] == (2, 2) and params["fine"] is fitted.detectors[1][1]
    copy = clone(fitted).set_params(coarse__grid=(3, 3), weights=[2, 1])
    assert copy.get_params()["coarse__grid"] == (3, 3)
    assert fitted.get_params()["coarse__grid"] == (2, 2)
    assert not hasattr(copy, "detectors_")
    copy.set_params(fine=ChannelMean(2))
    assert isinstance(copy.detectors[1][1], ChannelMean)


def test_device_is_set_on_members_that_have_one(data):
    members = [("cafe", CAFEDetector("fast", **CAFE_TINY)), ("red", ChannelMean(0))]
    ensemble = DetectorEnsemble(members, device="gpu7")
    with pytest.raises(ValueError, match="gpu7"):  # reached the CAFE member (which rejects it) before any training
        ensemble.fit(data[0].videos)
    assert members[0][1].device == "cpu"  # the user's member is left as it was


def test_works_inside_a_pipeline(fitted, data):
    train, test = data
    pipe = make_pipeline(clone(fitted)).fit(train.videos)
    np.testing.assert_allclose(pipe.score_samples(test.videos), fitted.score_samples(test.videos))


def test_grid_search_over_weights_and_member_parameters(data):
    train, test = data
    X, y = train.videos + test.videos, train.frame_labels + test.frame_labels
    folds = [(np.arange(len(train.videos)), np.arange(len(train.videos), len(X)))]
    grid = {"weights": [[1, 0], [0, 1], [1, 1]], "coarse__grid": [(2, 2), (3, 3)]}
    search = GridSearchCV(two_baselines(), grid, cv=folds, scoring=make_video_scorer("micro_auc"), refit=False).fit(X, y)
    assert len(search.cv_results_["params"]) == 6
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_save_and_load_give_identical_scores(fitted, data, tmp_path):
    loaded = pyvad.load(fitted.save(tmp_path / "ensemble.pyvad"))
    np.testing.assert_array_equal(loaded.score_samples(data[1].videos), fitted.score_samples(data[1].videos))
    assert loaded.offset_ == fitted.offset_ and list(loaded.detectors_) == ["coarse", "fine"]


def test_a_deep_member_round_trips_and_maps_are_the_weighted_z_scored_member_maps(data, tmp_path):
    train, test = data
    members = [("cafe", CAFEDetector("fast", **{**CAFE_TINY, "device": "auto"}, random_state=0)), ("red", ChannelMaps(0))]
    ensemble = DetectorEnsemble(members, weights=[3, 1], statistics="training").fit(train.videos)
    loaded = pyvad.load(ensemble.save(tmp_path / "deep.pyvad"), trusted_classes=[ChannelMaps], device="cpu")
    assert loaded.detectors_["cafe"].device == "cpu" and ensemble.detectors_["cafe"].device == "auto"
    np.testing.assert_allclose(loaded.score_samples(test.videos), ensemble.score_samples(test.videos), atol=1e-6)
    maps = ensemble.score_maps(test.videos[:1])[0]
    assert maps.shape == (len(test.videos[0]), 32, 48)
    cafe, red = (ensemble.detectors_[name].score_maps(test.videos[:1])[0] for name in ("cafe", "red"))
    frame = 12
    want = 0.75 * (cafe[frame] - ensemble.mean_[0]) / ensemble.scale_[0] + 0.25 * (red[frame] - ensemble.mean_[1]) / ensemble.scale_[1]
    np.testing.assert_allclose(maps[frame], want, rtol=1e-5, atol=1e-5)


def test_score_maps_exist_only_when_every_member_has_them(fitted):
    assert not hasattr(fitted, "score_maps")


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("detectors", "weights", "error", "match"),
    [
        (None, None, ValueError, "at least one detector"),
        ([], None, ValueError, "at least one detector"),
        ([("a", ChannelMean(0)), ("a", ChannelMean(1))], None, ValueError, "not unique"),
        ([("a", ChannelMean(0)), ("b", ChannelMean(1))], [1.0], ValueError, "one weight per detector"),
        ([("a", ChannelMean(0)), ("b", ChannelMean(1))], [1.0, -0.5], ValueError, ">= 0"),
        ([("a", ChannelMean(0)), ("b", ChannelMean(1))], [0, 0], ValueError, "all 0"),
        ([("a", ChannelMean(0)), ("b", "not a detector")], None, TypeError, "no fit and score_frames"),
        ([ChannelMean(0)], None, TypeError, r"\(name, detector\) tuple"),
    ],
)
def test_bad_configurations_are_rejected_at_fit(data, detectors, weights, error, match):
    with pytest.raises(error, match=match):
        DetectorEnsemble(detectors, weights=weights).fit(data[0].videos)


def test_combine_rejects_missing_members(fitted):
    with pytest.raises(ValueError, match="lacks the detectors"):
        fitted.combine({"coarse": [np.zeros(3)]})


# ------------------------------------------------------------------------------ cross-validated weights
def labelled_channel_videos(prefers_red: list[bool]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Videos whose anomaly raises the red channel and lowers green (or the other way round)."""
    labels = np.zeros(20, dtype=np.uint8)
    labels[8:14] = 1
    videos = []
    for red_wins in prefers_red:
        frames = np.full((20, 8, 8, 3), 128, dtype=np.uint8)
        sign = 1 if red_wins else -1
        swing = sign * 60 * labels.astype(int)
        frames[..., 0] = (128 + swing)[:, None, None]
        frames[..., 1] = (128 - swing)[:, None, None]
        videos.append(frames)
    return videos, [labels.copy() for _ in prefers_red]


@pytest.fixture(scope="module")
def channel_ensemble():
    rng = np.random.default_rng(0)
    train = [rng.integers(100, 156, size=(20, 1, 1, 3)).repeat(8, axis=1).repeat(8, axis=2).astype(np.uint8) for _ in range(2)]
    return DetectorEnsemble([("red", ChannelMean(0)), ("green", ChannelMean(1))]).fit(train)


def test_nested_cv_never_tunes_a_videos_weights_on_its_own_labels(channel_ensemble):
    # Two videos are detected by red only, two by green only. Weights chosen on the three
    # *other* videos always favour the member that fails on the held-out video, so every
    # out-of-fold score is inverted; any use of the held-out video's labels would show.
    prefers_red = [True, True, False, False]
    videos, labels = labelled_channel_videos(prefers_red)
    result = cross_validated_weights(channel_ensemble, videos, labels, grid=[[1, 0], [0, 1]], cv=LeaveOneOut(), inner_cv=3)
    for fold, weights in zip(result.fold_videos, result.fold_weights):
        (video,) = fold
        assert weights == ({"red": 0.0, "green": 1.0} if prefers_red[video] else {"red": 1.0, "green": 0.0})
    assert macro_auc(labels, result.frame_scores) == 0.0


def test_out_of_fold_scores_are_the_ensemble_with_each_folds_weights(fitted, data):
    test = data[1]
    result = cross_validated_weights(fitted, test.videos, test.frame_labels, cv=KFold(3), inner_cv=2)
    assert [len(s) for s in result.frame_scores] == [len(v) for v in test.videos]
    for fold, weights in zip(result.fold_videos, result.fold_weights):
        assert sum(weights.values()) == pytest.approx(1.0)
        members = {name: [result.member_scores[name][i] for i in fold] for name in result.member_scores}
        for index, want in zip(fold, fitted.combine(members, weights=[weights["coarse"], weights["fine"]])):
            np.testing.assert_allclose(result.frame_scores[index], want)


def test_cv_reuses_member_scores_given_instead_of_videos(fitted, data):
    test = data[1]
    members = fitted.member_scores(test.videos)
    from_videos = cross_validated_weights(fitted, test.videos, test.frame_labels, cv=3, inner_cv=2)
    from_scores = cross_validated_weights(fitted, members, test.frame_labels, cv=3, inner_cv=2)
    assert from_scores.fold_weights == from_videos.fold_weights
    for a, b in zip(from_scores.frame_scores, from_videos.frame_scores):
        np.testing.assert_array_equal(a, b)


def test_cv_rejects_bad_labels_and_grids(fitted, data):
    test = data[1]
    with pytest.raises(ValueError, match="labels of video 0"):
        cross_validated_weights(fitted, test.videos, [np.zeros(3)] * 3)
    with pytest.raises(ValueError, match="one weight per detector"):
        cross_validated_weights(fitted, test.videos, test.frame_labels, grid=[[1, 0, 0]])



def test_cv_names_an_inner_fold_without_abnormal_frames(fitted, data):
    test = data[1]
    labels = [np.zeros_like(np.asarray(label)) if index < 2 else label for index, label in enumerate(test.frame_labels)]
    with pytest.raises(ValueError, match=r"only normal frames \(videos \[1\], while choosing weights for videos \[0\]\)"):
        cross_validated_weights(fitted, test.videos, labels, cv=KFold(3), inner_cv=KFold(2))

def test_simplex_grid_starts_with_equal_weights_and_sums_to_one():
    grid = simplex_grid(3, steps=4)
    assert grid[0] == pytest.approx((1 / 3,) * 3)
    assert len(grid) == 1 + 15
    assert all(sum(w) == pytest.approx(1.0) and min(w) >= 0 for w in grid)


def test_the_guide_examples_run_verbatim(capsys):
    blocks = re.findall(r"<!-- ensemble-example -->\n```python\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    assert len(blocks) == 2
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102 - the guide is this repository's own text
    assert len(namespace["result"].fold_weights) == 3
    assert "cross-validated weights" in capsys.readouterr().out


class SeenVideos(BaseDetector):
    """Scores 0 on the videos it was fitted on and 5 on any other: a member that memorises its training set."""

    def __init__(self, contamination: str | float = "auto") -> None:
        self.contamination = contamination

    def _fit(self, X: Any, y: Any = None) -> None:
        self.seen_ = sorted(video.name for video in as_videos(X))

    def _score_frames(self, X: Any) -> list[np.ndarray]:
        return [np.full(len(video), 0.0 if video.name in self.seen_ else 5.0) + np.arange(len(video)) % 2
                for video in as_videos(X)]


def named_videos(n: int) -> list[pyvad.Video]:
    return [pyvad.Video(np.full((6, 8, 8), i, np.uint8), name=f"clip{i}") for i in range(n)]


@pytest.mark.parametrize(("statistics", "expected_mean"), [("training", 0.5), ("cross_fit", 5.5)])
def test_cross_fit_statistics_come_from_videos_the_member_did_not_see(statistics, expected_mean):
    ensemble = DetectorEnsemble([("memory", SeenVideos()), ("other", SeenVideos())], statistics=statistics,
                                n_folds=2).fit(named_videos(4))
    assert ensemble.mean_ == pytest.approx([expected_mean, expected_mean])
    assert ensemble.scale_ == pytest.approx([0.5, 0.5])
    # the final members are fitted on every training video
    assert ensemble.detectors_["memory"].seen_ == ["clip0", "clip1", "clip2", "clip3"]
    assert np.concatenate(ensemble.training_frame_scores_).mean() == pytest.approx(0.0)


def test_default_statistics_are_cross_fitted_when_there_are_enough_videos():
    ensemble = DetectorEnsemble([("memory", SeenVideos())]).fit(named_videos(4))
    assert ensemble.statistics_ == "cross_fit"
    assert ensemble.mean_ == pytest.approx([5.5])


def test_default_statistics_fall_back_to_training_frames_with_a_warning_when_videos_are_too_few():
    with pytest.warns(UserWarning, match=r"1 training video\(s\) cannot be split into n_folds=2") as caught:
        ensemble = DetectorEnsemble([("memory", SeenVideos())]).fit(named_videos(1))
    assert caught[0].filename == __file__  # points at the caller's fit, not inside pyvad
    assert ensemble.statistics_ == "training"
    assert ensemble.mean_ == pytest.approx([0.5])


class NeedsThreeVideos(SeenVideos):
    def _fit(self, X: Any, y: Any = None) -> None:
        if len(as_videos(X)) < 3:
            raise ValueError("too few videos to learn from")
        super()._fit(X, y)


def test_a_member_failing_on_a_cross_fit_fold_is_named_with_the_fold():
    with pytest.raises(ValueError, match="too few videos") as caught:
        DetectorEnsemble([("picky", NeedsThreeVideos())]).fit(named_videos(4))
    assert "member 'picky' on the cross-fit fold of training videos ['clip2', 'clip3']" in "".join(caught.value.__notes__)


def test_verbose_prints_one_timed_line_per_member_fit(capsys):
    DetectorEnsemble([("memory", SeenVideos())], verbose=True).fit(named_videos(4))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" fitted")[0] for line in lines] == [
        "[DetectorEnsemble] (fold 1 of 2)", "[DetectorEnsemble] (fold 2 of 2)", "[DetectorEnsemble] (final)"]
    assert all(re.search(r"'memory' on [24] videos, total=\d+\.\ds$", line) for line in lines)
    DetectorEnsemble([("memory", SeenVideos())]).fit(named_videos(4))
    assert capsys.readouterr().out == ""


def test_cross_fit_needs_enough_videos():
    with pytest.raises(ValueError, match="n_folds=3 groups, but only 2 videos"):
        DetectorEnsemble([("a", SeenVideos())], statistics="cross_fit", n_folds=3).fit(named_videos(2))


def test_cross_fit_keeps_frozen_members_and_fits_fresh_clones_on_the_folds():
    videos = named_videos(4)
    frozen = SeenVideos().fit(videos)
    ensemble = DetectorEnsemble([("a", FrozenEstimator(frozen))], statistics="cross_fit", n_folds=2).fit(videos)
    assert ensemble.detectors_["a"].estimator is frozen  # scored with the given fitted model ...
    assert frozen.seen_ == ["clip0", "clip1", "clip2", "clip3"]  # ... which the fold fits left untouched
    assert ensemble.mean_ == pytest.approx([5.5])  # statistics from videos the fold clones did not see


def test_make_ensemble_builds_the_paper_detectors_by_name_with_one_preset_and_seed():
    ensemble = make_ensemble("avenue", random_state=7, statistics="training", weights=[2, 1, 1])
    assert [(name, type(member).__name__, member.preset, member.random_state) for name, member in ensemble.detectors] == [
        ("cafe", "CAFEDetector", "avenue", 7), ("pkgnet", "PKGNetDetector", "avenue", 7),
        ("maskedae", "MaskedAEDetector", "avenue", 7)]
    assert (ensemble.statistics, ensemble.weights) == ("training", [2, 1, 1])
    assert ensemble.set_params(pkgnet__epochs=3).detectors[1][1].epochs == 3


def test_make_ensemble_passes_preset_and_seed_only_to_members_that_take_them(data):
    train, test = data
    ensemble = make_ensemble("fast", methods=["baseline"], random_state=0).fit(train.videos)
    reference = MotionBaselineDetector().fit(train.videos)
    np.testing.assert_allclose(ensemble.member_scores(test.videos)["baseline"], reference.score_frames(test.videos))


@pytest.mark.parametrize("methods, message", [("cafe", "non-empty sequence of method names"),
                                              ([], "non-empty sequence"), (["nope"], "unknown method 'nope'")])
def test_make_ensemble_refuses_bad_method_lists(methods, message):
    with pytest.raises(ValueError, match=message):
        make_ensemble(methods=methods)


def test_cross_fit_members_that_checkpoint_resume_only_their_own_fold(tmp_path):
    from pyvad import PKGNetDetector

    train, _ = make_train_test(n_train=4, n_test=1, n_frames=16, random_state=0)
    member = PKGNetDetector("fast", teacher="resnet18", teacher_weights="random", width=8, epochs=1, device="cpu",
                            random_state=0, checkpoint_dir=tmp_path, resume=True)
    ensemble = DetectorEnsemble([("pkgnet", member)], statistics="cross_fit").fit(train.videos)
    assert len(list(tmp_path.glob("pkgnet-*-last.pt"))) == 3  # two folds and the final fit, one file each
    # The final member equals a fit without checkpoints: it did not resume a fold's finished fit.
    plain = clone(member).set_params(checkpoint_dir=None, resume=False).fit(train.videos)
    np.testing.assert_allclose(ensemble.member_scores(train.videos[:1])["pkgnet"][0], plain.score_frames(train.videos[:1])[0])
    # Fitting again resumes every finished fit from its own file: nothing is trained (or written) twice.
    written = {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    again = clone(ensemble).fit(train.videos)
    assert {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == written
    np.testing.assert_allclose(again.mean_, ensemble.mean_)
