"""Third-party detectors: by import path, by entry point, and through save/load."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap

import cv2
import numpy as np
import pytest

import pyvad
from pyvad.cli import main
from pyvad.exceptions import ModelFileError
from pyvad.methods import get_method
from pyvad.plugins import ENTRY_POINT_GROUP, import_object, plugin_methods

PLUGIN_SOURCE = textwrap.dedent(
    '''
    import numpy as np
    from pyvad.base import BaseDetector
    from pyvad.video import as_videos


    class BrightnessDetector(BaseDetector):
        def __init__(self, contamination="auto"):
            self.contamination = contamination

        def _fit(self, X, y=None):
            self.mean_ = float(np.mean([v.to_array().mean() for v in as_videos(X)]))

        def _score_frames(self, X):
            return [np.abs(v.to_array().mean(axis=(1, 2, 3)) - self.mean_) for v in as_videos(X)]
    '''
)


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """A tiny installed-looking package: a module on sys.path plus a dist-info with an entry point."""
    (tmp_path / "brightness_plugin.py").write_text(PLUGIN_SOURCE)
    dist = tmp_path / "brightness_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brightness-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nbrightness = brightness_plugin:BrightnessDetector\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield "brightness_plugin:BrightnessDetector"
    sys.modules.pop("brightness_plugin", None)


def _videos(values):
    return [np.full((4, 6, 6, 3), v, dtype=np.uint8) for v in values]


def test_installed_plugin_is_discovered_by_entry_point(plugin_package):
    assert plugin_methods()["brightness"] == plugin_package
    cls = get_method("brightness")
    assert cls.__name__ == "BrightnessDetector"


def test_any_detector_class_can_be_named_by_import_path(plugin_package):
    assert get_method(plugin_package) is import_object(plugin_package)


def test_plugin_models_round_trip_through_pyvad_load(plugin_package, tmp_path):
    det = get_method("brightness")().fit(_videos([10, 20]))
    loaded = pyvad.load(det.save(tmp_path / "m.pyvad"))
    np.testing.assert_allclose(loaded.score_samples(_videos([50])), det.score_samples(_videos([50])))


def test_cli_fits_a_detector_named_by_import_path(plugin_package, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((6, 6, 3), 10 * i, np.uint8))
    model = tmp_path / "m.pyvad"
    assert main(["fit", "--method", plugin_package, str(frames), "--output", str(model)]) == 0
    assert type(pyvad.load(model)).__name__ == "BrightnessDetector"


def test_foreign_class_needs_explicit_trust(tmp_path, monkeypatch):
    (tmp_path / "private_detectors.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = import_object("private_detectors:BrightnessDetector")
    path = cls().fit(_videos([1])).save(tmp_path / "m.pyvad")
    with pytest.raises(ModelFileError, match="trusted_classes"):
        pyvad.load(path)
    assert type(pyvad.load(path, trusted_classes=["private_detectors:BrightnessDetector"])) is cls


@pytest.mark.parametrize(
    "name, message",
    [("nope", "unknown method"), ("math:pi", "not a detector class"), ("no_such_module_xyz:A", "cannot import"),
     ("pyvad.methods:Nope", "has no attribute")],
)
def test_bad_method_names_are_clear_errors(name, message):
    with pytest.raises(ValueError, match=message):
        get_method(name)


def test_cli_scores_a_foreign_model_only_when_trusted(tmp_path, monkeypatch):
    (tmp_path / "cli_detectors.py").write_text(PLUGIN_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    cls = import_object("cli_detectors:BrightnessDetector")
    model = cls().fit(_videos([1])).save(tmp_path / "m.pyvad")
    frames = tmp_path / "clip"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i}.png"), np.full((6, 6, 3), 10 * i, np.uint8))
    argv = ["score", str(frames), "--model", str(model), "--output", str(tmp_path / "s.csv")]
    assert main(argv) == 2
    assert main([*argv, "--trust", "cli_detectors:BrightnessDetector"]) == 0
    assert (tmp_path / "s.csv").read_text().startswith("frame,time_s,score")
