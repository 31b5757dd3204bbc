"""Specification of the dataset loaders in :mod:`pyvad.datasets`."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from pyvad.datasets import DATASET_NAMES, VideoDataset, load_dataset, load_vec_boxes
from pyvad.exceptions import DatasetNotFoundError, InvalidVideoError
from pyvad.video import Video

UCSD_PAGE = "http://www.svcl.ucsd.edu/projects/anomaly/dataset.htm"
SHANGHAITECH_PAGE = "https://svip-lab.github.io/dataset/campus_dataset.html"
UBNORMAL_PAGE = "https://github.com/lilygeorgescu/UBnormal"

# --------------------------------------------------------------------- builders


def write_frames(folder: Path, n: int, ext: str = ".jpg", *, start: int = 0,
                 abnormal: tuple[int, ...] = ()) -> Path:
    """``n`` 8x8 images ``folder/NNN<ext>``; frames listed in ``abnormal`` are white."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        value = 255 if i in abnormal else 0
        cv2.imwrite(str(folder / f"{i + start:03d}{ext}"), np.full((8, 8), value, np.uint8))
    return folder


def write_video(path: Path, n: int) -> Path:
    """A tiny ``n``-frame 16x16 video file (MJPG for .avi, mp4v for .mp4)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 10, (16, 16))
    for i in range(n):
        writer.write(np.full((16, 16, 3), 10 * i, np.uint8))
    writer.release()
    return path


def write_gt_mat(path: Path, clips: list[list[list[int]]]) -> None:
    """A MATLAB cell ``gt``: per clip a 2 x k array of 1-based [first; last] rows."""
    gt = np.empty((1, len(clips)), dtype=object)
    for i, rows in enumerate(clips):
        gt[0, i] = np.array(rows, dtype=np.float64).reshape(2, -1)
    scipy.io.savemat(str(path), {"gt": gt})


@pytest.fixture
def ped2_root(tmp_path: Path) -> Path:
    """Frame-folder Ped2: train 3 + 4 frames, test 5 + 6 frames, masks, ped2.mat."""
    write_frames(tmp_path / "training/frames/01", 3)
    write_frames(tmp_path / "training/frames/02", 4)
    write_frames(tmp_path / "testing/frames/01", 5)
    write_frames(tmp_path / "testing/frames/02", 6)
    write_frames(tmp_path / "testing/masks/01", 5, ".png", abnormal=(1, 2))
    write_frames(tmp_path / "testing/masks/02", 6, ".png", abnormal=(0, 1, 4, 5))
    # clip 1: frames 2..3 (1-based); clip 2: two intervals, 1..2 and 5..6.
    write_gt_mat(tmp_path / "ped2.mat", [[[2], [3]], [[1, 5], [2, 6]]])
    return tmp_path


@pytest.fixture
def ucsd_root(tmp_path: Path) -> Path:
    """Original UCSD Ped2 archive: 2 train, 2 test clips (.tif), _gt masks, UCSDped2.m."""
    base = tmp_path / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2"
    write_frames(base / "Train/Train001", 3, ".tif", start=1)
    write_frames(base / "Train/Train002", 2, ".tif", start=1)
    write_frames(base / "Test/Test001", 4, ".tif", start=1)
    write_frames(base / "Test/Test002", 5, ".tif", start=1)
    write_frames(base / "Test/Test001_gt", 4, ".bmp", start=1, abnormal=(2, 3))
    write_frames(base / "Test/Test002_gt", 5, ".bmp", start=1, abnormal=(0,))
    (base / "Test/UCSDped2.m").write_text(
        "TestDataset = struct;\n"
        "TestDataset.gt_frame{1} = [3:4];\n"
        "TestDataset.gt_frame{2} = [1:1, 4];\n"
    )
    return tmp_path


# ------------------------------------------------------------- VideoDataset


def test_video_dataset_counts_videos_and_frames_and_flattens_labels() -> None:
    videos = [Video(np.zeros((n, 8, 8), np.uint8), name=f"v{n}") for n in (2, 3)]
    labels = [np.array([0, 1], np.uint8), np.array([1, 0, 0], np.uint8)]
    ds = VideoDataset("toy", "test", videos, ["a", "b"], labels)
    assert len(ds) == 2
    assert ds.n_frames == 5
    assert ds.frame_labels_flat.tolist() == [0, 1, 1, 0, 0]
    assert ds.frame_labels_flat.dtype == np.uint8


def test_frame_labels_flat_without_labels_raises() -> None:
    ds = VideoDataset("toy", "test", [Video(np.zeros((2, 8, 8), np.uint8))], ["a"])
    with pytest.raises(DatasetNotFoundError, match="no frame labels"):
        ds.frame_labels_flat


def test_video_dataset_rejects_labels_of_wrong_length() -> None:
    video = Video(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(InvalidVideoError, match="video 'a': 2 frame labels for 3 frames"):
        VideoDataset("toy", "test", [video], ["a"], [np.zeros(2, np.uint8)])


# ------------------------------------------------------- frame-folder layout


def test_ped2_frame_folder_layout_counts_labels_and_masks(ped2_root: Path) -> None:
    train, test = load_dataset("ped2", ped2_root)
    assert (train.name, train.split, test.split) == ("ped2", "train", "test")
    assert train.names == ["01", "02"] and test.names == ["01", "02"]
    assert (len(train), train.n_frames, len(test), test.n_frames) == (2, 7, 2, 11)
    assert train.frame_labels_flat.tolist() == [0] * 7
    assert train.masks is None
    assert test.frame_labels[0].tolist() == [0, 1, 1, 0, 0]
    assert test.frame_labels[1].tolist() == [1, 1, 0, 0, 1, 1]
    assert [len(mask) for mask in test.masks] == [5, 6]
    assert test.masks[0][1].max() == 255 and test.masks[0][0].max() == 0


def test_loading_reads_metadata_only(ped2_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: Video, index: object) -> None:
        raise AssertionError("a frame was decoded while loading")

    monkeypatch.setattr(Video, "__getitem__", no_decoding)
    load_dataset("ped2", ped2_root)


def test_clips_are_in_natural_order(ped2_root: Path) -> None:
    write_frames(ped2_root / "training/frames/10", 2)
    train, _ = load_dataset("ped2", ped2_root)
    assert train.names == ["01", "02", "10"]


def test_per_video_npy_labels_are_used(ped2_root: Path) -> None:
    (ped2_root / "ped2.mat").unlink()
    (ped2_root / "testing/labels").mkdir()
    np.save(ped2_root / "testing/labels/01.npy", np.array([1, 0, 0, 0, 1]))
    np.save(ped2_root / "testing/labels/02.npy", np.zeros(6))
    _, test = load_dataset("ped2", ped2_root)
    assert test.frame_labels_flat.tolist() == [1, 0, 0, 0, 1] + [0] * 6


def test_concatenated_mnad_npy_labels_are_split_per_video(ped2_root: Path) -> None:
    (ped2_root / "ped2.mat").unlink()
    flat = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    np.save(ped2_root / "frame_labels_ped2.npy", flat[None, :])
    _, test = load_dataset("ped2", ped2_root)
    assert [labels.tolist() for labels in test.frame_labels] == [flat[:5].tolist(),
                                                                  flat[5:].tolist()]


def test_label_file_shorter_than_video_is_invalid(ped2_root: Path) -> None:
    (ped2_root / "ped2.mat").unlink()
    (ped2_root / "testing/labels").mkdir()
    np.save(ped2_root / "testing/labels/01.npy", np.zeros(4))
    np.save(ped2_root / "testing/labels/02.npy", np.zeros(6))
    with pytest.raises(InvalidVideoError, match="video '01': 4 frame labels for 5 frames"):
        load_dataset("ped2", ped2_root)


def test_mat_interval_beyond_the_video_is_invalid(ped2_root: Path) -> None:
    write_gt_mat(ped2_root / "ped2.mat", [[[2], [9]], [[1], [2]]])
    with pytest.raises(InvalidVideoError, match="'01'.*outside its 5 frames"):
        load_dataset("ped2", ped2_root)


def test_mat_with_fewer_entries_than_clips_is_incomplete(ped2_root: Path) -> None:
    write_gt_mat(ped2_root / "ped2.mat", [[[2], [3]]])
    with pytest.raises(DatasetNotFoundError, match="1 test clips"):
        load_dataset("ped2", ped2_root)


def test_missing_label_file_names_places_looked_and_official_page(ped2_root: Path) -> None:
    (ped2_root / "ped2.mat").unlink()
    with pytest.raises(DatasetNotFoundError, match="ped2.mat") as info:
        load_dataset("ped2", ped2_root)
    assert UCSD_PAGE in str(info.value)


def test_missing_test_split_folder(ped2_root: Path) -> None:
    for clip in (ped2_root / "testing/frames").iterdir():
        for frame in clip.iterdir():
            frame.unlink()
        clip.rmdir()
    (ped2_root / "testing/frames").rmdir()
    with pytest.raises(DatasetNotFoundError, match=r"testing[/\\]frames"):
        load_dataset("ped2", ped2_root)


def test_empty_training_folder_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "training/frames").mkdir(parents=True)
    write_frames(tmp_path / "testing/frames/01", 2)
    with pytest.raises(DatasetNotFoundError, match="at least one clip folder"):
        load_dataset("avenue", tmp_path)


def test_corrupt_label_file_is_reported_by_path(ped2_root: Path) -> None:
    (ped2_root / "ped2.mat").unlink()
    (ped2_root / "testing/labels").mkdir()
    (ped2_root / "testing/labels/01.npy").write_bytes(b"not an array")
    with pytest.raises(InvalidVideoError, match=r"labels[/\\]01.npy"):
        load_dataset("ped2", ped2_root)


def test_missing_root_names_path_and_official_page(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="nowhere") as info:
        load_dataset("avenue", tmp_path / "nowhere")
    assert "cuhk.edu.hk" in str(info.value)


def test_mask_count_must_match_frames(ped2_root: Path) -> None:
    (ped2_root / "testing/masks/02/005.png").unlink()
    with pytest.raises(InvalidVideoError, match="video '02': 5 mask frames for 6 frames"):
        load_dataset("ped2", ped2_root)


def test_mask_folder_missing_for_one_clip(ped2_root: Path) -> None:
    for frame in (ped2_root / "testing/masks/02").iterdir():
        frame.unlink()
    (ped2_root / "testing/masks/02").rmdir()
    with pytest.raises(DatasetNotFoundError, match="pixel masks of test clip '02'"):
        load_dataset("ped2", ped2_root)


def test_avenue_reads_avenue_mat(tmp_path: Path) -> None:
    write_frames(tmp_path / "training/frames/01", 2)
    write_frames(tmp_path / "testing/frames/01", 4)
    write_gt_mat(tmp_path / "avenue.mat", [[[4], [4]]])
    _, test = load_dataset("avenue", tmp_path)
    assert test.frame_labels_flat.tolist() == [0, 0, 0, 1]
    assert test.masks is None


def test_shanghaitech_official_layout(tmp_path: Path) -> None:
    write_video(tmp_path / "training/videos/01_001.avi", 3)
    write_video(tmp_path / "training/videos/01_002.avi", 2)
    write_frames(tmp_path / "testing/frames/01_0014", 4)
    (tmp_path / "testing/test_frame_mask").mkdir()
    (tmp_path / "testing/test_pixel_mask").mkdir()
    np.save(tmp_path / "testing/test_frame_mask/01_0014.npy", np.array([0, 1, 1, 0]))
    pixel = np.zeros((4, 8, 8), np.uint8)
    pixel[1:3, 2:4, 2:4] = 1
    np.save(tmp_path / "testing/test_pixel_mask/01_0014.npy", pixel)
    train, test = load_dataset("shanghaitech", tmp_path)
    assert train.names == ["01_001", "01_002"] and train.n_frames == 5
    assert test.frame_labels_flat.tolist() == [0, 1, 1, 0]
    assert len(test.masks[0]) == 4
    assert test.masks[0][1].max() == 1 and test.masks[0][0].max() == 0


def test_shanghaitech_missing_per_clip_labels_names_the_page(tmp_path: Path) -> None:
    write_frames(tmp_path / "training/frames/01_001", 2)
    write_frames(tmp_path / "testing/frames/01_0014", 2)
    (tmp_path / "testing/test_frame_mask").mkdir()
    with pytest.raises(DatasetNotFoundError, match="01_0014") as info:
        load_dataset("shanghaitech", tmp_path)
    assert SHANGHAITECH_PAGE in str(info.value)


# --------------------------------------------------------------------- UCSD


def test_ucsd_original_layout_reads_m_file_and_masks(ucsd_root: Path) -> None:
    train, test = load_dataset("ucsd_ped2", ucsd_root)
    assert train.names == ["Train001", "Train002"] and train.n_frames == 5
    assert test.names == ["Test001", "Test002"]
    assert test.frame_labels[0].tolist() == [0, 0, 1, 1]
    assert test.frame_labels[1].tolist() == [1, 0, 0, 1, 0]
    assert [len(mask) for mask in test.masks] == [4, 5]


def test_ped2_name_detects_the_ucsd_layout(ucsd_root: Path) -> None:
    _, test = load_dataset("ped2", ucsd_root / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2")
    assert test.n_frames == 9


def test_ucsd_labels_come_from_masks_without_m_file(ucsd_root: Path) -> None:
    (ucsd_root / "UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test/UCSDped2.m").unlink()
    _, test = load_dataset("ucsd_ped2", ucsd_root)
    assert test.frame_labels[0].tolist() == [0, 0, 1, 1]
    assert test.frame_labels[1].tolist() == [1, 0, 0, 0, 0]


def test_ucsd_clip_without_masks_has_none_entry(ucsd_root: Path) -> None:
    gt = ucsd_root / "UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test/Test002_gt"
    for frame in gt.iterdir():
        frame.unlink()
    gt.rmdir()
    _, test = load_dataset("ucsd_ped2", ucsd_root)
    assert test.masks[1] is None and len(test.masks[0]) == 4


def test_ucsd_missing_m_entry_names_the_clip(ucsd_root: Path) -> None:
    m_file = ucsd_root / "UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test/UCSDped2.m"
    m_file.write_text("TestDataset.gt_frame{1} = [3:4];\n")
    with pytest.raises(DatasetNotFoundError, match="gt_frame\\{2\\}.*Test002"):
        load_dataset("ucsd_ped2", ucsd_root)


def test_ucsd_m_labels_follow_the_clip_number_not_the_folder_position(ucsd_root: Path) -> None:
    test_dir = ucsd_root / "UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test"
    (test_dir / "Test002").rename(test_dir / "Test003")  # Test002 absent: Test003 is the second folder
    (test_dir / "Test002_gt").rename(test_dir / "Test003_gt")
    (test_dir / "UCSDped2.m").write_text("TestDataset.gt_frame{1} = [3:4];\nTestDataset.gt_frame{2} = [1:1];\n"
                                         "TestDataset.gt_frame{3} = [5:5];\n")
    _, test = load_dataset("ucsd_ped2", ucsd_root)
    assert test.frame_labels[1].tolist() == [0, 0, 0, 0, 1]


def test_ucsd_ped1_absent_names_the_page(ucsd_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="UCSDped1") as info:
        load_dataset("ucsd_ped1", ucsd_root)
    assert UCSD_PAGE in str(info.value)


# ----------------------------------------------------------------- UBnormal


@pytest.fixture
def ubnormal_root(tmp_path: Path) -> Path:
    """Scene1 with two normal and two abnormal 4-frame videos and their tracks."""
    scene = tmp_path / "Scene1"
    for name in ("normal_scene_1_scenario_1", "normal_scene_1_scenario_2",
                 "abnormal_scene_1_scenario_1", "abnormal_scene_1_scenario_2"):
        write_video(scene / f"{name}.mp4", 4)
    for name, rows in (("abnormal_scene_1_scenario_1", "0,1,2\n"),
                       ("abnormal_scene_1_scenario_2", "0,0,0\n3,3,3\n")):
        annotations = scene / f"{name}_annotations"
        annotations.mkdir()
        (annotations / f"{name}_tracks.txt").write_text(rows)
    return tmp_path


def test_ubnormal_without_split_files_trains_on_normal_tests_on_abnormal(
    ubnormal_root: Path,
) -> None:
    train, test = load_dataset("ubnormal", ubnormal_root)
    assert train.names == ["normal_scene_1_scenario_1", "normal_scene_1_scenario_2"]
    assert test.names == ["abnormal_scene_1_scenario_1", "abnormal_scene_1_scenario_2"]
    assert test.frame_labels[0].tolist() == [0, 1, 1, 0]
    assert test.frame_labels[1].tolist() == [1, 0, 0, 1]


def test_ubnormal_official_split_files(ubnormal_root: Path) -> None:
    scripts = ubnormal_root / "scripts"
    scripts.mkdir()
    lists = {
        "normal_training": "normal_scene_1_scenario_1\n",
        "abnormal_training": "abnormal_scene_1_scenario_2\n",
        "normal_test": "normal_scene_1_scenario_2\n",
        "abnormal_test": "abnormal_scene_1_scenario_1\n",
    }
    for stem, text in lists.items():
        (scripts / f"{stem}_video_names.txt").write_text(text)
    train, test = load_dataset("ubnormal", ubnormal_root)
    assert train.names == ["normal_scene_1_scenario_1"]
    assert test.names == ["abnormal_scene_1_scenario_1", "normal_scene_1_scenario_2"]
    assert test.frame_labels_flat.tolist() == [0, 1, 1, 0, 0, 0, 0, 0]
    train, _ = load_dataset("ubnormal", ubnormal_root, include_abnormal_train=True)
    assert train.frame_labels_flat.tolist() == [1, 0, 0, 1, 0, 0, 0, 0]
    with pytest.raises(DatasetNotFoundError, match="normal_validation_video_names"):
        load_dataset("ubnormal", ubnormal_root, test_split="validation")


def test_ubnormal_missing_tracks_names_file_and_page(ubnormal_root: Path) -> None:
    tracks = ubnormal_root / ("Scene1/abnormal_scene_1_scenario_2_annotations/"
                              "abnormal_scene_1_scenario_2_tracks.txt")
    tracks.unlink()
    with pytest.raises(DatasetNotFoundError, match="tracks.txt") as info:
        load_dataset("ubnormal", ubnormal_root)
    assert UBNORMAL_PAGE in str(info.value)


# ------------------------------------------------------------------- folder


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])  # utf-8-sig: Excel's "CSV UTF-8", with a BOM
def test_generic_folder_with_csv_intervals(tmp_path: Path, encoding: str) -> None:
    write_video(tmp_path / "train/walk.avi", 3)
    write_frames(tmp_path / "train/frames_clip", 2)
    write_video(tmp_path / "test/b.avi", 5)
    write_frames(tmp_path / "test/a", 4)
    (tmp_path / "test_labels.csv").write_text("video,start,end\nb,1,2\nb,4,4\n", encoding=encoding)
    train, test = load_dataset("folder", tmp_path)
    assert train.names == ["frames_clip", "walk"] and train.n_frames == 5
    assert test.names == ["a", "b"]
    assert test.frame_labels[0].tolist() == [0, 0, 0, 0]
    assert test.frame_labels[1].tolist() == [0, 1, 1, 0, 1]


def test_generic_folder_without_csv_has_no_test_labels(tmp_path: Path) -> None:
    write_frames(tmp_path / "train/x", 2)
    write_frames(tmp_path / "test/y", 2)
    _, test = load_dataset("folder", tmp_path)
    assert test.frame_labels is None


def test_generic_folder_csv_naming_an_absent_video(tmp_path: Path) -> None:
    write_frames(tmp_path / "train/x", 2)
    write_frames(tmp_path / "test/y", 2)
    (tmp_path / "test_labels.csv").write_text("video,start,end\nz,0,1\n")
    with pytest.raises(DatasetNotFoundError, match="'z'"):
        load_dataset("folder", tmp_path)


def test_generic_folder_missing_test_folder(tmp_path: Path) -> None:
    write_frames(tmp_path / "train/x", 2)
    with pytest.raises(DatasetNotFoundError, match="'test' folder"):
        load_dataset("folder", tmp_path)


# ---------------------------------------------------------------- arguments


def test_unknown_name_lists_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid names are") as info:
        load_dataset("ped3", tmp_path)
    assert all(name in str(info.value) for name in DATASET_NAMES)


def test_unknown_option_is_rejected(ped2_root: Path) -> None:
    with pytest.raises(TypeError, match="test_split"):
        load_dataset("ped2", ped2_root, test_split="test")


# ----------------------------------------------------------- real Ped2 data

PED2_ROOT = Path(
    os.environ.get("PYVAD_PED2_ROOT", Path(__file__).resolve().parents[2] / "shared/data/ped2")
)


@pytest.mark.skipif(not PED2_ROOT.is_dir(), reason=f"real Ped2 data absent at {PED2_ROOT}")
def test_real_ped2_matches_the_published_counts() -> None:
    train, test = load_dataset("ped2", PED2_ROOT)
    assert (len(train), train.n_frames) == (16, 2550)
    assert (len(test), test.n_frames) == (12, 2010)
    assert int(test.frame_labels_flat.sum()) == 1648
    assert not train.frame_labels_flat.any()
    intervals = scipy.io.loadmat(str(PED2_ROOT / "ped2.mat"))["gt"].ravel()
    for labels, clip in zip(test.frame_labels, intervals):
        first, last = np.asarray(clip).ravel()
        assert np.flatnonzero(labels).tolist() == list(range(first - 1, last))
    assert [len(mask) for mask in test.masks] == [len(video) for video in test.videos]


# ------------------------------------------------------------------- VEC boxes


def write_vec_boxes(root: Path) -> None:
    """boxes_vec/{training,testing}.npz: one box per frame, its x1 = 4 * split + clip index."""
    (root / "boxes_vec").mkdir()
    for split_code, (stem, lengths) in enumerate((("training", (3, 4)), ("testing", (5, 6)))):
        video = np.concatenate([np.full(n, clip) for clip, n in enumerate(lengths)])
        frame = np.concatenate([np.arange(n) for n in lengths])
        x1 = 4.0 * split_code + video
        boxes = np.stack([x1, np.zeros_like(x1), x1 + 2, np.full_like(x1, 2)], axis=1).astype(np.float32)
        np.savez(root / "boxes_vec" / f"{stem}.npz", boxes=boxes, video=video, frame=frame, clips=np.array(["01", "02"]))


def test_vec_boxes_of_both_splits_are_named_like_the_videos(ped2_root: Path) -> None:
    from pyvad.foreground import PrecomputedBoxes

    write_vec_boxes(ped2_root)
    boxes = load_vec_boxes("ped2", ped2_root)
    assert boxes["clips"] == ("ped2/train/01", "ped2/train/02", "ped2/test/01", "ped2/test/02")
    assert len(boxes["boxes"]) == 3 + 4 + 5 + 6
    train, test = load_dataset("ped2", ped2_root)
    extractor = PrecomputedBoxes(boxes, match="name", patch_size=2).fit(train.videos)
    # Clips "01"/"02" exist in both splits: the full video name picks the right split.
    for dataset, split_code in ((train, 0), (test, 1)):
        events = extractor.transform(dataset.videos)
        assert np.array_equal(events.boxes[:, 0], 4 * split_code + events.video_ids)
        assert len(events) == dataset.n_frames


def test_vec_boxes_missing_file_names_the_path(ped2_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="testing.npz"):
        write_vec_boxes(ped2_root)
        (ped2_root / "boxes_vec" / "testing.npz").unlink()
        load_vec_boxes("ped2", ped2_root)
