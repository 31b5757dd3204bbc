"""Deployment export: exported graphs score frames like the PyTorch path, for every detector and format.

Detectors are tiny (random teachers asked for by name, 8-channel students, one epoch) and
videos synthetic; what is checked is that the graph plus the numpy steps around it give the
same frame scores as ``det.score_samples``, not the quality of the scores.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from pyvad.exceptions import ModelFileError
from pyvad.export import ExportedDetector
from pyvad.methods.cafe import CAFEDetector
from pyvad.methods.maskedae import MaskedAEDetector
from pyvad.methods.pkgnet import PKGNetDetector
from pyvad.synthetic import make_train_test

TOLERANCE = 1e-4
HAS_ONNX = all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnxscript"))
DEPLOYMENT_PAGE = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"

# Graphs compute in float32, so each detector does too (CAFE's "fast" would use bf16 on CPUs that have it).
DETECTORS = {
    "cafe": lambda: CAFEDetector(
        "fast", teacher="resnet9_cifar", teacher_weights="random", teacher_input_size=0, student_widths=(8, 8, 8, 8),
        low_level=("patch",), epochs=1, ca_start_epoch=0, batch_size=64, device="cpu", random_state=0, amp="fp32",
    ),
    "pkgnet": lambda: PKGNetDetector(
        "fast", teacher="resnet18", teacher_weights="random", width=8, epochs=1, batch_size=64, device="cpu",
        random_state=0,
    ),
    # a teacher whose convolutions pad from the input size (TensorFlow "same")
    "pkgnet_lite0": lambda: PKGNetDetector(
        "fast", teacher="efficientnet_lite0", teacher_weights="random", width=8, epochs=1, batch_size=64, device="cpu",
        random_state=0,
    ),
    "maskedae": lambda: MaskedAEDetector(
        "fast", image_size=(16, 24), batch_size=16, epochs=1, device="cpu", random_state=0,
        architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2),
    ),
    # two masked passes per frame in one graph
    "maskedae_complementary": lambda: MaskedAEDetector(
        "fast", image_size=(16, 24), batch_size=16, epochs=1, device="cpu", random_state=0, test_mask="complementary",
        architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2),
    ),
    # masking blanks the scored frame of hidden tokens inside the graph
    "maskedae_reference": lambda: MaskedAEDetector(
        "fast", image_size=(16, 24), batch_size=16, epochs=1, device="cpu", random_state=0, mask_scope="reference",
        architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2),
    ),
    # each frame picks its mask in the graph (checksum of its pixels)
    "maskedae_per_frame": lambda: MaskedAEDetector(
        "fast", image_size=(16, 24), batch_size=16, epochs=1, device="cpu", random_state=0, test_mask="per_frame",
        architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2),
    ),
}
FORMATS = [
    pytest.param("onnx", marks=pytest.mark.skipif(not HAS_ONNX, reason="onnx extra not installed")),
    "torchscript",
]


@pytest.fixture(scope="module")
def videos():
    return make_train_test(n_train=2, n_test=2, n_frames=16, frame_size=(48, 64), anomalies=("size",), random_state=0)


@pytest.fixture(scope="module")
def fitted(videos):
    train, _ = videos
    return {name: make().fit(train.videos) for name, make in DETECTORS.items()}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("method", sorted(DETECTORS))
def test_exported_frame_scores_match_the_pytorch_path(fitted, videos, tmp_path, method, format):
    detector, test = fitted[method], videos[1]
    path = detector.export(tmp_path / f"{method}.graph", format=format)
    # An odd batch size runs the dynamic batch axis with full and partial batches.
    exported = ExportedDetector(path, batch_size=5)
    expected = detector.score_samples(test.videos)
    got = exported.score_samples(test.videos)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.array_equal(exported.predict(test.videos), detector.predict(test.videos))


def test_the_sidecar_describes_inputs_outputs_and_the_numpy_steps(fitted, tmp_path):
    detector = fitted["cafe"]
    path = detector.export(tmp_path / "cafe.pt", format="torchscript")
    spec = json.loads((tmp_path / "cafe.pt.json").read_text())
    assert spec["graph_format"] == "torchscript" and spec["graph_file"] == "cafe.pt"
    assert spec["inputs"] == {"patches": {"dtype": "uint8", "shape": [None, 3, 32, 32, 3]}}
    assert spec["outputs"] == ["kd", "ca", "lo"]
    assert spec["postprocess"]["function"] == "pyvad.export:event_table"
    assert spec["fusion"]["state"]["mean_"] == detector.fusion_.mean_.tolist()
    assert spec["fusion"]["params"]["smoothing"] == "moving_average"
    assert spec["offset"] == detector.offset_
    assert spec["extractor"]["class"] == "pyvad.foreground.motion:MotionForeground"
    assert path == tmp_path / "cafe.pt"


def test_exported_detector_scores_an_event_set_like_videos(fitted, videos, tmp_path):
    detector, test = fitted["pkgnet"], videos[1]
    exported = ExportedDetector(detector.export(tmp_path / "pkgnet.pt", format="torchscript"))
    events = exported.events(test.videos)
    assert [s.tolist() for s in exported.score_frames(events)] == [s.tolist() for s in exported.score_frames(test.videos)]
    raw = exported.run(patches=events.patches[:3])
    assert sorted(raw) == ["kd_block1", "kd_block2", "pred"] and raw["pred"].shape == (3,)
    with pytest.raises(ValueError, match="dtype float64, the graph takes uint8"):  # [0, 1] floats would become 0 or 1
        exported.run(patches=events.patches[:3] / 255.0)


def test_export_of_an_unfitted_detector_raises_not_fitted(tmp_path):
    with pytest.raises(NotFittedError):
        DETECTORS["pkgnet"]().export(tmp_path / "model.pt", format="torchscript")


@pytest.mark.parametrize(("target", "format", "error", "match"), [
    ("model.bin", "tflite", ValueError, "format must be one of"),
    (".", "torchscript", ValueError, "is a folder"),
    (3, "torchscript", TypeError, "str or path-like"),
])
def test_export_rejects_a_bad_format_or_path(fitted, tmp_path, target, format, error, match):
    target = tmp_path / target if isinstance(target, str) else target
    with pytest.raises(error, match=match):
        fitted["cafe"].export(target, format=format)


def test_a_failed_export_leaves_the_previous_files_untouched(fitted, tmp_path, monkeypatch):
    path = fitted["pkgnet"].export(tmp_path / "model.pt", format="torchscript")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("pyvad.persistence.os.replace", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        fitted["maskedae"].export(path, format="torchscript")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.pt.json"]


def test_a_failure_while_writing_the_sidecar_keeps_the_previous_pair(fitted, tmp_path, monkeypatch):
    import pyvad.persistence

    path = fitted["pkgnet"].export(tmp_path / "model.pt", format="torchscript")
    sidecar = tmp_path / "model.pt.json"
    before = path.read_bytes(), sidecar.read_bytes()
    real_fsync, calls = pyvad.persistence.os.fsync, []

    def full_on_the_second_file(fd):
        calls.append(fd)
        if len(calls) == 2:  # the graph's temporary file is complete; the sidecar's is not
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(pyvad.persistence.os, "fsync", full_on_the_second_file)
    with pytest.raises(OSError, match="No space left"):
        fitted["maskedae"].export(path, format="torchscript")
    monkeypatch.undo()
    assert (path.read_bytes(), sidecar.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "model.pt.json"]
    ExportedDetector(path)


def test_loading_needs_the_sidecar_and_refuses_a_foreign_one(fitted, tmp_path):
    path = fitted["pkgnet"].export(tmp_path / "model.pt", format="torchscript")
    sidecar = tmp_path / "model.pt.json"
    fitted["cafe"].export(tmp_path / "other.pt", format="torchscript").replace(path)
    with pytest.raises(ModelFileError, match="does not match its sidecar"):
        ExportedDetector(path)
    sidecar.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFileError, match="not a pyvad export sidecar"):
        ExportedDetector(path)
    sidecar.unlink()
    with pytest.raises(FileNotFoundError, match="sidecar"):
        ExportedDetector(path)


@pytest.mark.skipif(not HAS_ONNX, reason="onnx extra not installed")
def test_the_deployment_page_example_runs_verbatim(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DEPLOYMENT_PAGE.read_text(), flags=re.S)
    assert blocks, "docs/deployment.md has no python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DEPLOYMENT_PAGE), "exec"), namespace)
    assert np.abs(namespace["frame_scores"] - (-namespace["det"].score_samples(namespace["test"].videos))).max() < TOLERANCE


@pytest.mark.parametrize(("version", "missing", "match"), [("2.4.1", None, r"torch >= 2\.5"), ("2.14.1", "onnxscript", "onnxscript")])
def test_onnx_export_without_its_requirements_says_what_is_missing(fitted, tmp_path, monkeypatch, version, missing, match):
    import pyvad.export

    monkeypatch.setattr(pyvad.export.torch, "__version__", version)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real_find_spec(name, *a))
    with pytest.raises(ImportError, match=match):
        fitted["pkgnet"].export(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
