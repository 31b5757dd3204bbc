"""Specification of EventSet and patch/cube cropping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyvad.events import EventSet, crop_patch, crop_patches, neighbour_indices


def make_events(n: int = 5, offsets: tuple[int, ...] = (-1, 0, 1), with_flow: bool = False) -> EventSet:
    rng = np.random.default_rng(0)
    k = len(offsets)
    return EventSet(
        video_ids=np.array([0, 0, 1, 1, 1][:n]),
        frame_indices=np.array([0, 3, 1, 1, 7][:n]),
        boxes=rng.uniform(0, 20, (n, 4)).astype(np.float32),
        offsets=offsets,
        patches=rng.integers(0, 256, (n, k, 8, 8, 3), dtype=np.uint8),
        flow=rng.normal(size=(n, k, 8, 8, 2)).astype(np.float16) if with_flow else None,
        n_frames=[4, 8],
        video_names=["a", "b"],
        frame_sizes=[(32, 32), (32, 48)],
    )


def test_out_of_video_neighbours_are_replaced_by_the_nearest_frame():
    cube = neighbour_indices([0, 5, 9], (-1, 0, 1), n_frames=10)
    np.testing.assert_array_equal(cube, [[0, 0, 1], [4, 5, 6], [8, 9, 9]])
    np.testing.assert_array_equal(neighbour_indices(1, (-4, -3, -2, -1, 0), 10), [[0, 0, 0, 0, 1]])


def test_crop_rounds_the_box_up_end_exclusive_and_resizes_without_keeping_aspect():
    image = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30, 1)
    patch = crop_patch(image, np.array([1.2, 2.5, 5.0, 4.0]), (2, 3))
    assert patch.shape == (2, 3, 1)
    expected = image[3:4, 2:5].repeat(2, axis=0)  # rows ceil(2.5)=3..4, columns ceil(1.2)=2..5, 1 row stretched to 2
    np.testing.assert_array_equal(patch, expected)


def test_a_degenerate_or_outside_box_still_gives_a_patch():
    image = np.full((10, 10, 3), 7, np.uint8)
    patches = crop_patches(image, np.array([[4, 4, 4, 4], [-5, -5, -1, -1], [20, 20, 30, 30]], np.float32), 4)
    assert patches.shape == (3, 4, 4, 3)
    assert (patches == 7).all()


def test_flow_crops_keep_their_values_in_original_pixels():
    flow = np.zeros((16, 16, 2), np.float32)
    flow[..., 0] = 3.0
    patch = crop_patch(flow, np.array([0, 0, 4, 4]), 32)
    assert patch.dtype == np.float32
    np.testing.assert_allclose(patch[..., 0], 3.0)


def test_empty_event_set_has_the_right_shapes_and_converts_to_torch():
    events = EventSet.empty(n_frames=[10, 3], video_names=["a", "b"], frame_sizes=[(64, 64)] * 2,
                            offsets=(-1, 0, 1), patch_size=16, with_flow=True)
    assert len(events) == 0
    assert events.patches.shape == (0, 3, 16, 16, 3)
    assert events.flow.shape == (0, 3, 16, 16, 2)
    batch = events.to_torch()
    assert batch["patches"].shape == (0, 3, 3, 16, 16)
    assert list(events.to_torch(batch_size=4)) == []
    assert [c.tolist() for c in events.events_per_frame()] == [[0] * 10, [0] * 3]


def test_mask_subset_keeps_the_video_bookkeeping():
    events = make_events()
    subset = events[events.video_ids == 1]
    assert len(subset) == 3
    assert subset.video_names == ("a", "b")
    np.testing.assert_array_equal(subset.n_frames, [4, 8])
    np.testing.assert_array_equal(subset.patches, events.patches[2:])


def test_an_empty_index_list_selects_no_event_and_a_lone_boolean_is_refused():
    events = make_events()
    assert len(events[[]]) == 0 and events[[]].video_names == ("a", "b")
    assert events.to_torch(indices=[])["patches"].shape[0] == 0
    with pytest.raises(TypeError, match="single boolean"):
        events[True]


def test_concat_appends_videos_and_shifts_their_ids():
    events = make_events()
    joined = EventSet.concat([events, events[:2]])
    assert joined.video_names == ("a", "b", "a", "b")
    np.testing.assert_array_equal(joined.video_ids, [0, 0, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(joined.n_frames, [4, 8, 4, 8])


def test_concat_of_one_event_set_keeps_its_patches_without_a_copy():
    events = make_events(with_flow=True)
    joined = EventSet.concat([events])
    assert joined.patches is events.patches and joined.flow is events.flow
    np.testing.assert_array_equal(joined.video_ids, events.video_ids)
    two = EventSet.concat([events, events])
    assert not np.shares_memory(two.patches, events.patches) and len(two) == 2 * len(events)


def test_concat_refuses_event_sets_with_other_offsets():
    with pytest.raises(ValueError, match="offsets"):
        EventSet.concat([make_events(offsets=(0, 1)), make_events(offsets=(-1, 0, 1))])


def test_to_torch_gives_channels_first_floats_in_unit_range_in_batches():
    events = make_events(with_flow=True)
    whole = events.to_torch()
    assert whole["patches"].shape == (5, 3, 3, 8, 8) and whole["patches"].dtype == torch.float32
    assert 0.0 <= whole["patches"].min() and whole["patches"].max() <= 1.0
    assert whole["flow"].shape == (5, 3, 2, 8, 8)
    expected = torch.from_numpy(events.patches[3, 1, 2, 5].astype(np.float32) / 255)  # event 3, offset 0, row 2, col 5
    torch.testing.assert_close(whole["patches"][3, 1, :, 2, 5], expected)
    batches = list(events.to_torch(np.array([4, 1, 2]), batch_size=2))
    assert [b["index"].tolist() for b in batches] == [[4, 1], [2]]


def test_inconsistent_arrays_are_rejected_with_the_field_name():
    good = make_events()
    with pytest.raises(ValueError, match="boxes"):
        EventSet(good.video_ids, good.frame_indices, good.boxes[:2], good.offsets, good.patches,
                 good.n_frames, good.video_names, good.frame_sizes)
    with pytest.raises(ValueError, match="frame_indices"):
        EventSet(good.video_ids, good.frame_indices + 10, good.boxes, good.offsets, good.patches,
                 good.n_frames, good.video_names, good.frame_sizes)


def test_events_per_frame_counts_every_frame_of_every_video():
    counts = make_events().events_per_frame()
    assert counts[0].tolist() == [1, 0, 0, 1]
    assert counts[1].tolist() == [0, 2, 0, 0, 0, 0, 0, 1]


def test_fingerprint_is_equal_for_equal_events_and_changes_with_any_field(monkeypatch):
    events = make_events()
    assert events.fingerprint() == make_events().fingerprint() == events[np.arange(5)].fingerprint()
    changed_pixel = make_events()
    changed_pixel.patches[4, 2, 7, 7, 0] ^= 1
    renamed = make_events()
    renamed.video_names = ("a", "c")
    variants = [events[:4], changed_pixel, renamed, make_events(with_flow=True), make_events(offsets=(0, 1, 2))]
    assert len({events.fingerprint(), *(variant.fingerprint() for variant in variants)}) == 1 + len(variants)
    # Large arrays are sampled by rows, so the hash stays cheap: a change in a sampled row still shows.
    monkeypatch.setattr("pyvad.events._FINGERPRINT_WHOLE_BYTES", 0)
    sampled = make_events()
    sampled.patches[-1, 0, 0, 0, 0] ^= 1
    assert sampled.fingerprint() != make_events().fingerprint()
    # ... but the bookkeeping is hashed whole however large: here a box of a row the sample skips
    def many(shift: float) -> EventSet:
        n = 3000
        boxes = np.tile(np.array([[0, 0, 4, 4]], np.float32), (n, 1))
        boxes[1, 0] += shift
        return EventSet(video_ids=np.zeros(n, np.int64), frame_indices=np.arange(n), boxes=boxes, offsets=(0,),
                        patches=np.zeros((n, 1, 2, 2, 1), np.uint8), n_frames=[n], video_names=["a"],
                        frame_sizes=[(8, 8)])

    assert many(1.0).fingerprint() != many(0.0).fingerprint()
