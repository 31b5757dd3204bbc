"""The extension guide's examples run verbatim, from outside the package, everywhere pyvad classes go."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import pyvad
from pyvad.cli import main
from pyvad.ensemble import DetectorEnsemble
from pyvad.exceptions import ModelFileError
from pyvad.methods import MotionBaselineDetector
from pyvad.metrics import make_video_scorer
from pyvad.synthetic import make_train_test
from pyvad.video import write_video

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
BLOCK = re.compile(r"(?:<!-- extending-example: (?P<module>[\w.]+) -->\n)?```python\n(?P<code>.*?)```", re.DOTALL)
MODULES = ("motion_stats", "my_parts")


def guide_blocks() -> list[tuple[str | None, str]]:
    """Every python block of the guide, with the module file name its marker gives (None for usage snippets)."""
    return [(m["module"], m["code"]) for m in BLOCK.finditer(GUIDE.read_text())]


@pytest.fixture
def guide(tmp_path, monkeypatch):
    """The guide's module blocks written verbatim as modules in a folder outside the package, imported."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    for module, code in guide_blocks():
        if module is not None:
            (folder / module).write_text(code)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    yield {name: importlib.import_module(name) for name in MODULES}
    for name in MODULES:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def data():
    return make_train_test(n_train=2, n_test=2, n_frames=24, frame_size=(32, 48), random_state=0)


def test_the_guide_defines_its_modules_and_the_detector_example_fits_in_60_lines():
    modules = {module: code for module, code in guide_blocks() if module is not None}
    assert set(modules) == {f"{name}.py" for name in MODULES}
    assert len(modules["motion_stats.py"].strip().splitlines()) <= 60


def test_the_usage_snippets_of_the_guide_run_verbatim(guide, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for module, code in guide_blocks():
        if module is None:
            exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102 - the guide is this repository's own text
    np.testing.assert_allclose(namespace["loaded"].score_frames(namespace["test"].videos)[0], namespace["scores"][0])
    assert len(namespace["search"].cv_results_["params"]) == 2
    assert len(namespace["events"]) == 9 * sum(len(v) for v in namespace["test"].videos)


def test_the_custom_detector_separates_anomalies_inside_a_pipeline(guide, data):
    train, test = data
    pipe = make_pipeline(guide["motion_stats"].MotionStatsDetector(grid=2)).fit(train.videos)
    labels = np.concatenate(test.frame_labels)
    scores = -pipe.score_samples(test.videos)
    assert scores.shape == labels.shape
    assert scores[labels == 1].mean() > scores[labels == 0].mean()


def test_clone_keeps_parameters_and_drops_learned_state(guide, data):
    det = guide["motion_stats"].MotionStatsDetector(grid=3, contamination=0.1).fit(data[0].videos)
    copy = clone(det)
    assert copy.get_params() == det.get_params()
    assert not hasattr(copy, "mean_")


def test_grid_search_over_per_video_folds_with_the_video_scorer(guide, data):
    train, test = data
    X = train.videos + test.videos
    y = train.frame_labels + test.frame_labels
    folds = [(np.arange(len(train.videos)), np.arange(len(train.videos), len(X)))]
    search = GridSearchCV(guide["motion_stats"].MotionStatsDetector(), {"grid": [1, 2]}, cv=folds,
                          scoring=make_video_scorer("micro_auc"), refit=False).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_params_["grid"] in (1, 2)


def test_save_and_load_need_the_class_to_be_trusted(guide, data, tmp_path):
    cls = guide["motion_stats"].MotionStatsDetector
    det = cls(grid=2).fit(data[0].videos)
    path = det.save(tmp_path / "m.pyvad")
    with pytest.raises(ModelFileError, match="trusted_classes"):
        pyvad.load(path)
    for trusted in (cls, "motion_stats:MotionStatsDetector"):
        loaded = pyvad.load(path, trusted_classes=[trusted])
        np.testing.assert_array_equal(loaded.score_samples(data[1].videos), det.score_samples(data[1].videos))
        assert loaded.offset_ == det.offset_


def test_the_custom_detector_is_an_ensemble_member(guide, data, tmp_path):
    cls = guide["motion_stats"].MotionStatsDetector
    train, test = data
    ensemble = DetectorEnsemble([("mine", cls(grid=2)), ("baseline", MotionBaselineDetector(grid=(2, 2)))]).fit(train.videos)
    assert ensemble.get_params()["mine__grid"] == 2
    alone = cls(grid=2).fit(train.videos).score_frames(test.videos)
    for got, want in zip(ensemble.member_scores(test.videos)["mine"], alone):
        np.testing.assert_allclose(got, want)
    loaded = pyvad.load(ensemble.save(tmp_path / "ensemble.pyvad"), trusted_classes=[cls])
    np.testing.assert_array_equal(loaded.score_samples(test.videos), ensemble.score_samples(test.videos))


def test_the_cli_fits_the_custom_detector_by_import_path(guide, data, tmp_path):
    folders = [write_video(tmp_path / f"train{i}", video) for i, video in enumerate(data[0].videos)]
    model = tmp_path / "cli.pyvad"
    status = main(["fit", "--method", "motion_stats:MotionStatsDetector", *map(str, folders), "--output", str(model)])
    assert status == 0
    loaded = pyvad.load(model, trusted_classes=["motion_stats:MotionStatsDetector"])
    assert loaded.grid == 4 and loaded.frame_size_ == (32, 48)


def test_the_tiling_extractor_gives_one_event_per_tile_and_frame(guide, data):
    events = guide["my_parts"].TileBoxes(tiles=2, patch_size=8).fit().transform(data[1].videos[:1])
    assert len(events) == 4 * 24
    assert events.patches.shape[1:] == (1, 8, 8, 3)
    np.testing.assert_allclose(events.boxes[:4], [[0, 0, 24, 16], [24, 0, 48, 16], [0, 16, 24, 32], [24, 16, 48, 32]])


def test_the_custom_fuser_replaces_score_fusion_and_round_trips(guide, data, tmp_path):
    fusion_cls = guide["my_parts"].MaxRobustFusion
    train, test = data
    det = MotionBaselineDetector(grid=(2, 2), fusion=fusion_cls()).fit(train.videos)
    assert isinstance(det.fusion_, fusion_cls)
    scores = det.score_frames(test.videos)
    assert [len(s) for s in scores] == [len(v) for v in test.videos]
    loaded = pyvad.load(det.save(tmp_path / "fused.pyvad"), trusted_classes=[fusion_cls])
    np.testing.assert_allclose(np.concatenate(loaded.score_frames(test.videos)), np.concatenate(scores))
