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

from pyvad import __version__
from pyvad.cli import main
from pyvad.synthetic import make_train_test

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
    ],
    ids=["missing-dataset", "unknown-method", "no-input", "missing-model", "unsupported-option"],
)
def test_user_errors_are_one_line_with_exit_status_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyvad: error:") and "\n" not in err and message in err


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
