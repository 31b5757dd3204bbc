"""The benchmark scripts still import against the current package; run_all's planning and its
fit-only round trip run on tiny data (the benchmarks themselves are not run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_script_imports_and_has_a_main(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their shared helpers from there
    spec = importlib.util.spec_from_file_location(f"_benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"


def _load_script(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_run_all_plans_fast_and_paper_presets_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    run_all = _load_script("run_all", monkeypatch)
    methods = ["baseline", "pkgnet", "ensemble"]
    assert run_all.planned_runs(["ped2"], methods, fast=False, paper=True) == [
        ("ped2", "baseline", "default"), ("ped2", "pkgnet", "ped2"), ("ped2", "ensemble", "ped2")]
    assert run_all.planned_runs(["ped2"], methods, fast=True, paper=False) == [
        ("ped2", "baseline", "default"), ("ped2", "pkgnet", "fast"), ("ped2", "ensemble", "fast")]


def test_run_all_fits_with_training_videos_only_and_reloads_the_model(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    from pyvad.synthetic import make_train_test

    run_all = _load_script("run_all", monkeypatch)
    monkeypatch.setattr(run_all, "MODEL_DIR", tmp_path / "models")
    train, _ = make_train_test(n_train=2, n_test=1, n_frames=12, random_state=0)
    root = tmp_path / "ped2"  # the training half of the Ped2 layout; no test split on disk
    for number, video in enumerate(train.videos, start=1):
        clip = root / "training" / "frames" / f"{number:02d}"
        clip.mkdir(parents=True)
        for index, frame in enumerate(video):
            cv2.imwrite(str(clip / f"{index:03d}.png"), frame)
    run_all.fit_and_save("ped2", "baseline", "default", root, seed=0, threads=1)
    detector, record = run_all.load_fitted("ped2", "baseline", "default")
    assert record["train_frames"] == 24 and record["fit_seconds"] > 0 and "cpu" in record["machine"]
    assert [len(s) for s in detector.score_frames(train.videos)] == [12, 12]
    assert run_all.load_fitted("ped2", "pkgnet", "fast") is None
    members, seconds, places = run_all.load_members("ped2", "default", ["baseline"])
    assert list(members) == ["baseline"] and seconds == record["fit_seconds"]
    assert places == [record["machine"]["cpu"]]


def test_run_all_checkpoint_dir_reaches_each_detectors_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_all = _load_script("run_all", monkeypatch)
    for method in run_all.ENSEMBLE_MEMBERS:
        detector = run_all.build_detector(method, "fast", None, seed=0)
        if method == "cafe":
            detector.set_params(trainer_params={"num_workers": 0})  # the user's own trainer settings are kept
        run_all.with_checkpoints(detector, tmp_path / method)
        params = detector.get_params(deep=False)
        settings = params if "checkpoint_dir" in params else params["trainer_params"]
        assert settings["checkpoint_dir"] == str(tmp_path / method) and settings["resume"] is True
        assert (tmp_path / method).is_dir()
        if method == "cafe":
            assert settings["num_workers"] == 0


def test_run_all_report_describes_every_method_of_both_preset_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    run_all = _load_script("run_all", monkeypatch)
    report = _load_script("_run_all_report", monkeypatch)
    runs = run_all.planned_runs(["ped2"], list(run_all.METHODS), fast=True, paper=True)
    runs += [(dataset, "ensemble_cv", preset) for dataset, method, preset in runs if method == "ensemble"]
    for _, method, preset in runs:
        row = {"method": method, "preset": preset, "statistics": "training" if method == "ensemble_train" else "cross_fit"}
        assert report._differences(row), (method, preset)
    cross_fitted = report._differences({"method": "ensemble_cv", "preset": "fast", "statistics": "cross_fit"})
    assert cross_fitted.startswith("uses test labels") and "held-out training videos" in cross_fitted


def test_run_all_report_says_where_an_ensembles_members_were_fitted(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _load_script("_run_all_report", monkeypatch)
    gpu = {"gpu": "Some GPU", "cpu": "Some CPU"}
    runs = [{"dataset": "ped2", "preset": "ped2", "method": "cafe", "fitted_on": gpu},
            {"dataset": "ped2", "preset": "fast", "method": "pkgnet"},
            {"dataset": "ped2", "preset": "ped2", "method": "ensemble", "members_reused": ["cafe", "pkgnet"]},
            {"dataset": "ped2", "preset": "fast", "method": "ensemble", "members_reused": ["pkgnet"]}]
    assert report._fitted_where(runs[0], runs) == " on Some GPU"
    assert report._fitted_where(runs[2], runs) == " (members' fits, on Some GPU)"
    assert report._fitted_where(runs[3], runs) == ""  # fitted here, in the run itself
    # what the ensemble recorded wins over the members' current rows (which a later refit changes)
    recorded = {**runs[2], "members_fitted_on": ["Old GPU"]}
    assert report._fitted_where(recorded, runs) == " (members' fits, on Old GPU)"
    assert report._fitted_where({**runs[0], "fit_where": "on two machines"}, runs) == " on two machines"
    assert report._fitted_where({**recorded, "statistics": "cross_fit"}, runs) == (
        " (members' fits, on Old GPU and its own cross-fit folds)")


def test_ensemble_swap_recovers_the_members_scales_and_refuses_a_smoothed_ensemble(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from pyvad.ensemble import combine_member_scores

    swap = _load_script("ensemble_swap_member", monkeypatch)
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(60, 3)) * [1.0, 5.0, 0.2] for _ in range(4)]
    mean, scale, weights = np.array([0.5, -2.0, 3.0]), np.array([0.7, 4.0, 0.1]), np.full(3, 1 / 3)
    members = np.concatenate(videos)
    plain = np.concatenate(combine_member_scores(videos, mean, scale, weights))
    coefficients, _ = swap.affine_coefficients(members, plain)
    np.testing.assert_allclose(weights / coefficients[1:], scale)
    np.testing.assert_allclose(coefficients[0], -(weights * mean / scale).sum())
    smoothed = np.concatenate(combine_member_scores(videos, mean, scale, weights, smoothing="gaussian"))
    with pytest.raises(SystemExit, match="not affine"):
        swap.affine_coefficients(members, smoothed)


def test_run_all_records_an_ensembles_statistics_beside_its_members_own_training_statistics(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pyvad.ensemble import DetectorEnsemble
    from pyvad.methods import MotionBaselineDetector
    from pyvad.synthetic import make_train_test

    run_all = _load_script("run_all", monkeypatch)
    train, _ = make_train_test(n_train=2, n_test=1, n_frames=24, random_state=0)
    members = [("coarse", MotionBaselineDetector(grid=(2, 2))), ("fine", MotionBaselineDetector(grid=(3, 3)))]
    for statistics in ("training", "cross_fit"):
        ensemble = DetectorEnsemble(members, statistics=statistics).fit(train.videos)
        record = run_all.member_statistics(ensemble)
        assert record["statistics"] == statistics
        np.testing.assert_allclose([record["member_mean_scale"][name] for name, _ in members],
                                   np.column_stack([ensemble.mean_, ensemble.scale_]))
        same = np.allclose([record["member_mean_scale"][name] for name, _ in members],
                           [record["member_own_training_mean_std"][name] for name, _ in members])
        assert same == (statistics == "training")


def test_video_cross_validation_chooses_each_video_by_the_other_videos_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    select = _load_script("select_by_video_cv", monkeypatch)
    from pyvad.metrics import micro_auc

    labels = [np.array([0, 0, 1, 1])] * 3
    good, bad = np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0, 0.0])
    scores = {"a": [good, good, bad], "b": [bad, good, good]}
    result = select.leave_one_video_out(labels, scores)
    # video 0: on videos 1-2 a ranks 0.5 and b 1.0; video 1: a tie, so the first listed; video 2: a 1.0, b 0.5
    assert result["chosen_per_video"] == ["b", "a", "a"]
    assert result["cv_micro_auc"] == micro_auc(labels, [bad, good, bad])  # each video's own labels chose nothing
    assert result["chosen_on_all_videos"] == "a"
    assert result["candidates"]["b"]["micro_auc"] == micro_auc(labels, scores["b"])


def test_maskedae_reconstruction_by_token_splits_every_token_once_and_measures_the_mean_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pyvad.methods.maskedae import MaskedAEDetector

    maxima = _load_script("maskedae_maxima", monkeypatch)
    still = [np.full((20, 32, 48, 3), 90, np.uint8), np.full((20, 32, 48, 3), 130, np.uint8)]
    detector = MaskedAEDetector("fast", image_size=(16, 24), offsets=(0,), batch_size=8, epochs=1, random_state=0,
                                architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2)).fit(still)
    hidden = np.ones(detector.net_.n_tokens, bool)
    hidden[detector.test_keep_.reshape(-1).numpy()] = False
    rows = maxima.reconstruction_by_token(detector, still, hidden, step=5)
    assert sum(row["tokens"] for row in rows.values()) == 8 * detector.net_.n_tokens  # 40 frames, every 5th
    assert rows["hidden static"]["tokens"] == 8 * hidden.sum()  # no motion: every token is static
    # two grey levels, four frames each: the mean frame misses every pixel by (130 - 90) / 2 grey levels
    assert rows["hidden static"]["mean training frame"] == pytest.approx((20 / 127.5) ** 2, rel=1e-5)
    assert rows["visible static"]["teacher"] > 0 and rows["hidden moving"]["teacher"] is None
