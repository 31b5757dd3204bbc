"""Property-based specification of metrics, fusion, smoothing and EventSet bookkeeping.

Hypothesis draws many small inputs; each property must hold for all of them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pyvad.events import EventSet
from pyvad.fusion import ScoreFusion, ScoreTable
from pyvad.metrics import eer, macro_auc, micro_auc
from pyvad.smoothing import SMOOTHING_METHODS, smooth_scores

FAST = settings(max_examples=50, deadline=None)

# Integer-valued scores in a moderate range: every transform below maps distinct values to
# distinct floats, so a transform never creates or removes ties.
_SCORE = st.integers(min_value=-1000, max_value=1000)
MONOTONE_TRANSFORMS = {
    "affine": lambda x: 3.0 * x + 7.0,
    "cube": lambda x: x**3,
    "exp": lambda x: np.exp(x / 1000.0),
    "arctan": lambda x: np.arctan(x / 100.0),
}


@st.composite
def labelled_videos(draw, min_videos: int = 1, max_videos: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-video 0/1 labels and integer-valued float scores of the same lengths."""
    n_videos = draw(st.integers(min_videos, max_videos))
    labels, scores = [], []
    for _ in range(n_videos):
        n_frames = draw(st.integers(2, 25))
        labels.append(np.array(draw(st.lists(st.integers(0, 1), min_size=n_frames, max_size=n_frames)), np.uint8))
        scores.append(np.array(draw(st.lists(_SCORE, min_size=n_frames, max_size=n_frames)), np.float64))
    return labels, scores


def _has_both_classes(labels: list[np.ndarray]) -> bool:
    flat = np.concatenate(labels)
    return 0 < flat.sum() < len(flat)


def _some_video_has_both_classes(labels: list[np.ndarray]) -> bool:
    return any(0 < y.sum() < len(y) for y in labels)


@pytest.mark.parametrize("transform", sorted(MONOTONE_TRANSFORMS))
@FAST
@given(data=labelled_videos())
def test_micro_auc_is_invariant_to_strictly_increasing_transforms(transform, data) -> None:
    labels, scores = data
    assume(_has_both_classes(labels))
    transformed = [MONOTONE_TRANSFORMS[transform](s) for s in scores]
    assert micro_auc(labels, transformed) == pytest.approx(micro_auc(labels, scores), abs=1e-12)


@pytest.mark.parametrize("transform", sorted(MONOTONE_TRANSFORMS))
@FAST
@given(data=labelled_videos())
def test_macro_auc_is_invariant_to_strictly_increasing_transforms(transform, data) -> None:
    labels, scores = data
    assume(_some_video_has_both_classes(labels))
    transformed = [MONOTONE_TRANSFORMS[transform](s) for s in scores]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # single-class videos are skipped with a warning
        assert macro_auc(labels, transformed) == pytest.approx(macro_auc(labels, scores), abs=1e-12)


@FAST
@given(data=labelled_videos())
def test_reversing_the_scores_mirrors_the_micro_auc(data) -> None:
    labels, scores = data
    assume(_has_both_classes(labels))
    assert micro_auc(labels, [-s for s in scores]) == pytest.approx(1.0 - micro_auc(labels, scores), abs=1e-12)


@FAST
@given(data=labelled_videos())
def test_auc_and_eer_lie_in_the_unit_interval(data) -> None:
    labels, scores = data
    assume(_has_both_classes(labels))
    assert 0.0 <= micro_auc(labels, scores) <= 1.0
    assert 0.0 <= eer(labels, scores) <= 1.0
    if _some_video_has_both_classes(labels):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert 0.0 <= macro_auc(labels, scores) <= 1.0


_FINITE = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def per_video_scores(draw, min_videos: int = 1) -> list[np.ndarray]:
    n_videos = draw(st.integers(min_videos, 3))
    return [np.array(draw(st.lists(_FINITE, min_size=1, max_size=20))) for _ in range(n_videos)]


@FAST
@given(train=per_video_scores(), test=per_video_scores())
def test_fusion_of_one_component_is_its_training_z_score(train, test) -> None:
    fusion = ScoreFusion(smoothing=None, aggregation="max").fit(ScoreTable.from_frame_scores({"err": train}))
    flat = np.concatenate(train)
    scale = flat.std() if flat.std() > 10 * np.finfo(np.float64).eps * abs(flat.mean()) else 1.0  # else: constant
    fused = fusion.score_frames(ScoreTable.from_frame_scores({"err": test}))
    assert [len(f) for f in fused] == [len(t) for t in test]
    for got, raw in zip(fused, test):
        np.testing.assert_allclose(got, (raw - flat.mean()) / scale, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", [*SMOOTHING_METHODS, None])
@FAST
@given(scores=per_video_scores(), window=st.integers(1, 15))
def test_smoothing_keeps_every_video_length(method, scores, window) -> None:
    smoothed = smooth_scores(scores, method, window)
    assert [s.shape for s in smoothed] == [s.shape for s in scores]


@pytest.mark.parametrize("method", SMOOTHING_METHODS)
@FAST
@given(value=_FINITE, n_frames=st.integers(1, 30), window=st.integers(1, 15))
def test_smoothing_leaves_a_constant_sequence_unchanged(method, value, n_frames, window) -> None:
    smoothed = smooth_scores(np.full(n_frames, value), method, window)
    np.testing.assert_allclose(smoothed, value, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("method", SMOOTHING_METHODS)
@FAST
@given(scores=per_video_scores(), window=st.integers(1, 15))
def test_smoothed_scores_stay_within_the_range_of_their_own_video(method, scores, window) -> None:
    for raw, smoothed in zip(scores, smooth_scores(scores, method, window)):
        assert raw.min() - 1e-9 <= smoothed.min() and smoothed.max() <= raw.max() + 1e-9


# ---------------------------------------------------------------------------------------
# EventSet bookkeeping
# ---------------------------------------------------------------------------------------
@st.composite
def event_sets(draw) -> EventSet:
    """A small EventSet: 1-3 videos, 0-6 events, 2x2 single-frame patches."""
    n_frames = draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))
    n_events = draw(st.integers(0, 6))
    video_ids = [draw(st.integers(0, len(n_frames) - 1)) for _ in range(n_events)]
    frames = [draw(st.integers(0, n_frames[v] - 1)) for v in video_ids]
    patches = np.array(
        draw(st.lists(st.integers(0, 255), min_size=4 * n_events, max_size=4 * n_events)), np.uint8
    ).reshape(n_events, 1, 2, 2, 1)
    return EventSet(
        video_ids=np.array(video_ids, np.int64),
        frame_indices=np.array(frames, np.int64),
        boxes=np.tile(np.array([0, 0, 2, 2], np.float32), (n_events, 1)),
        offsets=(0,),
        patches=patches,
        n_frames=n_frames,
        video_names=[f"v{draw(st.integers(0, 99))}_{i}" for i in range(len(n_frames))],
        frame_sizes=[(4, 4)] * len(n_frames),
    )


@FAST
@given(parts=st.lists(event_sets(), min_size=1, max_size=3))
def test_concat_keeps_every_event_and_shifts_video_ids(parts) -> None:
    joined = EventSet.concat(parts)
    assert len(joined) == sum(len(p) for p in parts)
    assert joined.n_videos == sum(p.n_videos for p in parts)
    assert joined.video_names == sum((p.video_names for p in parts), ())
    first_video = 0
    for part in parts:
        for v in range(part.n_videos):
            mine, theirs = part.for_video(v), joined.for_video(first_video + v)
            np.testing.assert_array_equal(theirs.frame_indices, mine.frame_indices)
            np.testing.assert_array_equal(theirs.patches, mine.patches)
            assert joined.n_frames[first_video + v] == part.n_frames[v]
        first_video += part.n_videos


@FAST
@given(events=event_sets(), data=st.data())
def test_indexing_selects_events_but_keeps_all_videos(events, data) -> None:
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events))), bool)
    subset = events[mask]
    assert len(subset) == int(mask.sum())
    np.testing.assert_array_equal(subset.frame_indices, events.frame_indices[mask])
    np.testing.assert_array_equal(subset.n_frames, events.n_frames)
    assert subset.video_names == events.video_names
    np.testing.assert_array_equal(events[np.flatnonzero(mask)].patches, subset.patches)


@FAST
@given(events=event_sets())
def test_events_per_frame_counts_every_event_once(events) -> None:
    counts = events.events_per_frame()
    assert [len(c) for c in counts] == list(events.n_frames)
    assert sum(int(c.sum()) for c in counts) == len(events)
