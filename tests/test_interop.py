"""Other tools' boxes and labels in, pyvad's scores out: the readers and writers of pyvad.interop."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from pyvad.cli import main
from pyvad.datasets import load_dataset
from pyvad.exceptions import InvalidVideoError
from pyvad.foreground import PrecomputedBoxes
from pyvad.interop import (
    ScoreCsvWriter,
    read_coco_boxes,
    read_csv_boxes,
    read_interval_labels,
    read_mot_boxes,
    write_scores,
)
from pyvad.methods import MotionBaselineDetector
from pyvad.synthetic import make_train_test
from pyvad.video import DEFAULT_FPS, Video, as_videos, write_video


def _json(path, content):
    path.write_text(json.dumps(content))
    return path


def _rows(table):
    """(clip name, frame, box, score) of every row of a box table, for readable comparisons."""
    return [(str(table["clips"][v]), int(f), b.tolist(), round(float(s), 3))
            for v, f, b, s in zip(table["video"], table["frame"], table["boxes"], table["scores"])]


# ----------------------------------------------------------------------------- COCO


def test_coco_object_places_frames_by_file_order_in_each_video_folder(tmp_path):
    images = [{"id": 10, "file_name": "frames/cam1/010.jpg"}, {"id": 11, "file_name": "frames/cam1/9.jpg"},
              {"id": 20, "file_name": "frames/cam2/000.jpg"}]
    annotations = [{"image_id": 10, "bbox": [1, 2, 3, 4], "score": 0.9, "category_id": 1},
                   {"image_id": 20, "bbox": [0, 0, 5, 5], "score": 0.2, "category_id": 1}]
    table = read_coco_boxes(_json(tmp_path / "d.json", {"images": images, "annotations": annotations}))
    assert _rows(table) == [("cam1", 1, [1, 2, 4, 6], 0.9), ("cam2", 0, [0, 0, 5, 5], 0.2)]
    assert table["clips"].tolist() == ["cam1", "cam2"]


def test_coco_images_may_give_video_and_frame_explicitly(tmp_path):
    content = {"images": [{"id": "a", "video": "v", "frame": 7}],
               "annotations": [{"image_id": "a", "bbox": [0, 0, 2, 2]}]}
    assert _rows(read_coco_boxes(_json(tmp_path / "d.json", content))) == [("v", 7, [0, 0, 2, 2], 1.0)]


def test_coco_results_list_with_image_map_threshold_and_categories(tmp_path):
    results = [{"image_id": 1, "bbox": [0, 0, 4, 4], "score": 0.9, "category_id": 1},
               {"image_id": 1, "bbox": [5, 5, 4, 4], "score": 0.3, "category_id": 1},
               {"image_id": 2, "bbox": [0, 0, 4, 4], "score": 0.95, "category_id": 3}]
    table = read_coco_boxes(_json(tmp_path / "r.json", results), image_map={1: ("cam", 0), 2: ("cam", 1)},
                            score_threshold=0.5, category_ids=[1])
    assert _rows(table) == [("cam", 0, [0, 0, 4, 4], 0.9)]


@pytest.mark.parametrize(
    "content, options, message",
    [
        ("[{", {}, r"d\.json.*line 1"),
        ([{"image_id": 1, "bbox": [0, 0, 1]}], {"image_map": {1: ("v", 0)}}, r"d\.json.*detection 0.*bbox"),
        ([{"image_id": 1, "bbox": [0, 0, 1, 1]}], {}, "pass image_map"),
        ([{"image_id": 9, "bbox": [0, 0, 1, 1]}], {"image_map": {1: ("v", 0)}}, "detection 0: image_id 9"),
        ({"images": [{"id": 1, "file_name": "0.jpg"}], "annotations": []}, {}, r"images\[0\].*does not name its video"),
        ([{"image_id": 1, "bbox": [0, "x", 1, 1]}], {"image_map": {1: ("v", 0)}}, "bbox must be a number"),
    ],
)
def test_malformed_coco_files_are_clear_errors_naming_file_and_entry(tmp_path, content, options, message):
    path = tmp_path / "d.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(InvalidVideoError, match=message):
        read_coco_boxes(path, **options)


# ------------------------------------------------------------------------------ MOT


def test_mot_frames_are_one_based_and_conf_is_the_score(tmp_path):
    (tmp_path / "cam1.txt").write_text("1,1,10,20,30,40,0.8,-1,-1,-1\n\n3,2,0,0,5,5,0.1,-1,-1,-1\n")
    table = read_mot_boxes(tmp_path / "cam1.txt")
    assert _rows(table) == [("cam1", 0, [10, 20, 40, 60], 0.8), ("cam1", 2, [0, 0, 5, 5], 0.1)]
    assert _rows(read_mot_boxes(tmp_path / "cam1.txt", score_threshold=0.5)) == [("cam1", 0, [10, 20, 40, 60], 0.8)]


def test_mot_challenge_layout_names_videos_after_the_sequence(tmp_path):
    for sequence in ("MOT17-02", "MOT17-04"):
        (tmp_path / sequence / "det").mkdir(parents=True)
        (tmp_path / sequence / "det" / "det.txt").write_text("2 -1 1 1 2 2\n")
    table = read_mot_boxes([tmp_path / "MOT17-02" / "det" / "det.txt", tmp_path / "MOT17-04" / "det" / "det.txt"])
    assert table["clips"].tolist() == ["MOT17-02", "MOT17-04"]
    assert _rows(table) == [("MOT17-02", 1, [1, 1, 3, 3], 1.0), ("MOT17-04", 1, [1, 1, 3, 3], 1.0)]


@pytest.mark.parametrize(
    "text, message",
    [("1,1,0,0,5\n", r"v\.txt'?, line 1: expected at least"),
     ("# header\n0,1,0,0,5,5\n", "line 2: frame must be an integer >= 1"),
     ("1,1,0,0,5,5\n2,1,a,0,5,5\n", "line 2: x, y, w, h must be a number")],
)
def test_malformed_mot_lines_name_file_and_line(tmp_path, text, message):
    (tmp_path / "v.txt").write_text(text)
    with pytest.raises(InvalidVideoError, match=message):
        read_mot_boxes(tmp_path / "v.txt")


# ------------------------------------------------------------------------------ CSV


def test_csv_boxes_with_and_without_scores(tmp_path):
    (tmp_path / "b.csv").write_text("frame,video,x1,y1,x2,y2,score\n0,a,1,1,4,4,0.5\n2,b,0,0,3,3,\n")
    assert _rows(read_csv_boxes(tmp_path / "b.csv")) == [("a", 0, [1, 1, 4, 4], 0.5), ("b", 2, [0, 0, 3, 3], 1.0)]
    assert [r[0] for r in _rows(read_csv_boxes(tmp_path / "b.csv", score_threshold=0.8))] == ["b"]


@pytest.mark.parametrize(
    "text, message",
    [("video,frame,x1,y1,x2\n", r"b\.csv.*lacks the column\(s\) \['y2'\]"),
     ("video,frame,x1,y1,x2,y2\na,0,1,1,4,4\na,-1,1,1,4,4\n", "line 3: frame must be an integer >= 0"),
     ("video,frame,x1,y1,x2,y2\na,0,1,1,4,nan\n", "line 2: y2 must be finite"),
     ("video,frame,x1,y1,x2,y2\n,0,1,1,4,4\n", "line 2: the video column is empty")],
)
def test_malformed_csv_rows_name_file_and_line(tmp_path, text, message):
    (tmp_path / "b.csv").write_text(text)
    with pytest.raises(InvalidVideoError, match=message):
        read_csv_boxes(tmp_path / "b.csv")


class FakeFrame:
    """The part of the pandas DataFrame interface the reader uses (pandas is optional)."""

    def __init__(self, columns: dict) -> None:
        self._columns = columns
        self.columns = list(columns)

    def to_dict(self, orient: str) -> list[dict]:
        assert orient == "records"
        return [dict(zip(self._columns, values)) for values in zip(*self._columns.values())]


def test_a_data_frame_like_table_is_read_without_pandas():
    frame = FakeFrame({"video": ["a", "a"], "frame": [0, 1], "x1": [0, 1], "y1": [0, 1], "x2": [2, 3], "y2": [2, "?"]})
    with pytest.raises(InvalidVideoError, match="box table, row 1: y2 must be a number"):
        read_csv_boxes(frame)
    frame._columns["y2"] = [2, 3]
    assert _rows(read_csv_boxes(frame)) == [("a", 0, [0, 0, 2, 2], 1.0), ("a", 1, [1, 1, 3, 3], 1.0)]


def test_a_nan_score_in_a_data_frame_counts_as_a_missing_score():
    frame = FakeFrame({"video": ["a", "a", "a"], "frame": [0, 1, 2], "x1": [0, 1, 2], "y1": [0, 1, 2],
                       "x2": [2, 3, 4], "y2": [2, 3, 4], "score": [0.7, float("nan"), np.float32("nan")]})
    assert [row[3] for row in _rows(read_csv_boxes(frame))] == [0.7, 1.0, 1.0]
    assert [row[1] for row in _rows(read_csv_boxes(frame, score_threshold=0.8))] == [1, 2]


def test_box_files_saved_with_a_byte_order_mark_are_read(tmp_path):
    bom = "\ufeff"  # what Excel's "CSV UTF-8" puts before the header
    (tmp_path / "b.csv").write_text(bom + "video,frame,x1,y1,x2,y2,score\ncam1,4,10,20,40,60,0.7\n")
    assert _rows(read_csv_boxes(tmp_path / "b.csv")) == [("cam1", 4, [10, 20, 40, 60], 0.7)]
    (tmp_path / "cam1.txt").write_text(bom + "1,1,10,20,30,40,0.8\n")
    assert _rows(read_mot_boxes(tmp_path / "cam1.txt")) == [("cam1", 0, [10, 20, 40, 60], 0.8)]
    (tmp_path / "d.json").write_text(bom + json.dumps([{"image_id": 1, "bbox": [0, 0, 2, 2]}]))
    assert _rows(read_coco_boxes(tmp_path / "d.json", image_map={1: ("v", 0)})) == [("v", 0, [0, 0, 2, 2], 1.0)]


def test_a_real_pandas_data_frame_goes_straight_into_precomputed_boxes():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"video": ["v"], "frame": [1], "x1": [0.0], "y1": [0.0], "x2": [8.0], "y2": [8.0]})
    video = Video(np.zeros((3, 16, 16, 3), np.uint8), name="v")
    events = PrecomputedBoxes(frame, patch_size=8).fit().transform([video])
    assert events.frame_indices.tolist() == [1]


# ------------------------------------------------------------------- PrecomputedBoxes


@pytest.fixture
def two_videos():
    rng = np.random.default_rng(0)
    return [Video(rng.integers(0, 255, (4, 24, 32, 3), dtype=np.uint8), name=name) for name in ("cam1", "cam2")]


@pytest.mark.parametrize("suffix", [".json", ".txt", ".csv"])
def test_precomputed_boxes_reads_every_box_format_by_its_suffix(tmp_path, two_videos, suffix):
    path = tmp_path / f"cam2{suffix}"
    if suffix == ".json":
        images = [{"id": i, "video": name, "frame": t} for i, (name, t) in enumerate([("cam1", 0), ("cam2", 3)])]
        _json(path, {"images": images, "annotations": [{"image_id": 1, "bbox": [4, 2, 10, 8]}]})
    elif suffix == ".txt":
        path.write_text("4,7,4,2,10,8,0.9\n")
    else:
        path.write_text("video,frame,x1,y1,x2,y2\ncam2,3,4,2,14,10\n")
    videos = two_videos if suffix == ".json" else two_videos[1:]
    events = PrecomputedBoxes(path, patch_size=8).fit().transform(videos)
    assert events.video_names[events.video_ids[0]] == "cam2"
    assert events.frame_indices.tolist() == [3]
    assert events.boxes.tolist() == [[4, 2, 14, 10]]


def test_a_reader_s_options_go_through_its_mapping(tmp_path, two_videos):
    (tmp_path / "cam1.txt").write_text("1,1,0,0,8,8,0.9\n2,1,0,0,8,8,0.2\n")
    table = read_mot_boxes(tmp_path / "cam1.txt", score_threshold=0.5)
    events = PrecomputedBoxes(table, patch_size=8).fit().transform(two_videos[:1])
    assert events.frame_indices.tolist() == [0]


# --------------------------------------------------------------------------- labels


def test_interval_labels_mark_inclusive_zero_based_frames(tmp_path):
    (tmp_path / "l.csv").write_text("video,start,end\na,1,2\na,4,4\n")
    labels = read_interval_labels(tmp_path / "l.csv", {"a": 6, "b": 2})
    assert {k: v.tolist() for k, v in labels.items()} == {"a": [0, 1, 1, 0, 1, 0], "b": [0, 0]}
    assert labels["a"].dtype == np.uint8


@pytest.mark.parametrize(
    "text, message",
    [("video,start,end\na,1,x\n", r"l\.csv', line 2: start/end must be integers"),
     ("video,first,last\n", "lacks the column"),
     ("video,start,end\nzz,0,0\n", r"names the videos \['zz'\]"),
     ("video,start,end\na,3,9\n", r"\[3, 9\].*outside its 6 frames")],
)
def test_malformed_interval_files_are_clear_errors(tmp_path, text, message):
    (tmp_path / "l.csv").write_text(text)
    with pytest.raises(InvalidVideoError, match=message):
        read_interval_labels(tmp_path / "l.csv", {"a": 6})


def test_interval_labels_agree_with_the_folder_dataset_loader(tmp_path):
    for split in ("train", "test"):
        write_video(tmp_path / split / "clip", np.zeros((5, 16, 16, 3), np.uint8))
    (tmp_path / "test_labels.csv").write_text("video,start,end\nclip,2,3\n")
    _, test = load_dataset("folder", tmp_path)
    labels = read_interval_labels(tmp_path / "test_labels.csv", {"clip": 5})
    np.testing.assert_array_equal(labels["clip"], test.frame_labels[0])


# --------------------------------------------------------------------------- scores


def test_score_csv_of_one_unnamed_video_is_byte_identical_to_pyvad_score(tmp_path):
    train, test = make_train_test(n_train=2, n_test=1, n_frames=20, frame_size=(32, 48), random_state=1)
    det = MotionBaselineDetector(grid=(2, 2))
    model = det.fit(train.videos).save(tmp_path / "m.pyvad")
    folder = write_video(tmp_path / "clip", test.videos[0])
    assert main(["score", str(folder), "--model", str(model), "--output", str(tmp_path / "cli.csv")]) == 0
    ours = write_scores(tmp_path / "ours.csv", det.score_frames([Video(str(folder))]), fps=DEFAULT_FPS)
    assert ours.read_text() == (tmp_path / "cli.csv").read_text()
    cli_json = json.loads((tmp_path / "cli.json").read_text())
    our_json = json.loads(write_scores(tmp_path / "ours.json", det.score_frames([Video(str(folder))]),
                                       threshold=cli_json["threshold"]).read_text())
    assert set(our_json) - {"fps"} <= set(cli_json)
    assert our_json["abnormal_intervals"] == cli_json["abnormal_intervals"]
    np.testing.assert_allclose(our_json["scores"], cli_json["scores"])


def test_named_videos_get_a_video_column_and_a_record_each(tmp_path):
    path = write_scores(tmp_path / "s.csv", [[0.0, 1.0], [2.0]], names=["a", "b"], fps=2)
    with path.open(newline="") as handle:
        assert list(csv.reader(handle)) == [["video", "frame", "time_s", "score"], ["a", "0", "0.0000", "0"],
                                            ["a", "1", "0.5000", "1"], ["b", "0", "0.0000", "2"]]
    summary = json.loads(write_scores(tmp_path / "s.json", [[0.0, 3.0, 3.0, 0.0], [2.0]], names=["a", "b"],
                                      fps=2, threshold=1.0).read_text())
    assert [v["input"] for v in summary["videos"]] == ["a", "b"]
    assert summary["videos"][0]["abnormal_intervals"] == [
        {"start": 1, "end": 2, "start_time": 0.5, "end_time": 1.0, "peak_score": 3.0}]


@pytest.mark.parametrize(
    "args, kwargs, error, message",
    [(("s.csv", [[1.0], [2.0]]), {}, ValueError, "give names"),
     (("s.csv", [[1.0]], ["a", "b"]), {}, ValueError, "1 score arrays but 2 names"),
     (("s.txt", [[1.0]]), {}, ValueError, r"\.csv or \.json"),
     (("s.csv", [[1.0, np.nan]], ["cam"]), {}, InvalidVideoError, "'cam'"),
     (("s.csv", [[1.0]]), {"fps": 0}, ValueError, "fps"),
     (("s.csv", [[1.0]]), {"fps": True}, ValueError, "fps")],
)
def test_bad_score_exports_are_refused(tmp_path, args, kwargs, error, message):
    with pytest.raises(error, match=message):
        write_scores(tmp_path / args[0], *args[1:], **kwargs)


def test_a_numpy_frame_rate_is_accepted(tmp_path):
    path = write_scores(tmp_path / "s.csv", [[0.0, 1.0]], fps=np.float32(2))
    assert path.read_text().splitlines()[2] == "1,0.5000,1"


def test_the_csv_writer_refuses_rows_that_do_not_match_its_columns(tmp_path):
    with ScoreCsvWriter(tmp_path / "s.csv") as writer, pytest.raises(ValueError, match="video"):
        writer.write(0, 0.0, 1.0, video="a")


def test_a_score_csv_that_fails_midway_leaves_the_previous_csv_in_place(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("frame,time_s,score\n0,0.0000,0.5\n")
    with pytest.raises(RuntimeError, match="bad frame"), ScoreCsvWriter(path) as writer:
        writer.write(0, 0.0, 9.0)
        raise RuntimeError("bad frame")
    assert path.read_text() == "frame,time_s,score\n0,0.0000,0.5\n"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_ctrl_c_keeps_the_score_rows_written_so_far(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt), ScoreCsvWriter(path) as writer:
        writer.write(0, 0.0, 1.5)
        writer.write(1, 0.04, 2.5)
        raise KeyboardInterrupt
    assert path.read_text().splitlines() == ["frame,time_s,score", "0,0.0000,1.5", "1,0.0400,2.5"]
    assert list(tmp_path.iterdir()) == [path]


def test_a_non_atomic_score_csv_holds_its_rows_while_it_is_written(tmp_path):
    path = tmp_path / "s.csv"
    with ScoreCsvWriter(path, atomic=False) as writer:
        writer.write(0, 0.0, 1.5)
        writer._handle.flush()  # what a reader following a camera's CSV sees once the buffer is written
        assert path.read_text().splitlines() == ["frame,time_s,score", "0,0.0000,1.5"]
    assert list(tmp_path.iterdir()) == [path]


def test_pyvad_score_failing_on_a_bad_frame_keeps_the_previous_csv(tmp_path):
    train, test = make_train_test(n_train=2, n_test=1, n_frames=40, frame_size=(32, 48), random_state=1)
    model = MotionBaselineDetector(grid=(2, 2)).fit(train.videos).save(tmp_path / "m.pyvad")
    folder = write_video(tmp_path / "clip", test.videos[0])
    previous = tmp_path / "out" / "s.csv"
    previous.parent.mkdir()
    previous.write_text("frame,time_s,score\n0,0.0000,0.5\n")
    (folder / "000035.png").write_bytes(b"not an image")  # the stream fails after scoring some frames
    assert main(["score", str(folder), "--model", str(model), "--output", str(previous), "--hop", "4"]) == 2
    assert previous.read_text() == "frame,time_s,score\n0,0.0000,0.5\n"
    assert list(previous.parent.iterdir()) == [previous]


# --------------------------------------------------------------------------- tensors


def test_torch_tensors_are_videos_scored_like_their_arrays():
    train, test = make_train_test(n_train=2, n_test=1, n_frames=16, frame_size=(32, 48), random_state=2)
    arrays = list(train.videos)
    det = MotionBaselineDetector(grid=(2, 2)).fit([torch.from_numpy(a) for a in arrays])
    reference = MotionBaselineDetector(grid=(2, 2)).fit(arrays)
    frames = test.videos[0]
    as_float = torch.from_numpy(frames).float() / 255.0
    np.testing.assert_allclose(det.score_frames([torch.from_numpy(frames)])[0], reference.score_frames([frames])[0])
    np.testing.assert_allclose(det.score_frames([as_float])[0], reference.score_frames([frames])[0])
    assert as_videos([torch.from_numpy(frames)])[0].frame_size == (32, 48)
