"""The outlier contract and persistence shared by every detector."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import stat
import sys
import textwrap

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

import pyvad
from pyvad.base import BaseDetector, check_frame_labels
from pyvad.exceptions import InvalidVideoError, ModelFileError
from pyvad.persistence import FORMAT_VERSION, MAGIC, write_atomically
from pyvad.plugins import ENTRY_POINT_GROUP


class MeanBrightnessDetector(BaseDetector):
    """Scores a frame by its distance to the mean training brightness."""

    def __init__(self, contamination="auto", hidden=4):
        self.contamination = contamination
        self.hidden = hidden

    def _fit(self, X, y=None):
        values = np.concatenate([np.asarray(v, dtype=float).mean(axis=(1, 2)) for v in X])
        self.mean_ = float(values.mean())
        self.table_ = np.arange(6, dtype=np.int16).reshape(2, 3)
        self.names_ = ["a", "b"]
        self.net_ = nn.Linear(self.hidden, 1)

    def _build_modules(self):
        return {"net_": nn.Linear(self.hidden, 1)}

    def _score_frames(self, X):
        return [np.abs(np.asarray(v, dtype=float).mean(axis=(1, 2)) - self.mean_) for v in X]


class InterruptedDetector(MeanBrightnessDetector):
    def _fit(self, X, y=None):
        self.mean_ = 1.0
        raise KeyboardInterrupt


def _videos(values):
    return [np.full((5, 4, 4), v, dtype=np.uint8) for v in values]


def test_score_samples_is_negated_concatenated_frame_scores():
    det = MeanBrightnessDetector().fit(_videos([10, 12]))
    frames = det.score_frames(_videos([11, 30]))
    assert [len(f) for f in frames] == [5, 5]
    np.testing.assert_allclose(det.score_samples(_videos([11, 30])), -np.concatenate(frames))


def test_decision_function_and_predict_use_offset_from_training_scores():
    det = MeanBrightnessDetector(contamination=0.5).fit(_videos([10, 20]))
    train_scores = -np.concatenate(det.training_frame_scores_)
    assert det.offset_ == pytest.approx(np.percentile(train_scores, 50))
    decision = det.decision_function(_videos([15, 100]))
    np.testing.assert_allclose(decision, det.score_samples(_videos([15, 100])) - det.offset_)
    labels = det.predict(_videos([15, 100]))
    assert set(labels[:5]) == {1} and set(labels[5:]) == {-1}


def test_a_nan_training_score_fails_the_fit_instead_of_giving_a_nan_threshold():
    class NanOnSecondVideo(MeanBrightnessDetector):
        def _score_frames(self, X):
            scores = super()._score_frames(X)
            scores[-1][0] = np.nan
            return scores

    det = NanOnSecondVideo()
    with pytest.raises(InvalidVideoError, match="training video 1.*nan"):
        det.fit(_videos([10, 20]))
    assert not hasattr(det, "offset_")


def test_unfitted_detector_raises_not_fitted_error():
    with pytest.raises(NotFittedError):
        MeanBrightnessDetector().score_frames(_videos([1]))


def test_invalid_contamination_is_rejected_naming_the_parameter():
    with pytest.raises(ValueError, match="contamination"):
        MeanBrightnessDetector(contamination=0.9).fit(_videos([1]))


def test_interrupted_fit_leaves_previous_fit_intact():
    det = InterruptedDetector()
    with pytest.raises(KeyboardInterrupt):
        det.fit(_videos([5]))
    assert not hasattr(det, "mean_")
    fitted = MeanBrightnessDetector().fit(_videos([5]))
    fitted.__class__ = InterruptedDetector
    with pytest.raises(KeyboardInterrupt):
        fitted.fit(_videos([50]))
    assert fitted.mean_ == 5.0 and hasattr(fitted, "offset_")


def test_refit_forgets_previous_training_scores():
    det = MeanBrightnessDetector().fit(_videos([5]))
    det.fit(_videos([5, 6, 7]))
    assert len(det.training_frame_scores_) == 3


def test_save_load_round_trip_preserves_scores_and_state(tmp_path):
    det = MeanBrightnessDetector(hidden=3).fit(_videos([10, 12]))
    path = det.save(tmp_path / "model.pyvad")
    loaded = pyvad.load(path, trusted_classes=[MeanBrightnessDetector])
    assert type(loaded) is MeanBrightnessDetector and loaded.get_params() == det.get_params()
    np.testing.assert_array_equal(loaded.table_, det.table_)
    assert loaded.table_.dtype == np.int16 and loaded.names_ == ["a", "b"]
    for a, b in zip(loaded.net_.parameters(), det.net_.parameters()):
        torch.testing.assert_close(a, b)
    np.testing.assert_allclose(loaded.score_samples(_videos([3])), det.score_samples(_videos([3])))
    assert loaded.offset_ == det.offset_


def test_load_refuses_classes_outside_pyvad_unless_trusted(tmp_path):
    path = MeanBrightnessDetector().fit(_videos([1])).save(tmp_path / "m.pyvad")
    with pytest.raises(ModelFileError, match="neither part of pyvad nor an installed plugin"):
        pyvad.load(path)


def test_zero_dimensional_arrays_keep_their_shape(tmp_path):
    det = MeanBrightnessDetector().fit(_videos([10]))
    det.index_ = np.array(1, dtype=np.int64)
    det.scale_ = np.array(0.5, dtype=np.float32)
    loaded = pyvad.load(det.save(tmp_path / "m.pyvad"), trusted_classes=[MeanBrightnessDetector])
    for name in ("index_", "scale_"):
        value, back = getattr(det, name), getattr(loaded, name)
        assert back.shape == () and back.dtype == value.dtype and back == value, name
    assert loaded.table_[loaded.index_].shape == (3,)


def test_a_model_file_without_a_header_checksum_still_loads(tmp_path):
    """Files written before the header had its own checksum."""
    det = MeanBrightnessDetector().fit(_videos([10, 12]))
    data = det.save(tmp_path / "m.pyvad").read_bytes()
    start = len(MAGIC) + 8
    end = start + int.from_bytes(data[len(MAGIC) : start], "little")
    header = json.loads(data[start:end])
    del header["header_sha256"]
    encoded = json.dumps(header, allow_nan=True).encode()
    old = tmp_path / "old.pyvad"
    old.write_bytes(MAGIC + len(encoded).to_bytes(8, "little") + encoded + data[end:])
    loaded = pyvad.load(old, trusted_classes=[MeanBrightnessDetector])
    assert loaded.offset_ == det.offset_
    np.testing.assert_allclose(loaded.score_samples(_videos([3])), det.score_samples(_videos([3])))


def test_a_bit_flip_in_the_header_raises_model_file_error_naming_the_file(tmp_path):
    path = MeanBrightnessDetector().fit(_videos([1])).save(tmp_path / "m.pyvad")
    data = path.read_bytes()
    digit = data.index(b'"mean_": 1.0') + len(b'"mean_": ')
    path.write_bytes(data[:digit] + b"0" + data[digit + 1 :])  # '1' ^ 0x01: still a valid model, another mean
    with pytest.raises(ModelFileError, match=r"m\.pyvad.*checksum of its header"):
        pyvad.load(path, trusted_classes=[MeanBrightnessDetector])


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_files_get_the_umask_mode_or_keep_the_replaced_files_mode(tmp_path):
    det = MeanBrightnessDetector().fit(_videos([1]))
    previous = os.umask(0o027)
    try:
        fresh = det.save(tmp_path / "new.pyvad")
        sidecar = write_atomically(tmp_path / "new.json", [b"{}"])
    finally:
        os.umask(previous)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640
    fresh.chmod(0o604)
    det.save(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o604


PLUGIN_DETECTORS = textwrap.dedent(
    '''
    import numpy as np
    from pyvad.base import BaseDetector


    class LevelDetector(BaseDetector):
        def __init__(self, contamination="auto"):
            self.contamination = contamination

        def _fit(self, X, y=None):
            self.mean_ = float(np.mean([np.mean(v) for v in X]))

        def _score_frames(self, X):
            return [np.abs(np.asarray(v, dtype=float).mean(axis=(1, 2)) - self.mean_) for v in X]
    '''
)


def test_a_plugin_whose_entry_point_names_a_re_export_loads_without_trust(tmp_path, monkeypatch):
    package = tmp_path / "reexporting_plugin"
    package.mkdir()
    (package / "detectors.py").write_text(PLUGIN_DETECTORS)
    (package / "__init__.py").write_text("from reexporting_plugin.detectors import LevelDetector\n")
    dist = tmp_path / "reexporting_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: reexporting-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nlevel = reexporting_plugin:LevelDetector\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        from reexporting_plugin import LevelDetector

        det = LevelDetector().fit(_videos([10, 20]))
        loaded = pyvad.load(det.save(tmp_path / "m.pyvad"))
        assert type(loaded) is LevelDetector and loaded.mean_ == det.mean_
    finally:
        for name in ("reexporting_plugin", "reexporting_plugin.detectors"):
            sys.modules.pop(name, None)


def test_unfitted_estimator_round_trips(tmp_path):
    path = MeanBrightnessDetector(hidden=7).save(tmp_path / "m.pyvad")
    loaded = pyvad.load(path, trusted_classes=[MeanBrightnessDetector])
    assert loaded.hidden == 7
    with pytest.raises(NotFittedError):
        loaded.score_frames(_videos([1]))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda data: b"", "not a pyvad model"),
        (lambda data: b"PK\x03\x04 a zip file", "not a pyvad model"),
        (lambda data: data[: len(data) // 2], "truncated|corrupt"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), "checksum"),
        (lambda data: MAGIC + b"\x05\x00\x00\x00\x00\x00\x00\x00{oops", "corrupt header"),
    ],
    ids=["empty", "foreign", "truncated", "bit-flip", "bad-json"],
)
def test_corrupt_model_files_raise_model_file_error(tmp_path, corrupt, message):
    path = MeanBrightnessDetector().fit(_videos([1])).save(tmp_path / "m.pyvad")
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ModelFileError, match=message):
        pyvad.load(path, trusted_classes=[MeanBrightnessDetector])


def test_model_file_from_newer_format_is_refused(tmp_path):
    path = MeanBrightnessDetector().fit(_videos([1])).save(tmp_path / "m.pyvad")
    data = path.read_bytes()
    newer = f'"format_version": {FORMAT_VERSION + 1}'.encode()
    path.write_bytes(data.replace(f'"format_version": {FORMAT_VERSION}'.encode(), newer))
    with pytest.raises(ModelFileError, match="newer"):
        pyvad.load(path, trusted_classes=[MeanBrightnessDetector])


def test_missing_model_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pyvad.load(tmp_path / "nope.pyvad")


def test_failed_save_keeps_existing_model_file(tmp_path, monkeypatch):
    path = MeanBrightnessDetector().fit(_videos([1])).save(tmp_path / "m.pyvad")
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        MeanBrightnessDetector().fit(_videos([200])).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pyvad"]


def test_unsupported_state_fails_at_save_naming_the_attribute(tmp_path):
    det = MeanBrightnessDetector().fit(_videos([1]))
    det.callback_ = lambda: None
    with pytest.raises(TypeError, match="callback_"):
        det.save(tmp_path / "m.pyvad")
    assert not (tmp_path / "m.pyvad").exists()


def test_joblib_and_pickle_round_trip(tmp_path):
    det = MeanBrightnessDetector().fit(_videos([10]))
    joblib.dump(det, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_allclose(again.score_samples(_videos([4])), det.score_samples(_videos([4])))
    assert pickle.loads(pickle.dumps(det)).mean_ == det.mean_


def test_clone_gives_unfitted_copy_with_same_params():
    det = MeanBrightnessDetector(hidden=9).fit(_videos([1]))
    copy = clone(det)
    assert copy.hidden == 9 and not hasattr(copy, "mean_")


def test_check_frame_labels_names_the_video_with_wrong_length():
    with pytest.raises(ValueError, match="video 1"):
        check_frame_labels([np.zeros(3), np.zeros(2)], [3, 4])
    with pytest.raises(ValueError, match="0 \\(normal\\) or 1"):
        check_frame_labels([np.array([0, 2, 1])], [3])
