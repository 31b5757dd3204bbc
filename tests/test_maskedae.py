"""Specification of AED-MAE: WholeFrames, synthetic anomalies and MaskedAEDetector."""

from __future__ import annotations

import copy
import threading
import time
import weakref

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

import pyvad
from pyvad.events import EventSet
from pyvad.exceptions import InvalidVideoError
from pyvad.foreground import FrameEvents, WholeFrames, whole_frames
from pyvad.foreground.whole_frames import _for_each_frame, motion_gradients, resize_frames
from pyvad.fusion import ScoreFusion
from pyvad.methods import get_method, maskedae
from pyvad.methods.maskedae import MaskedAEDetector, _FrameDataset, cell_statistics, frame_table, token_weights
from pyvad.synthetic import make_train_test
from pyvad.synthetic_anomalies import SyntheticAnomalies

TINY = dict(preset="fast", image_size=(16, 24), offsets=(0,), batch_size=16,
            architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2))


@pytest.fixture(scope="module")
def data():
    return make_train_test(n_train=2, n_test=2, n_frames=24, frame_size=(32, 48), random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    return MaskedAEDetector(**TINY, epochs=2, random_state=0).fit(train.videos)


# ----------------------------------------------------------------------------- WholeFrames
def test_whole_frames_gives_one_whole_frame_event_per_frame(data):
    train, _ = data
    events = WholeFrames(image_size=(16, 24), offsets=(-3, 0, 3)).fit_transform(train.videos)
    assert isinstance(events, FrameEvents)
    assert len(events) == 48 and events.patches.shape == (48, 3, 16, 24, 3)
    assert events.motion.shape == (48, 16, 24, 3)
    np.testing.assert_array_equal(events.boxes[0], [0, 0, 48, 32])
    # the neighbour before frame 0 is frame 0 itself; the middle slot is the frame
    np.testing.assert_array_equal(events.patches[0, 0], events.patches[0, 1])
    np.testing.assert_array_equal(events.patches[5, 0], events.patches[2, 1])


@pytest.mark.parametrize("offsets", [(0,), (-3, 0, 3), (-2, -1, 0), (-3, 0, 1)])
def test_frame_stacks_are_the_clipped_neighbours_without_copies_when_evenly_spaced(data, offsets):
    video = data[1].videos[0]
    events = WholeFrames(image_size=(16, 24), offsets=offsets, motion=None).fit_transform([video])
    frames = WholeFrames(image_size=(16, 24), motion=None).fit_transform([video]).patches[:, 0]
    n = len(frames)
    expected = frames[np.clip(np.arange(n)[:, None] + np.array(offsets)[None, :], 0, n - 1)]
    np.testing.assert_array_equal(events.patches, expected)
    evenly_spaced = offsets != (-3, 0, 1)
    # a view over the frames (each stored once) that nothing can write through
    assert (events.patches.base is not None and not events.patches.flags.writeable) == evenly_spaced
    assert np.isfinite(MaskedAEDetector(**{**TINY, "offsets": offsets}, epochs=1, random_state=0)
                       .fit([video]).score_samples([video])).all()


def test_frame_events_keep_motion_when_subset_or_joined(data):
    train, _ = data
    events = WholeFrames(image_size=(16, 24)).fit_transform(train.videos)
    subset = events[events.video_ids == 1]
    assert isinstance(subset, FrameEvents) and subset.motion.shape[0] == 24
    joined = FrameEvents.concat([subset, subset])
    assert joined.n_videos == 4 and joined.motion.shape[0] == 48


def test_motion_gradients_follow_the_paper_and_the_released_code():
    frames = np.zeros((4, 8, 8, 1), np.uint8)
    frames[2, 2:6, 2:6] = 100  # an object appears in frame 2 only
    paper = motion_gradients(frames, "paper")
    released = motion_gradients(frames, "released")
    assert paper[2].max() == 100 and paper[3].max() == 100 and paper[1].max() == 0  # |x_t - x_{t-1}|
    assert released[1].max() == 100 and released[3].max() == 100 and released[2].max() == 0  # |x_{t-1} - x_{t+1}|
    speck = np.zeros((2, 8, 8, 1), np.uint8)
    speck[1, 4, 4] = 255
    assert motion_gradients(speck, "paper").max() == 0  # the 3x3 median filter removes single pixels


@pytest.mark.parametrize("size", [(12, 20), (40, 56)])  # shrinking (area) and enlarging (bilinear)
def test_frames_resized_and_filtered_on_threads_equal_the_serial_result(size):
    import cv2

    frames = np.random.default_rng(0).integers(0, 256, (37, 24, 36, 3), dtype=np.uint8)
    serial = [np.stack([cv2.resize(f, size[::-1], interpolation=cv2.INTER_AREA if size[0] < 24 else cv2.INTER_LINEAR)
                        for f in frames])]
    serial.append(np.stack([cv2.medianBlur(f, 3) for f in frames]))
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(4)  # 37 frames: 4 threads of 9-10 frames
        np.testing.assert_array_equal(resize_frames(frames, size), serial[0])
        medians = motion_gradients(frames, "paper")
    finally:
        cv2.setNumThreads(threads)
    previous = np.concatenate([serial[1][1:2], serial[1][:-1]])
    np.testing.assert_array_equal(medians, np.abs(serial[1].astype(int) - previous).astype(np.uint8))


def test_an_error_in_a_frame_thread_reaches_the_caller():
    import cv2

    def work(index):
        if index == 30:
            raise ValueError("frame 30")

    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(4)
        with pytest.raises(ValueError, match="frame 30"):
            _for_each_frame(40, work)
    finally:
        cv2.setNumThreads(threads)


@pytest.mark.parametrize("offsets", [(0,), (-3, 0, 3), (-3, 0, 1)])
def test_frames_streamed_for_scoring_equal_the_extracted_ones(data, offsets):
    video = data[1].videos[0]
    extractor = WholeFrames(image_size=(16, 24), offsets=offsets, motion=None, chunk_size=5).fit()
    events, reader = extractor._stream(video)
    reader.ready(len(events))
    expected = extractor.transform([video])
    np.testing.assert_array_equal(events.patches, expected.patches)
    np.testing.assert_array_equal(events.frame_indices, expected.frame_indices)
    assert events.video_names == expected.video_names and events.motion is None


def test_streamed_frames_are_usable_before_the_whole_video_is_read(data, monkeypatch):
    video = data[1].videos[0]  # 24 frames, read 8 at a time
    release, resize, chunks = threading.Event(), whole_frames.resize_frames, []

    def slow_after_first_chunk(chunk, size):
        if chunks:
            assert release.wait(10), "the test never released the reader"
        chunks.append(len(chunk))
        return resize(chunk, size)

    monkeypatch.setattr(whole_frames, "resize_frames", slow_after_first_chunk)
    events, reader = WholeFrames(image_size=(16, 24), offsets=(-3, 0, 3), motion=None, chunk_size=8).fit()._stream(video)
    reader.ready(5)  # frames 0-7 hold the stacks of events 0-4 (t + 3 <= 7)
    first = events.patches[:5].copy()
    assert chunks == [8]  # the rest is not read yet
    release.set()
    reader.ready(len(events))
    np.testing.assert_array_equal(first, events.patches[:5])
    assert chunks == [8, 8, 8]


def test_an_error_while_streaming_frames_reaches_the_scorer(data, monkeypatch):
    def broken(chunk, size):
        raise OSError("disk gone")

    monkeypatch.setattr(whole_frames, "resize_frames", broken)
    _, reader = WholeFrames(image_size=(16, 24), motion=None).fit()._stream(data[1].videos[0])
    with pytest.raises(OSError, match="disk gone"):
        reader.ready(1)


def test_a_scorer_that_gives_up_stops_the_reading(fitted, data, monkeypatch):
    chunks, resize = [], whole_frames.resize_frames

    def counted(chunk, size):
        chunks.append(len(chunk))
        time.sleep(0.01)  # a slow decoder
        return resize(chunk, size)

    def failing_network(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(whole_frames, "resize_frames", counted)
    monkeypatch.setattr(maskedae, "score_in_batches", failing_network)
    det = copy.deepcopy(fitted)
    det.extractor_.chunk_size = 1
    with pytest.raises(RuntimeError, match="out of memory"):
        det.score_frames([data[1].videos[0]])
    assert len(chunks) < 24  # of 24 frames
    assert not [t for t in threading.enumerate() if t.name.startswith("pyvad-read")]


# ----------------------------------------------------------------------------- anomalies
def test_synthetic_anomaly_targets_align_with_their_masks():
    rng = np.random.default_rng(3)
    frames = np.full((3, 32, 48, 3), 90, np.uint8)
    pasted, mask = SyntheticAnomalies(sources=("shapes",)).paste(frames, (-3, 0, 3), rng)
    outside = mask == 0
    np.testing.assert_array_equal(pasted[1][outside], frames[1][outside])  # only the mask changed
    assert mask.sum() > 0 and mask.max() == 1


def test_synthetic_anomalies_are_deterministic_by_seed():
    frames = np.zeros((1, 32, 48, 3), np.uint8)
    first = SyntheticAnomalies().paste(frames, (0,), np.random.default_rng(7), donor=frames[0] + 50)
    second = SyntheticAnomalies().paste(frames, (0,), np.random.default_rng(7), donor=frames[0] + 50)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("match_colour", [True, False])
def test_synthetic_anomalies_on_grey_footage_are_grey_when_told(match_colour):
    frames = np.full((3, 32, 48, 3), 90, np.uint8)
    anomalies = SyntheticAnomalies(sources=("shapes", "textures"), match_colour=match_colour)
    chroma = []
    for seed in range(6):
        pasted, mask = anomalies.paste(frames, (-3, 0, 3), np.random.default_rng(seed))
        inside = pasted[1][mask > 0].astype(int)
        chroma.append(np.abs(inside - inside[:, :1]).max())
    assert (max(chroma) == 0) == match_colour


def test_synthetic_anomalies_matching_colour_keep_their_colours_on_colour_footage():
    frames = np.full((3, 32, 48, 3), 90, np.uint8)
    frames[..., 0] = 120  # a colour cast: not grey footage
    anomalies = SyntheticAnomalies(sources=("shapes",), match_colour=True)
    pasted, mask = anomalies.paste(frames, (0, 3, 6), np.random.default_rng(1))
    inside = pasted[0][mask > 0].astype(int)
    assert np.abs(inside - inside[:, :1]).max() > 0


def test_training_samples_with_anomalies_keep_the_clean_target_and_the_mask(data):
    train, _ = data
    events = WholeFrames(image_size=(16, 24)).fit_transform(train.videos)
    torch.manual_seed(0)
    inputs, clean, _, anomaly_map, label = _FrameDataset(events, SyntheticAnomalies(), 1.0)[5]
    assert label == 1.0
    expected = torch.from_numpy(events.patches[5, 0].transpose(2, 0, 1).astype(np.float32)) / 127.5 - 1
    torch.testing.assert_close(clean, expected)
    changed = (inputs != clean).any(dim=0)
    assert changed.any() and not (changed & (anomaly_map[0] == 0)).any()


def test_token_weights_sum_to_one_and_favour_motion_and_anomalies():
    motion = torch.zeros(2, 1, 8, 8)
    motion[0, :, 0:4, 0:4] = 0.5
    anomaly_map = torch.zeros(2, 1, 8, 8)
    anomaly_map[0, :, 4:8, 4:8] = 1.0
    weights = token_weights(motion, anomaly_map, 4)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2))
    assert weights[0].argmax() == 3 and weights[0, 0] > weights[0, 1]
    torch.testing.assert_close(weights[1], torch.full((4,), 0.25))  # no motion: uniform


# ----------------------------------------------------------------------------- detector
def test_registered_for_the_command_line():
    assert get_method("maskedae") is MaskedAEDetector


def test_scores_maps_and_components_have_the_expected_shapes(fitted, data):
    _, test = data
    scores = fitted.score_frames(test.videos)
    assert [s.shape for s in scores] == [(24,), (24,)]
    table = fitted.transform(test.videos)
    assert table.components == ["teacher_error", "ts_gap", "class_prob"] and table.level == "frame"
    maps = fitted.score_maps(test.videos)
    assert [m.shape for m in maps] == [(24, 32, 48), (24, 32, 48)]
    assert fitted.predict(test.videos).shape == (48,)


def test_videos_scored_one_at_a_time_match_their_joint_frame_events(fitted, data):
    _, test = data
    one_by_one = fitted.transform(test.videos)
    events = WholeFrames(image_size=(16, 24), offsets=(0,)).fit_transform(test.videos)
    joint = fitted.transform(events)
    assert one_by_one.video_names == joint.video_names
    np.testing.assert_array_equal(one_by_one.video_ids, joint.video_ids)
    for name in joint.components:
        np.testing.assert_allclose(one_by_one[name], joint[name], rtol=1e-5, atol=1e-5)  # other batches, other rounding
    for video_maps, joint_maps in zip(fitted.score_maps(test.videos), fitted.score_maps(events)):
        np.testing.assert_allclose(video_maps, joint_maps, rtol=1e-4, atol=1e-4)


def test_scoring_is_deterministic(fitted, data):
    _, test = data
    np.testing.assert_array_equal(fitted.score_samples(test.videos), fitted.score_samples(test.videos))


def test_an_injected_anomaly_scores_higher_than_normal_frames(fitted, data):
    train, _ = data
    video = np.array(train.videos[0])
    yy, xx = np.mgrid[0:16, 0:16]
    video[10:14, 8:24, 16:32] = (((yy + xx) % 4 < 2) * 255)[..., None]  # a loud checkerboard
    scores = fitted.transform([video])["teacher_error"]
    assert scores[10:14].min() > np.delete(scores, np.arange(6, 18)).max()
    heat = fitted.score_maps([video])[0][11]
    assert heat[8:24, 16:32].mean() > heat[:, 36:].mean()  # localised where it was pasted


def test_complementary_masks_score_every_token_from_the_pass_that_hides_it(fitted, data):
    _, test = data
    det = copy.deepcopy(fitted)
    det.config_["test_mask"] = "complementary"
    det.test_keep_ = det._test_keep()
    keep, n_tokens = det.test_keep_, det.net_.n_tokens
    assert keep.shape == (2, n_tokens // 2)  # mask_ratio 0.5: two passes, each hiding half
    hidden = [set(range(n_tokens)) - set(row.tolist()) for row in keep]
    assert hidden[0].isdisjoint(hidden[1]) and hidden[0] | hidden[1] == set(range(n_tokens))

    events = det._events(test.videos, training=False)
    patches = torch.from_numpy(np.ascontiguousarray(events.patches[:6]))
    with torch.inference_mode():
        combined = det._scorer(det.net_, events.offsets)(patches)
        passes = [maskedae.MaskedAEScorer(det.net_, row[None], 0, det.components_, True)(patches) for row in keep]
    for index, name in enumerate(det.components_):
        if name == "class_prob":
            expected = (passes[0][index] + passes[1][index]) / 2
        else:
            expected = passes[0][index].flatten(1).clone()
            second = sorted(hidden[1])
            expected[:, second] = passes[1][index].flatten(1)[:, second]
        torch.testing.assert_close(combined[index].reshape(expected.shape), expected)


def test_per_frame_masks_follow_the_frame_not_its_batch(fitted, data):
    _, test = data
    det = copy.deepcopy(fitted)
    det.config_["test_mask"] = "per_frame"
    det.test_keep_ = det._test_keep()
    bank = det.test_keep_
    assert bank.shape == (maskedae._FRAME_MASKS, det.net_.n_tokens // 2)
    events = det._events(test.videos, training=False)
    patches = torch.from_numpy(np.ascontiguousarray(events.patches[:8]))
    scorer = det._scorer(det.net_, events.offsets)
    checksums = patches[:, 0].flatten(1).sum(dim=1, dtype=torch.int64)
    assert len(set((checksums % len(bank)).tolist())) > 1  # frames do not share one mask
    with torch.inference_mode():
        together = scorer(patches)
        for row in (0, 5):
            alone = scorer(patches[row : row + 1])
            own_mask = maskedae.MaskedAEScorer(det.net_, bank[checksums[row] % len(bank)][None], 0, det.components_,
                                               True)(patches[row : row + 1])
            for joint, single, expected in zip(together, alone, own_mask):
                torch.testing.assert_close(joint[row : row + 1], single)
                torch.testing.assert_close(single, expected)
    video = test.videos[0]  # windows of a stream hold the same frames, so the same masks
    streamed = [frame.score for frame in det.score_stream(video, hop=5, smoothing="centred")]
    np.testing.assert_allclose(streamed, det.score_frames([video])[0], rtol=1e-5, atol=1e-6)
    # nothing to choose when nothing is masked
    unmasked = MaskedAEDetector(**TINY, epochs=1, mask_ratio=0.0, test_mask="per_frame", random_state=0)
    assert unmasked.fit(test.videos).test_keep_ is None
    assert np.isfinite(unmasked.score_samples(test.videos)).all()


def test_scoring_batch_follows_the_frame_size_and_the_device(fitted):
    det = copy.deepcopy(fitted)
    # (CPU, GPU) batches: small on the CPU for large frames; on a GPU 128 down to 32
    sizes = {(320, 640): (2, 32), (160, 320): (8, 32), (80, 160): (16, 128), (16, 24): (16, 128), (120, 160): (16, 85)}
    for size, batches in sizes.items():
        det.config_["image_size"] = size
        assert (det.scoring_batch_size("cpu"), det.scoring_batch_size("cuda")) == batches, size  # no GPU needed to ask
    assert det.set_params(inference_batch_size=5).scoring_batch_size("cpu") == 5


def test_save_and_load_give_identical_scores(fitted, data, tmp_path):
    _, test = data
    loaded = pyvad.load(fitted.save(tmp_path / "mae.pyvad"))
    np.testing.assert_allclose(loaded.score_samples(test.videos), fitted.score_samples(test.videos))


def test_stage_two_freezes_everything_but_the_student(data, monkeypatch):
    train, _ = data
    snapshots = {}

    class SpyTrainer(maskedae.Trainer):
        def fit(self, model, loss_fn, train_data, val_data=None, *, name="fit", **options):
            snapshots[f"{name}-before"] = {k: v.clone() for k, v in model.state_dict().items()}
            model = super().fit(model, loss_fn, train_data, val_data, name=name, **options)
            snapshots[f"{name}-after"] = {k: v.clone() for k, v in model.state_dict().items()}
            return model

    monkeypatch.setattr(maskedae, "Trainer", SpyTrainer)
    MaskedAEDetector(**TINY, epochs=1, random_state=1).fit(train.videos[:1])
    before, after = snapshots["student-before"], snapshots["student-after"]
    for key in before:
        same = torch.equal(before[key], after[key])
        assert same != key.startswith("student"), key  # shared weights and BN statistics unchanged
    teacher_changed = [k for k in before if not torch.equal(snapshots["teacher-before"][k], before[k])]
    assert any(k.startswith("encoder") for k in teacher_changed)


def test_reference_mask_scope_hides_only_the_scored_frame_of_a_stack(data, tmp_path):
    train, test = data
    stacked = {**TINY, "offsets": (-1, 0, 1)}
    detector = MaskedAEDetector(**stacked, mask_scope="reference", epochs=1, random_state=0).fit(train.videos)
    assert detector.net_.masked_channels == (3, 6)  # the middle of three RGB frames
    loaded = pyvad.load(detector.save(tmp_path / "reference.pyvad"))
    np.testing.assert_allclose(loaded.score_samples(test.videos), detector.score_samples(test.videos))
    assert MaskedAEDetector(**stacked, epochs=1).fit(train.videos[:1]).net_.masked_channels is None
    single = MaskedAEDetector(**TINY, mask_scope="reference", epochs=1).fit(train.videos[:1])
    assert single.net_.masked_channels is None  # one frame: the same as hiding the whole token


def test_works_as_a_pipeline_step_and_ablations_drop_components(data):
    train, test = data
    vanilla = dict(motion_weights=False, self_distillation=False, synthetic_anomalies=False,
                   anomaly_maps=False, class_head=False)
    pipe = make_pipeline(WholeFrames(image_size=(16, 24)), MaskedAEDetector(**TINY, **vanilla, epochs=1,
                                                                          random_state=0), ScoreFusion())
    pipe.fit(train.videos)
    assert pipe.score_samples(test.videos).shape == (48,)
    detector = pipe[1]
    assert detector.components_ == ["teacher_error"]
    assert detector.net_.out_channels == 3 and not detector.net_.has_student


def test_fit_transform_scores_the_training_videos_once(data, monkeypatch, count_calls):
    train, test = data
    calls = count_calls(WholeFrames, "transform")
    passes = count_calls(MaskedAEDetector, "transform")
    det = MaskedAEDetector(**TINY, epochs=1, random_state=0)
    table = det.fit_transform(train.videos)
    assert len(calls) == 1  # decoded and extracted once
    assert len(passes) == 1  # the table _fit computed for the fusion is returned, not recomputed
    monkeypatch.undo()
    # float32 tolerance: fit scored both videos' frames in shared batches, transform one video at a time
    for component in det.components_:
        np.testing.assert_allclose(table[component], det.transform(train.videos)[component], rtol=1e-4)
    assert [len(s) for s in det.score_frames(test.videos)] == [len(v) for v in test.videos]


@pytest.mark.parametrize("method", ["transform", "score_maps"])
def test_scoring_releases_each_video_before_reading_the_next(fitted, data, monkeypatch, method):
    """Memory follows the longest video: a video's frame stacks are freed before the next is read."""
    _, test = data
    extracted: list[weakref.ref] = []
    check = MaskedAEDetector._checked

    def tracked(self, events, *, training):
        assert all(ref() is None for ref in extracted), "the previous video's frames are still held"
        frames = events.patches
        while frames.base is not None:  # the array the stacks are views of
            frames = frames.base
        extracted.append(weakref.ref(frames))
        return check(self, events, training=training)

    monkeypatch.setattr(MaskedAEDetector, "_checked", tracked)
    getattr(fitted, method)(test.videos)
    assert len(extracted) == len(test.videos) >= 2


def test_events_of_another_size_are_refused(fitted, data):
    _, test = data
    events = WholeFrames(image_size=(8, 12)).fit_transform(test.videos)
    with pytest.raises(InvalidVideoError, match="image_size"):
        fitted.transform(events)


def test_ped2_presets_smooth_over_the_released_kernels_time_span():
    # the released temporal Gaussian (sigma 11 frames, 37 taps) is Avenue's, at 25 frames/s; Ped2 is 10 frames/s
    for name in ("ped2", "fast"):
        assert maskedae.PRESETS[name]["smoothing_sigma"] == pytest.approx(11 * 10 / 25)
        assert maskedae.PRESETS[name]["smoothing_window"] == 15
    assert maskedae.PRESETS["avenue"]["smoothing_sigma"] == 11 and maskedae.PRESETS["avenue"]["smoothing_window"] == 37


def test_fast_preset_sees_motion_through_the_released_stacked_input(data):
    train, _ = data
    assert maskedae.PRESETS["fast"]["offsets"] == (-3, 0, 3) and maskedae.PRESETS["ped2"]["offsets"] == (0,)
    det = MaskedAEDetector(**{**TINY, "offsets": None}, epochs=1, random_state=0).fit(train.videos[:1])
    assert det.net_.patch_embed.in_channels == 9  # frames t-3, t, t+3 of 3 channels


@pytest.mark.parametrize(
    "params, match",
    [(dict(class_head=True, synthetic_anomalies=False), "class_head"),
     (dict(image_size=(18, 24)), "patch_size"),
     (dict(test_mask="complementary", mask_ratio=0.8), "complementary"),
     (dict(architecture=dict(width=3)), "architecture")],
)
def test_inconsistent_settings_are_refused_naming_the_parameter(data, params, match):
    train, _ = data
    with pytest.raises(ValueError, match=match):
        MaskedAEDetector(**{**TINY, **params}).fit(train.videos)


# ----------------------------------------------------------------------------- per-cell normalisation
def _frame_events(n_frames: int) -> EventSet:
    return EventSet(video_ids=np.zeros(n_frames, np.int64), frame_indices=np.arange(n_frames),
                    boxes=np.zeros((n_frames, 4), np.float32), offsets=(0,),
                    patches=np.zeros((n_frames, 1, 2, 2, 1), np.uint8), n_frames=[n_frames], video_names=["v"],
                    frame_sizes=[(4, 6)])


def test_cell_normalisation_lets_an_object_beat_a_cell_that_is_always_high():
    """A fixed test mask leaves a few hidden background cells with a high error in every frame;
    their raw values hide a smaller rise elsewhere, their z-scores do not."""
    rng = np.random.default_rng(0)
    training = rng.normal(0.0, 0.1, (200, 4, 6))
    training[:, 0, 0] += 10.0  # always high, always about the same
    test = rng.normal(0.0, 0.1, (50, 4, 6))
    test[:, 0, 0] += 10.0
    test[30, 2, 3] += 5.0  # an object in frame 30
    statistics = cell_statistics([{"teacher_error": training}])
    assert np.asarray(statistics["teacher_error"][0]).shape == (4, 6)
    kwargs = dict(sigma_spatial=0.0, sigma_temporal=0.0)
    raw = frame_table({"teacher_error": test}, _frame_events(50), **kwargs)["teacher_error"]
    cells = frame_table({"teacher_error": test}, _frame_events(50), **kwargs, cell_statistics=statistics)["teacher_error"]
    assert raw.argmax() != 30 and cells.argmax() == 30
    normalised = frame_table({"teacher_error": training}, _frame_events(200), **kwargs, cell_statistics=statistics)
    assert np.all(normalised["teacher_error"] < 5)  # training cells sit at a few standard deviations at most


def test_cell_statistics_are_those_of_the_training_maps_and_can_be_switched_off(data):
    train, test = data
    det = MaskedAEDetector(**TINY, epochs=1, random_state=0).fit(train.videos)
    statistics = det.cell_statistics_
    assert set(statistics) == {"teacher_error", "ts_gap"}  # maps only, not the class probability
    events = det._events(train.videos, training=False)
    maps = next(det._scored_videos(events, lambda outputs, events: maskedae.video_component_maps(
        outputs, events, **det._sigmas())))
    stacked = np.concatenate([video["teacher_error"] for video in maps])
    np.testing.assert_allclose(statistics["teacher_error"][0], stacked.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(statistics["teacher_error"][1], stacked.std(axis=0), rtol=1e-6)
    raw = MaskedAEDetector(**TINY, epochs=1, normalize_cells=False, random_state=0).fit(train.videos)
    assert raw.cell_statistics_ is None
    trained = det.net_.state_dict()
    assert all(torch.equal(value, trained[key]) for key, value in raw.net_.state_dict().items())  # scoring only
    frames = raw._events(test.videos, training=False)
    expected = [m["teacher_error"].reshape(len(m["teacher_error"]), -1).max(axis=1) for m in next(raw._scored_videos(
        frames, lambda outputs, events: maskedae.video_component_maps(outputs, events, **raw._sigmas())))]
    np.testing.assert_allclose(raw.transform(test.videos)["teacher_error"], np.concatenate(expected), rtol=1e-5)


def test_cells_constant_over_the_training_frames_are_centred_not_divided_by_zero(data):
    train, test = data
    static = np.repeat(train.videos[0][:1], 8, axis=0)  # a static scene: every cell has standard deviation 0
    statistics = cell_statistics([{"teacher_error": np.full((8, 2, 3), 0.1)}])
    assert statistics["teacher_error"][1] == [[1.0] * 3] * 2
    det = MaskedAEDetector(**TINY, epochs=1, random_state=0).fit([static])
    assert np.all(np.isfinite(np.concatenate(det.score_frames(test.videos[:1]))))


def test_fits_with_other_trainer_settings_keep_their_own_checkpoints(data, tmp_path):
    train, _ = data
    resume = {"checkpoint_dir": tmp_path, "resume": True}
    first = MaskedAEDetector(**TINY, epochs=1, random_state=0, trainer_params=resume).fit(train.videos[:1])
    clipped = MaskedAEDetector(**TINY, epochs=1, random_state=0, trainer_params={**resume, "grad_clip": 1e-6})
    clipped.fit(train.videos[:1])
    assert len(list(tmp_path.glob("teacher-*-last.pt"))) == 2  # not the first fit's finished checkpoint
    assert not all(torch.equal(value, clipped.net_.state_dict()[name]) for name, value in first.net_.state_dict().items())


def test_a_random_state_that_is_not_an_integer_is_refused(data):
    train, _ = data
    with pytest.raises(ValueError, match="random_state"):
        MaskedAEDetector(**TINY, epochs=1, random_state=np.random.RandomState(0)).fit(train.videos[:1])
