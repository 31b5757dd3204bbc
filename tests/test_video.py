"""Specification of pyvad.video: lazy Video over arrays, tensors, files and folders."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import pyvad.video as video_module
from pyvad.exceptions import FrameSizeMismatchError, InvalidVideoError, VideoReadError
from pyvad.video import Video, VideoWriteError, VideoWriter, as_videos, write_video

PED2_ROOT = Path(
    os.environ.get("PYVAD_PED2_ROOT", Path(__file__).resolve().parents[2] / "shared/data/ped2")
)


def make_frames(n_frames: int = 12, height: int = 32, width: int = 48) -> np.ndarray:
    """Smooth RGB frames whose mean brightness identifies the frame (about 10 * index)."""
    ramp = np.linspace(0, 40, width, dtype=np.float32)[np.newaxis, :, np.newaxis]
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    for index in range(n_frames):
        frames[index] = np.clip(10 * index + ramp + [0, 20, 40], 0, 255)
    return frames


def write_image_folder(folder: Path, frames: np.ndarray, names: list[str]) -> Path:
    folder.mkdir()
    for frame, name in zip(frames, names):
        cv2.imwrite(str(folder / name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder


@pytest.fixture
def frames() -> np.ndarray:
    return make_frames()


@pytest.fixture
def video_file(tmp_path: Path, frames: np.ndarray) -> Path:
    return write_video(tmp_path / "clip.avi", frames, fps=10)


@pytest.fixture
def frame_folder(tmp_path: Path, frames: np.ndarray) -> Path:
    return write_image_folder(tmp_path / "frames", frames, [f"{i}.png" for i in range(len(frames))])


class CaptureSpy:
    """cv2.VideoCapture stand-in that records every seek and decode."""

    seeks: list[int] = []
    reads = 0
    grabs = 0
    hide_frame_count = False

    def __init__(self, path: str) -> None:
        self._capture = cv2.VideoCapture_real(path)  # type: ignore[attr-defined]

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_POS_FRAMES:
            CaptureSpy.seeks.append(int(value))
        return self._capture.set(prop, value)

    def read(self):
        CaptureSpy.reads += 1
        return self._capture.read()

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FRAME_COUNT and CaptureSpy.hide_frame_count:
            return 0.0
        return self._capture.get(prop)

    def grab(self) -> bool:
        CaptureSpy.grabs += 1
        return self._capture.grab()

    def __getattr__(self, attribute: str):
        return getattr(self._capture, attribute)


@pytest.fixture
def capture_spy(monkeypatch: pytest.MonkeyPatch) -> type[CaptureSpy]:
    monkeypatch.setattr(cv2, "VideoCapture_real", cv2.VideoCapture, raising=False)
    monkeypatch.setattr(video_module.cv2, "VideoCapture", CaptureSpy)
    CaptureSpy.seeks, CaptureSpy.reads, CaptureSpy.grabs = [], 0, 0
    CaptureSpy.hide_frame_count = False
    return CaptureSpy


# --- each source type ------------------------------------------------------------------


def test_array_video_returns_its_frames(frames):
    video = Video(frames, fps=5)
    assert (len(video), video.frame_size, video.n_channels) == (12, (32, 48), 3)
    assert video.shape == (12, 32, 48, 3)
    assert (video.fps, video.name, video.source) == (5.0, "video", None)
    np.testing.assert_array_equal(video.to_array(), frames)
    np.testing.assert_array_equal(video[3], frames[3])


def test_three_dimensional_array_is_one_channel():
    video = Video(np.zeros((4, 8, 8), dtype=np.uint8))
    assert video.shape == (4, 8, 8, 1)
    assert video[0].shape == (8, 8, 1)


def test_float_frames_in_unit_range_are_scaled_to_uint8():
    values = np.linspace(0, 1, 4 * 2 * 2).reshape(4, 2, 2)
    video = Video(values)
    assert video[0].dtype == np.uint8
    np.testing.assert_array_equal(video.to_array()[..., 0], np.rint(values * 255))


def test_bool_frames_become_0_and_255():
    mask = np.zeros((2, 3, 3), dtype=bool)
    mask[1, 1, 1] = True
    assert Video(mask)[1][1, 1, 0] == 255 and Video(mask)[1][0, 0, 0] == 0


def test_tensor_video_matches_the_array(frames):
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(Video(torch.from_numpy(frames)).to_array(), frames)
    halves = torch.from_numpy(frames).half() / 255
    np.testing.assert_allclose(Video(halves).to_array(), frames, atol=1)


def test_video_file_round_trip_keeps_metadata_and_frames(video_file, frames):
    video = Video(video_file)
    assert (len(video), video.frame_size, video.fps) == (12, (32, 48), 10.0)
    assert (video.name, video.source) == ("clip", str(video_file))
    decoded = video.to_array().astype(int)
    assert np.abs(decoded - frames).mean() < 4  # mp4v is lossy


def test_mp4_round_trip_is_close(tmp_path, frames):
    video = Video(write_video(tmp_path / "clip.mp4", frames))
    assert video.fps == 25.0 and len(video) == 12
    assert np.abs(video.to_array().astype(int) - frames).mean() < 4


def test_frame_folder_round_trip_is_exact(frame_folder, frames):
    video = Video(frame_folder)
    assert (video.name, video.source, video.fps) == ("frames", str(frame_folder), 25.0)
    np.testing.assert_array_equal(video.to_array(), frames)


def test_frame_folder_is_sorted_naturally_and_ignores_other_files(tmp_path, frames):
    names = ["10.jpg", "2.jpg", "1.jpg"]  # natural order: 1, 2, 10
    folder = write_image_folder(tmp_path / "f", frames[[2, 1, 0]], names)
    (folder / "notes.txt").write_text("not a frame")
    (folder / ".hidden.png").write_bytes(b"")
    means = [frame.mean() for frame in Video(folder)]
    assert len(means) == 3 and means == sorted(means)


def test_video_of_a_video_is_a_renamed_view(frames):
    original = Video(frames)[2:6]
    copy = Video(original, name="renamed", fps=3)
    assert (copy.name, copy.fps, len(copy)) == ("renamed", 3.0, 4)
    assert (original.name, original.fps) == ("video", 25.0)
    np.testing.assert_array_equal(copy.to_array(), frames[2:6])


def test_given_fps_overrides_the_container(video_file):
    assert Video(video_file, fps=30).fps == 30.0


# --- indexing, slicing, iteration -------------------------------------------------------


def test_negative_indices_count_from_the_end(frames):
    video = Video(frames)
    np.testing.assert_array_equal(video[-1], frames[-1])
    np.testing.assert_array_equal(video[-12], frames[0])
    with pytest.raises(IndexError, match="frame index -13 .* 12 frames"):
        video[-13]
    with pytest.raises(IndexError, match="frame index 12"):
        video[12]


def test_slices_compose_like_numpy(frames):
    video = Video(frames)
    for view, expected in [
        (video[2:9][::2], frames[2:9][::2]),
        (video[::-1][1:4], frames[::-1][1:4]),
        (video[-3:], frames[-3:]),
        (video[5:5], frames[5:5]),
    ]:
        assert isinstance(view, Video) and view.shape == expected.shape
        np.testing.assert_array_equal(view.to_array(), expected)


def test_non_integer_index_is_refused(frames):
    with pytest.raises(TypeError, match="int or a slice"):
        Video(frames)[1.5]
    with pytest.raises(ValueError, match="step"):
        Video(frames)[::0]


def test_read_follows_slice_rules(frames):
    video = Video(frames)
    np.testing.assert_array_equal(video.read(3, 7), frames[3:7])
    np.testing.assert_array_equal(video.read(-2), frames[-2:])
    assert video.read(10, 100).shape == (2, 32, 48, 3)


def test_iter_chunks_yields_blocks_covering_the_video(frames):
    chunks = list(Video(frames).iter_chunks(5))
    assert [len(chunk) for chunk in chunks] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate(chunks), frames)


def test_iter_chunks_refuses_a_non_positive_chunk_size(frames):
    with pytest.raises(ValueError, match="chunk_size"):
        next(Video(frames).iter_chunks(0))


def test_random_access_of_a_file_matches_sequential_decoding(video_file):
    video = Video(video_file)
    sequential = list(video)
    for index in [7, 2, 3, 11, 0, -1]:
        np.testing.assert_array_equal(video[index], sequential[index])
    np.testing.assert_array_equal(video[1::3].to_array(), np.stack(sequential[1::3]))


def test_iterating_a_file_decodes_sequentially_without_seeking(video_file, capture_spy):
    video = Video(video_file)
    assert len(list(video)) == 12
    assert capture_spy.seeks == []


def test_slicing_a_file_video_is_lazy_and_reads_only_its_frames(
    video_file, capture_spy, monkeypatch
):
    monkeypatch.setattr(video_module, "_MAX_FORWARD_DECODE", 2)
    video = Video(video_file)
    reads_for_metadata = capture_spy.reads
    view = video[8:11]
    assert capture_spy.reads == reads_for_metadata  # slicing decoded nothing
    assert len(list(view)) == 3
    assert capture_spy.seeks == [8]
    assert capture_spy.reads - reads_for_metadata == 3 and capture_spy.grabs == 0


def test_nearby_frames_are_reached_by_decoding_forward_not_seeking(video_file, capture_spy):
    video = Video(video_file)
    reads_for_metadata = capture_spy.reads
    assert len(list(video[::2])) == 6
    assert capture_spy.seeks == []
    assert (capture_spy.reads - reads_for_metadata, capture_spy.grabs) == (6, 5)


def test_frame_count_is_counted_by_decoding_when_the_container_has_none(video_file, capture_spy):
    capture_spy.hide_frame_count = True
    assert len(Video(video_file)) == 12


def test_slicing_a_folder_video_reads_only_its_frames(frame_folder, monkeypatch):
    video = Video(frame_folder)
    loaded: list[str] = []
    real_imread = cv2.imread

    def recording_imread(path: str, flags: int) -> np.ndarray:
        loaded.append(Path(path).name)
        return real_imread(path, flags)

    monkeypatch.setattr(video_module.cv2, "imread", recording_imread)
    view = video[4:10:2]
    assert loaded == []
    view.to_array()
    assert loaded == ["4.png", "6.png", "8.png"]


def test_grayscale_gives_one_luminance_channel(frames, frame_folder):
    for video in (Video(frames, grayscale=True), Video(frame_folder, grayscale=True)):
        assert video.n_channels == 1 and video.shape == (12, 32, 48, 1)
        expected = cv2.cvtColor(frames[4], cv2.COLOR_RGB2GRAY)
        np.testing.assert_array_equal(video[4][..., 0], expected)


def test_a_video_pickles_after_random_access(video_file):
    video = Video(video_file)[2:]
    first = video[0]  # opens and caches a capture
    restored = pickle.loads(pickle.dumps(video))
    assert (restored.name, len(restored), restored.fps) == ("clip", 10, 10.0)
    np.testing.assert_array_equal(restored[0], first)


def test_array_videos_pickle(frames):
    view = Video(frames, grayscale=True)[::3]
    restored = pickle.loads(pickle.dumps(view))
    np.testing.assert_array_equal(restored.to_array(), view.to_array())


# --- as_videos --------------------------------------------------------------------------


def test_as_videos_wraps_a_single_video(frames, video_file):
    video = Video(frames)
    assert as_videos(video)[0] is video
    assert len(as_videos(frames)) == 1
    assert as_videos(str(video_file))[0].name == "clip"


def test_as_videos_accepts_a_mixed_list(frames, video_file, frame_folder):
    videos = as_videos([frames, video_file, Video(frames, name="mine"), frame_folder])
    assert [v.name for v in videos] == ["video_0", "clip", "mine", "frames"]


@pytest.mark.parametrize("bad", [[], ()])
def test_as_videos_refuses_an_empty_list(bad):
    with pytest.raises(InvalidVideoError, match="empty list"):
        as_videos(bad)


@pytest.mark.parametrize("bad", [3, {"a": 1}, None, [np.zeros((2, 2, 2)), [np.zeros((2, 2, 2))]]])
def test_as_videos_refuses_other_types(bad):
    with pytest.raises(TypeError, match="as_videos"):
        as_videos(bad)


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((0, 4, 4), np.uint8), "empty"),
        (np.zeros((3, 0, 4, 3), np.uint8), "empty"),
        (np.zeros((4, 4), np.uint8), "2 dimensions"),
        (np.zeros((1, 2, 4, 4, 3), np.uint8), "5 dimensions"),
        (np.zeros((2, 4, 4, 4), np.uint8), "4"),
        (np.zeros((2, 4, 4), np.complex64), "complex64"),
        (np.zeros((2, 4, 4), object), "object"),
        (np.full((2, 4, 4), "a"), "<U1"),
        (np.array([np.zeros((4, 4)), np.full((4, 4), np.nan)]), "frame 1 contains NaN"),
        (np.stack([np.zeros((4, 4)), np.zeros((4, 4)), np.full((4, 4), np.inf)]), "frame 2 .* inf"),
        (np.full((2, 4, 4), 1.5), r"\[0, 1\].*frame 0"),
        (np.full((2, 4, 4), -0.1), r"\[0, 1\]"),
        (np.full((2, 4, 4), 300, dtype=np.int64), r"\[0, 255\]"),
    ],
)
def test_invalid_arrays_raise_invalid_video_error(array, message):
    with pytest.raises(InvalidVideoError, match=message) as error:
        Video(array, name="cam7")
    assert "cam7" in str(error.value)


def test_unsupported_source_type_raises_type_error():
    with pytest.raises(TypeError, match="list"):
        Video([np.zeros((4, 4, 3), np.uint8)])


@pytest.mark.parametrize("fps", [0, -5, float("nan"), "fast"])
def test_invalid_fps_is_refused(frames, fps):
    with pytest.raises(InvalidVideoError, match="fps"):
        Video(frames, fps=fps)


def test_missing_path_raises_video_read_error(tmp_path):
    with pytest.raises(VideoReadError, match="does_not_exist.mp4 does not exist"):
        Video(tmp_path / "does_not_exist.mp4")


def test_empty_file_raises_video_read_error(tmp_path):
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(VideoReadError, match=r"empty.mp4 is empty \(0 bytes\)"):
        Video(tmp_path / "empty.mp4")


@pytest.mark.parametrize("content", [b"hello, not a video\n" * 50, bytes(range(256)) * 40])
def test_non_video_file_raises_video_read_error(tmp_path, content):
    path = tmp_path / "fake.avi"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match="fake.avi"):
        Video(path)


def test_truncated_file_raises_naming_file_and_frame(tmp_path, frames):
    path = tmp_path / "full.avi"
    with VideoWriter(path, codec="MJPG") as writer:  # intra-only: the cut file still opens
        for frame in frames:
            writer.write(frame)
    truncated = tmp_path / "cut.avi"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size * 8 // 10])  # keeps the header
    video = Video(truncated)
    assert len(video) == 12  # the count the container announces
    with pytest.raises(VideoReadError, match=r"frame \d+ of .*cut.avi cannot be decoded"):
        video.to_array()


def test_folder_without_images_raises_video_read_error(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no frames here")
    with pytest.raises(VideoReadError, match="holds no frame images"):
        Video(tmp_path / "notes")


def test_folder_with_a_corrupt_image_names_the_file(frame_folder):
    (frame_folder / "5.png").write_bytes(b"not a png")
    with pytest.raises(VideoReadError, match=r"frame 5 \(.*5.png\)"):
        Video(frame_folder).to_array()


def test_folder_with_frames_of_different_sizes_names_the_offending_file(tmp_path, frames):
    folder = write_image_folder(tmp_path / "mixed", frames[:3], ["0.png", "1.png", "2.png"])
    cv2.imwrite(str(folder / "2.png"), np.zeros((10, 10, 3), np.uint8))
    video = Video(folder)
    np.testing.assert_array_equal(video[1], frames[1])
    with pytest.raises(FrameSizeMismatchError, match=r"frame 2 \(.*2.png\) is 10x10"):
        video.to_array()


# --- writing ----------------------------------------------------------------------------


def test_writer_accepts_gray_and_float_frames(tmp_path):
    with VideoWriter(tmp_path / "out") as writer:
        writer.write(np.full((6, 8), 0.5))
        writer.write(np.zeros((6, 8, 1), np.uint8))
    video = Video(tmp_path / "out")
    assert video.shape == (2, 6, 8, 3) and video[0][0, 0].tolist() == [128, 128, 128]


def test_writer_refuses_a_frame_of_another_size(tmp_path):
    with VideoWriter(tmp_path / "out.mp4", frame_size=(16, 16)) as writer:
        with pytest.raises(FrameSizeMismatchError, match=r"frame 0 is 16x32 .* expected 16x16"):
            writer.write(np.zeros((16, 32, 3), np.uint8))


def test_writer_refuses_bad_frames_and_paths(tmp_path):
    with pytest.raises(InvalidVideoError, match="frame_size"):
        VideoWriter(tmp_path / "out.mp4", frame_size=(0, 16))
    with pytest.raises(VideoWriteError, match=".txt"):
        VideoWriter(tmp_path / "out.txt")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "0.png").touch()
    with pytest.raises(VideoWriteError, match="not empty"):
        VideoWriter(tmp_path / "busy")
    writer = VideoWriter(tmp_path / "out.avi")
    with pytest.raises(InvalidVideoError, match="frame 0 contains NaN"):
        writer.write(np.full((4, 4), np.nan))
    writer.close()
    with pytest.raises(VideoWriteError, match="closed"):
        writer.write(np.zeros((4, 4), np.uint8))


def test_write_video_streams_a_video_and_keeps_its_fps(video_file, tmp_path):
    copy = Video(write_video(tmp_path / "copy", Video(video_file)))
    assert len(copy) == 12
    assert Video(write_video(tmp_path / "again.avi", Video(video_file))).fps == 10.0


def test_write_video_refuses_no_frames(tmp_path):
    with pytest.raises(InvalidVideoError, match="no frames"):
        write_video(tmp_path / "none.mp4", [])
    assert not (tmp_path / "none.mp4").exists()


def test_write_video_refuses_one_frame_array_as_video_does(tmp_path):
    frame = make_frames(1)[0]
    for source in (frame, torch.from_numpy(frame)):
        with pytest.raises(InvalidVideoError, match=r"write_video\(.*looks like one \(H, W, C\) frame"):
            write_video(tmp_path / "single", source)
    assert not (tmp_path / "single").exists()
    assert Video(write_video(tmp_path / "one", frame[np.newaxis])).shape == (1, 32, 48, 3)


@pytest.mark.parametrize("name, codec, tolerance", [("exact.avi", "png ", 0), ("clip.mp4", "mp4v", 4),
                                                    ("clip.avi", "MJPG", 4)])
def test_odd_frame_sizes_are_padded_to_even_without_losing_pixels(tmp_path, name, codec, tolerance):
    rows, columns = np.mgrid[0:33, 0:47]
    frame = np.stack([columns * 5, rows * 7, np.full_like(rows, 128)], axis=-1).astype(np.uint8)
    with VideoWriter(tmp_path / name, fps=10, codec=codec) as writer:
        for _ in range(3):
            writer.write(frame)
    assert writer.frame_size == (33, 47)
    back = Video(tmp_path / name).to_array().astype(int)
    assert back.shape == (3, 34, 48, 3)  # one row and one column more, none lost
    assert np.abs(back[:, :33, :47] - frame).mean() <= tolerance
    if tolerance == 0:  # lossless codec: the padding repeats the last row and column
        np.testing.assert_array_equal(back[:, 33, :47], np.broadcast_to(frame[32], (3, 47, 3)))
        np.testing.assert_array_equal(back[:, :33, 47], np.broadcast_to(frame[:, 46], (3, 33, 3)))
        assert (back[:, 33, 47] == frame[32, 46]).all()


# --- real data --------------------------------------------------------------------------


@pytest.mark.skipif(not (PED2_ROOT / "testing/frames/01").is_dir(), reason="Ped2 data absent")
def test_ped2_test_video_01_has_180_frames_of_240_by_360():
    video = Video(PED2_ROOT / "testing/frames/01")
    assert (video.name, len(video), video.frame_size) == ("01", 180, (240, 360))
    assert video.n_channels == 3
    assert video[-1].shape == (240, 360, 3)


def test_a_single_colour_frame_is_not_mistaken_for_a_grey_video():
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    with pytest.raises(InvalidVideoError, match="looks like one"):
        Video(frame)
    assert len(Video(frame[np.newaxis])) == 1
    assert Video(np.zeros((5, 8, 3), dtype=np.uint8)).frame_size == (8, 3)  # a tiny (T, H, W) grey video
