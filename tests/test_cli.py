"""The `pyvad` command: every sub-command end to end, errors as one line."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import pyvad
from pyvad import __version__
from pyvad.base import BaseDetector
from pyvad.cli import build_parser, main
from pyvad.synthetic import make_train_test
from pyvad.training import AMP_CHOICES
from pyvad.video import Video, as_videos, write_video

REPO = Path(__file__).resolve().parents[1]


def _write_frames(folder: Path, video: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(video):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def folder_dataset(tmp_path_factory):
    """A generic `folder` dataset: train/ and test/ frame folders plus test_labels.csv."""
    root = tmp_path_factory.mktemp("dataset")
    train, test = make_train_test(n_train=2, n_test=2, n_frames=32, random_state=3)
    for name, video in zip(train.names, train.videos):
        _write_frames(root / "train" / name, video)
    rows = ["video,start,end"]
    for name, video, labels in zip(test.names, test.videos, test.frame_labels):
        _write_frames(root / "test" / name, video)
        abnormal = np.flatnonzero(labels)
        rows.append(f"{name},{abnormal[0]},{abnormal[-1]}")
    (root / "test_labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_version_flag_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_demo_prints_per_video_auc_and_writes_a_png(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"micro AUC 0\.\d{3}", out)
    assert len(re.findall(r"^test_\d+\s+64\s+\d+\s+[01]\.\d{3}$", out, flags=re.M)) == 4
    png = tmp_path / "demo_scores.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_seed_sets_random_state_and_is_refused_where_there_is_none(tmp_path, folder_dataset, capsys):
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    models = [tmp_path / f"mae_{i}.pyvad" for i in range(2)]
    for model in models:
        assert main(["fit", "--method", "maskedae", "--preset", "fast", "--epochs", "1", "--seed", "3", *train_dirs,
                     "--output", str(model)]) == 0
    first, second = (pyvad.load(m) for m in models)
    assert first.random_state == 3
    for name, value in first.net_.state_dict().items():
        assert torch.equal(value, second.net_.state_dict()[name]), name
    assert main(["fit", "--method", "baseline", "--seed", "3", *train_dirs, "--output", str(tmp_path / "b.pyvad")]) == 2
    assert "--seed" in capsys.readouterr().err


def test_fit_amp_sets_the_precision_and_is_refused_where_there_is_none(tmp_path, folder_dataset, capsys):
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    model = tmp_path / "mae.pyvad"
    assert main(["fit", "--method", "maskedae", "--preset", "fast", "--epochs", "1", "--amp", "bf16", *train_dirs,
                 "--output", str(model)]) == 0
    assert pyvad.load(model).amp == "bf16"
    assert main(["fit", "--method", "baseline", "--amp", "bf16", *train_dirs, "--output", str(tmp_path / "b.pyvad")]) == 2
    assert "--amp" in capsys.readouterr().err


def test_fit_set_passes_any_parameter_as_json_or_text(tmp_path, folder_dataset):
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    model = tmp_path / "mae.pyvad"
    assert main(["fit", "--method", "maskedae", "--preset", "fast", "--epochs", "1", *train_dirs, "--output", str(model),
                 "--set", "test_mask=per_frame", "--set", "smoothing_sigma=6.6", "--set", "offsets=[-2, 0, 2]"]) == 0
    det = pyvad.load(model)
    assert (det.test_mask, det.smoothing_sigma, list(det.offsets)) == ("per_frame", 6.6, [-2, 0, 2])
    assert det.config_["test_mask"] == "per_frame" and det.test_keep_.shape[0] > 1


@pytest.mark.parametrize("extra, message", [
    (["--set", "colour=red"], "no parameter 'colour' (--set); its parameters: "),
    (["--set", "grid"], "--set expects NAME=VALUE"),
    (["--set", "contamination=0.1", "--set", "contamination=0.2"],
     "'contamination' of method 'baseline' is given twice (--set and --set)"),
    (["--set", "grid=[0, 3]"], "grid"),  # the detector's own validation, as one line
], ids=["unknown", "no-value", "twice", "invalid"])
def test_fit_set_errors_name_the_parameter(tmp_path, folder_dataset, capsys, extra, message):
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    assert main(["fit", "--method", "baseline", *train_dirs, "--output", str(tmp_path / "b.pyvad"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyvad: error:") and "\n" not in err and message in err
    assert not (tmp_path / "b.pyvad").exists()


# Small members with random teachers (seconds to fit), set through the members' parameter names.
TINY_ENSEMBLE = [
    "--set", "cafe__teacher=mobilenet_v2", "--set", "cafe__teacher_weights=random", "--set", "cafe__teacher_input_size=0",
    "--set", "cafe__student_widths=[8, 8, 16, 16]", "--set", "cafe__epochs=1", "--set", "cafe__ca_start_epoch=1",
    "--set", "pkgnet__teacher=resnet18", "--set", "pkgnet__teacher_weights=random", "--set", "pkgnet__width=8",
    "--set", "pkgnet__epochs=1", "--set", "maskedae__image_size=[16, 24]", "--set", "maskedae__batch_size=16",
    "--set", "maskedae__epochs=1",
]


def test_fit_method_ensemble_builds_the_three_detectors_and_the_model_scores_a_video(tmp_path, folder_dataset, capsys):
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    model = tmp_path / "ensemble.pyvad"
    assert main(["fit", "--method", "ensemble", "--preset", "fast", "--seed", "4", *train_dirs, "--output", str(model),
                 "--set", "statistics=cross_fit", *TINY_ENSEMBLE]) == 0
    det = pyvad.load(model)
    assert list(det.detectors_) == ["cafe", "pkgnet", "maskedae"] and det.statistics_ == "cross_fit"
    assert all(member.preset == "fast" and member.random_state == 4 for member in det.detectors_.values())
    assert (det.detectors_["cafe"].epochs, det.detectors_["pkgnet"].width) == (1, 8)
    test_dir = sorted((folder_dataset / "test").iterdir())[0]
    scores_csv = tmp_path / "scores.csv"
    capsys.readouterr()
    assert main(["score", str(test_dir), "--model", str(model), "--output", str(scores_csv)]) == 0
    rows = list(csv.DictReader(scores_csv.open()))
    assert len(rows) == 32
    np.testing.assert_allclose([float(row["score"]) for row in rows], det.score_frames([str(test_dir)])[0], rtol=1e-4)


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "2"], "method 'ensemble' has no parameter 'epochs' (--epochs); set it per member, e.g. --set cafe__epochs="),
    (["--set", "cafe__colour=red"], "no parameter 'cafe__colour' (--set); its parameters: "),
    (["--preset", "ubnormal"], "preset"),  # CAFE's own validation: it has no UBnormal preset
], ids=["method-option", "unknown-member-parameter", "preset-a-member-lacks"])
def test_fit_method_ensemble_errors_name_the_parameter(tmp_path, folder_dataset, capsys, extra, message):
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    model = tmp_path / "e.pyvad"
    assert main(["fit", "--method", "ensemble", *train_dirs, "--output", str(model), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyvad: error:") and "\n" not in err and message in err
    assert not model.exists()


def test_fit_reads_a_folder_of_clips_as_one_video_per_file(tmp_path, capsys):
    train, _ = make_train_test(n_train=2, n_test=1, n_frames=12, frame_size=(32, 48), random_state=0)
    clips = tmp_path / "my_normal_clips"
    clips.mkdir()
    for index, video in enumerate(train.videos):
        write_video(clips / f"clip{index}.avi", video)
    (clips / "notes.txt").write_text("not a video")
    model = tmp_path / "m.pyvad"
    assert main(["fit", "--method", "baseline", str(clips), "--output", str(model)]) == 0
    assert "on 2 videos" in capsys.readouterr().out
    assert [len(s) for s in pyvad.load(model).training_frame_scores_] == [12, 12]


def test_fit_then_score_writes_one_csv_row_per_frame(tmp_path, folder_dataset, capsys):
    model = tmp_path / "model.pyvad"
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    assert main(["fit", "--method", "baseline", *train_dirs, "--output", str(model)]) == 0
    assert model.exists()
    out_csv = tmp_path / "scores.csv"
    video_dir = next((folder_dataset / "test").iterdir())
    assert main(["score", str(video_dir), "--model", str(model), "--output", str(out_csv)]) == 0
    rows = list(csv.reader(out_csv.open()))
    assert rows[0] == ["frame", "time_s", "score"]
    assert len(rows) == 1 + 32 and rows[1][0] == "0"


def test_evaluate_fits_on_the_training_split_and_writes_json(tmp_path, folder_dataset, capsys):
    out_json = tmp_path / "result.json"
    argv = ["evaluate", "--dataset", "folder", "--root", str(folder_dataset), "--method", "baseline",
            "--json", str(out_json)]
    assert main(argv) == 0
    result = json.loads(out_json.read_text())
    assert 0.0 <= result["micro_auc"] <= 1.0 and result["method"] == "MotionBaselineDetector"
    assert "micro_auc" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--dataset", "ped2", "--root", "/nonexistent/ped2"], "ped2"),
        (["fit", "--method", "nope", "x", "--output", "m.pyvad"], "unknown method"),
        (["fit", "--method", "baseline", "--output", "m.pyvad"], "give input videos"),
        (["score", "/nonexistent.mp4", "--model", "/nonexistent.pyvad", "--output", "s.csv"], "does not exist"),
        (["fit", "--method", "baseline", "--preset", "ped2", "x", "--output", "m.pyvad"], "no parameter 'preset'"),
        (["fit", "--method", "baseline", "x", "--dataset", "ped2", "--root", ".", "--output", "m.pyvad"], "not both"),
        (["fit", "--method", "baseline", "x", "--root", ".", "--output", "m.pyvad"], "without --dataset"),
        (["fit", "--method", "baseline", "x", "--output", "."], "is a folder"),
        (["score", "x.mp4", "--model", "m.pyvad", "--output", "s.json"], "both name s.json"),
        (["score", "x.mp4", "--model", "m.pyvad", "--json", "s.mp4", "--overlay", "s.mp4"], "both name s.mp4"),
    ],
    ids=["missing-dataset", "unknown-method", "no-input", "missing-model", "unsupported-option", "inputs-and-dataset",
         "root-without-dataset", "output-folder", "csv-is-json", "json-is-overlay"],
)
def test_user_errors_are_one_line_with_exit_status_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyvad: error:") and "\n" not in err and message in err


def test_evaluate_refuses_method_options_beside_a_saved_model(tmp_path, folder_dataset, capsys):
    model = tmp_path / "model.pyvad"
    assert main(["fit", "--method", "baseline", "--dataset", "folder", "--root", str(folder_dataset),
                 "--output", str(model)]) == 0
    argv = ["evaluate", "--dataset", "folder", "--root", str(folder_dataset), "--model", str(model)]
    assert main([*argv, "--set", "grid=[2,2]", "--method", "cafe"]) == 2
    err = capsys.readouterr().err
    assert "--method, --set configure the detector that evaluate fits without --model" in err
    assert main(argv) == 0


def test_a_folder_of_clips_skips_hidden_files_and_orders_numbers_by_value(tmp_path, capsys):
    train, _ = make_train_test(n_train=2, n_test=1, n_frames=12, frame_size=(32, 48), random_state=0)
    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "clip10.avi", train.videos[0])
    write_video(clips / "clip2.avi", train.videos[1][:6])
    (clips / "._clip2.avi").write_bytes(b"\x00\x05\x16\x07 macOS metadata")
    model = tmp_path / "m.pyvad"
    assert main(["fit", "--method", "baseline", str(clips), "--output", str(model)]) == 0
    assert [len(s) for s in pyvad.load(model).training_frame_scores_] == [6, 12]  # clip2, then clip10


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "pyvad.cli", "--help"], capture_output=True, text=True,
                            cwd=REPO, check=False)
    assert result.returncode == 0
    for command in ("fit", "score", "evaluate", "demo"):
        assert command in result.stdout


def test_readme_holds_the_commands_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "<!-- ci-install -->" in readme and "<!-- ci-test -->" in readme
    assert "readme_command ci-install" in ci and "readme_command ci-test" in ci
    install = readme.split("<!-- ci-install -->\n", 1)[1].splitlines()[0].strip()
    assert "torch==2.14.1" in install and "torchvision==0.29.1" in install and "pyvad demo" in install


class FlashDetector(BaseDetector):
    """Frame score = mean brightness change; pixel map = per-pixel change (has score_maps)."""

    temporal_context = (1, 0)

    def __init__(self, contamination="auto"):
        self.contamination = contamination

    def _fit(self, X, y=None):
        self.fitted_ = True

    @staticmethod
    def _changes(video):
        frames = np.asarray(video[:], dtype=np.float64).mean(axis=3)
        return np.abs(frames - np.concatenate([frames[:1], frames[:-1]]))

    def _score_frames(self, X):
        return [self._changes(v).mean(axis=(1, 2)) for v in as_videos(X)]

    def score_maps(self, X):
        return [self._changes(v) for v in as_videos(X)]


def _flashing_video(n_frames=30, size=(24, 32), flash=12):
    """A grey video where a square flashes in one frame: frames ``flash`` and ``flash + 1`` change."""
    frames = np.full((n_frames, *size, 3), 60, np.uint8)
    if flash is not None:
        frames[flash, 4:12, 4:12] = 250
    return frames


@pytest.fixture()
def flash_model(monkeypatch):
    """`pyvad score/evaluate --model anything` loads a fitted FlashDetector."""
    det = FlashDetector().fit([_flashing_video(flash=None)])
    monkeypatch.setattr("pyvad.base.load", lambda path, device=None, trusted_classes=(): det)
    return det


def test_score_with_overlay_writes_csv_json_and_a_playable_annotated_video(tmp_path, folder_dataset, capsys):
    model = tmp_path / "model.pyvad"
    train_dirs = sorted(str(p) for p in (folder_dataset / "train").iterdir())
    assert main(["fit", "--method", "baseline", *train_dirs, "--output", str(model)]) == 0
    video = next((folder_dataset / "test").iterdir())
    out_csv, overlay = tmp_path / "s.csv", tmp_path / "annotated.mp4"
    assert main(["score", str(video), "--model", str(model), "--output", str(out_csv), "--overlay", str(overlay)]) == 0
    assert re.search(r"Scored 32 frames in [\d.]+ s \([\d.]+ frames/s\)", capsys.readouterr().out)
    summary = json.loads(out_csv.with_suffix(".json").read_text())
    assert len(summary["scores"]) == 32 and summary["smoothing"] == "centred"
    assert [float(row[2]) for row in list(csv.reader(out_csv.open()))[1:]] == pytest.approx(summary["scores"], rel=1e-5)
    annotated = Video(overlay)
    height, width = Video(video).frame_size
    assert len(annotated) == 32 and annotated.frame_size[1] == width and annotated.frame_size[0] > height


def test_score_reports_abnormal_intervals_and_draws_the_heat_map(tmp_path, flash_model, capsys):
    frames = _flashing_video()
    source = write_video(tmp_path / "clip", frames)
    argv = ["score", str(source), "--model", "m.pyvad", "--output", str(tmp_path / "s.csv"),
            "--threshold", "5", "--overlay", str(tmp_path / "frames_out")]
    assert main(argv) == 0
    assert "alert: abnormal frames 12-13" in capsys.readouterr().out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert [(i["start"], i["end"]) for i in summary["abnormal_intervals"]] == [(12, 13)]
    annotated = Video(tmp_path / "frames_out")  # PNG folder: lossless, so colours can be checked
    flash, calm = annotated[12], annotated[5]
    assert flash[8, 8, 0] > flash[8, 8, 2] and calm[8, 8, 0] == calm[8, 8, 2]  # red-hot where it flashed


def test_evaluate_adds_rbdc_and_tbdc_when_the_model_has_score_maps_and_the_dataset_masks(tmp_path, flash_model,
                                                                                       capsys):
    root = tmp_path / "ped2"
    train, test = _flashing_video(flash=None), _flashing_video()
    _write_frames(root / "training" / "frames" / "01", train)
    _write_frames(root / "testing" / "frames" / "01", test)
    labels = np.zeros(len(test), np.uint8)
    labels[12:14] = 1
    masks = np.zeros(test.shape[:3], np.uint8)
    masks[12:14, 4:12, 4:12] = 1
    for folder, array in (("test_frame_mask", labels), ("test_pixel_mask", masks)):
        (root / "testing" / folder).mkdir(parents=True)
        np.save(root / "testing" / folder / "01.npy", array)
    out_json = tmp_path / "result.json"
    assert main(["evaluate", "--model", "m.pyvad", "--dataset", "ped2", "--root", str(root), "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    assert result["micro_auc"] == 1.0 and result["rbdc"] > 0.9 and result["tbdc"] > 0.9
    assert re.search(r"^rbdc\s+[01]\.\d{4}\s*$", capsys.readouterr().out, flags=re.M)


def test_a_camera_that_cannot_be_opened_is_a_one_line_error(tmp_path, flash_model, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["score", "97", "--model", "m.pyvad"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "pyvad: error: cannot open camera 97: no such camera, unreachable stream or unsupported protocol"


def test_usage_errors_are_one_line_with_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "clip.mp4"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyvad: error:") and "--model" in err and "\n" not in err


@pytest.mark.parametrize("command, options", [
    ("fit", ["--method", "--preset", "--epochs", "--device", "--amp", "--seed", "--set", "--dataset", "--root", "--output"]),
    ("score", ["--model", "--output", "--json", "--overlay", "--threshold", "--quantile", "--smoothing", "--hop",
               "--fps", "--max-frames", "--device", "camera index", "rtsp://"]),
    ("evaluate", ["--model", "--dataset", "--root", "--method", "--json", "--no-regions", "RBDC"]),
    ("demo", ["--output-dir", "--seed"]),
])
def test_help_of_every_command_documents_its_options(command, options, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert all(option in text for option in options)


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_amp_choices_are_the_trainers(command):
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    amp = next(a for a in sub._actions if a.dest == "amp")
    assert tuple(amp.choices) == AMP_CHOICES
