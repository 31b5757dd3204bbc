"""Every example in examples/ runs (in a fast mode where it has one)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PED2 = Path(os.environ.get("PYVAD_PED2_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data" / "ped2"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_runs_and_detects_the_synthetic_anomalies(tmp_path):
    auc = _load("quickstart").main(tmp_path)
    assert auc > 0.6
    assert (tmp_path / "quickstart_scores.png").exists() and (tmp_path / "baseline.pyvad").exists()


@pytest.mark.skipif(not (PED2 / "training").is_dir(), reason="Ped2 data not present")
def test_ped2_example_runs_on_two_videos():
    results = _load("ped2_baseline").main(PED2, max_videos=2)
    assert 0.0 <= results["micro_auc"] <= 1.0


def test_own_video_example_writes_an_annotated_video_and_a_score_curve(tmp_path):
    module = _load("own_video")
    train, video = module.make_clips(tmp_path / "clips")
    result = module.main(train, video, tmp_path / "out")
    assert result["n_frames"] == 64 and result["curve"].exists()
    from pyvad.video import Video

    assert len(Video(result["annotated"])) == 64


def test_sklearn_example_selects_fusion_weights_on_validation_and_evaluates_once_on_test():
    results = _load("sklearn_integration").main()
    assert set(results) == {"pipeline_auc", "validation_auc", "test_auc"}
    assert results["validation_auc"] > 0.5 and 0.0 <= results["test_auc"] <= 1.0


def test_streaming_example_runs_on_a_file_when_no_camera_is_given():
    alerts = _load("streaming_camera").main(hop=8)
    assert alerts and alerts[0].kind == "start" and alerts[-1].kind == "end"


def test_train_on_gpu_example_fits_saves_and_scores_on_the_cpu(tmp_path):
    from pyvad.synthetic import make_train_test

    train, test = make_train_test(n_train=3, n_test=2, random_state=0)
    params = dict(epochs=2, teacher="resnet18", teacher_weights="random", width=8)
    auc = _load("train_on_gpu").main(train.videos, test.videos, test.frame_labels, tmp_path, "fast", **params)
    assert 0.0 <= auc <= 1.0
    [checkpoint] = (tmp_path / "checkpoints").glob("pkgnet-*-last.pt")
    assert (tmp_path / "pkgnet_fast.pyvad").exists()
    # Run again: the finished checkpoint is picked up, so no epoch is trained (or saved) twice.
    written = checkpoint.stat().st_mtime_ns
    assert _load("train_on_gpu").main(train.videos, test.videos, test.frame_labels, tmp_path, "fast", **params) == auc
    assert checkpoint.stat().st_mtime_ns == written


def test_ensemble_example_cross_fits_the_three_detectors_and_reports_the_label_using_row_apart():
    from pyvad.synthetic import make_train_test

    module = _load("ensemble_ped2")
    train, test = make_train_test(n_train=4, n_test=8, random_state=0)
    results = module.main(train.videos, test.videos, test.frame_labels, module.tiny_ensemble(), with_labels=True)
    assert list(results) == ["cafe", "pkgnet", "maskedae", "ensemble, equal weights (no labels)",
                             "ensemble, weights chosen by nested CV (labels)"]
    assert all(0.0 <= auc <= 1.0 for auc in results.values())
