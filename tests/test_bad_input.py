"""Bad input never crashes obscurely and nothing is lost.

The catalogue below feeds every public entry point (readers, loaders, extractors,
estimators, model files, trainer, command line) the footage and files users really
have: broken, empty, tiny, mixed, foreign. Each case either raises a documented
exception type whose message names the video / frame / parameter, or is handled as
documented (and the test checks the documented result). The last sections check
that interrupted saves, fits and training runs leave consistent files and estimators.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import pyvad
from pyvad.base import check_frame_labels
from pyvad.cli import main as cli_main
from pyvad.datasets import load_dataset
from pyvad.exceptions import (
    DatasetNotFoundError,
    FrameSizeMismatchError,
    InvalidVideoError,
    ModelFileError,
    VideoReadError,
)
from pyvad.foreground import MotionForeground, PrecomputedBoxes, WholeFrames
from pyvad.methods import METHODS, MotionBaselineDetector, get_method
from pyvad.metrics import micro_auc
from pyvad.persistence import FORMAT_VERSION, MAGIC, header_checksum
from pyvad.training import Trainer, resolve_device
from pyvad.video import Video, as_videos, write_video

REPO = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SIZE = (24, 32)  # (H, W) of the tiny test videos


def _frames(n: int = 8, size: tuple[int, int] = SIZE, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *size, channels), dtype=np.uint8)


def _write_png_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    import cv2

    folder.mkdir(parents=True)
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame)
    return folder


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> SimpleNamespace:
    """Files, folders and a fitted detector shared by the catalogue (built once)."""
    tmp = tmp_path_factory.mktemp("bad_input")
    good = write_video(tmp / "good.avi", _frames(20))
    data = good.read_bytes()
    (tmp / "truncated.avi").write_bytes(data[: len(data) // 2])
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "notes.mp4").write_text("these are meeting notes, not a video\n")
    (tmp / "locked.avi").write_bytes(data)
    os.chmod(tmp / "locked.avi", 0)
    (tmp / "no_images").mkdir()
    _write_png_folder(tmp / "mixed_sizes", [_frames(1)[0], _frames(1)[0], _frames(1, size=(30, 32))[0]])
    write_video(tmp / "taller.avi", _frames(8, size=(30, 32)))

    detector = MotionBaselineDetector(grid=(2, 2)).fit([_frames(12, seed=1), _frames(12, seed=2)])
    model = detector.save(tmp / "model.pyvad")
    (tmp / "locked.pyvad").write_bytes(model.read_bytes())
    os.chmod(tmp / "locked.pyvad", 0)

    dataset = tmp / "dataset"
    write_video(dataset / "train" / "walk.avi", _frames(10, seed=3))
    write_video(dataset / "test" / "run.avi", _frames(10, seed=4))
    return SimpleNamespace(tmp=tmp, good=good, detector=detector, model=model, dataset=dataset)


# ---------------------------------------------------------------------------------------
# Model files: corrupt, truncated, foreign, newer, pickled code
# ---------------------------------------------------------------------------------------
def _model_variant(env: SimpleNamespace, name: str, transform: Callable[[bytes], bytes]) -> Path:
    path = env.tmp / name
    path.write_bytes(transform(env.model.read_bytes()))
    return path


def _rebuild(data: bytes, header: Any = None, body: bytes | None = None) -> bytes:
    """A well-formed model file from ``data`` with another JSON header and/or body (checksums updated)."""
    header_len = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8
    if header is None:
        header = json.loads(data[start : start + header_len])
    if body is None:
        body = data[start + header_len :]
    if isinstance(header, dict):
        header = {**header, "body_sha256": hashlib.sha256(body).hexdigest(), "body_bytes": len(body)}
        header["header_sha256"] = header_checksum(header)
    encoded = json.dumps(header).encode()
    return MAGIC + len(encoded).to_bytes(8, "little") + encoded + body


def _newer_format(data: bytes) -> bytes:
    # The header checksum no longer matches: the version check comes first, so the message is still "upgrade".
    return data.replace(f'"format_version": {FORMAT_VERSION}'.encode(), f'"format_version": {FORMAT_VERSION + 1}'.encode())


def _unknown_parameter(data: bytes) -> bytes:
    # A parameter this pyvad does not have, in an otherwise intact file (as a newer pyvad would write it).
    return _rebuild(data.replace(b'"n_background_frames"', b'"n_foreground_frames"', 1))


def _flipped_header_digit(data: bytes) -> bytes:
    # One bit of the threshold's first digit: still valid JSON, but another model.
    start = data.index(b'"offset_": ') + len(b'"offset_": ')
    digit = start + next(i for i, byte in enumerate(data[start:]) if chr(byte).isdigit())
    return data[:digit] + bytes([data[digit] ^ 0x01]) + data[digit + 1 :]


# ---------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One bad input: ``call(env)`` must raise ``error`` with a message matching ``match``."""

    id: str
    call: Callable[[SimpleNamespace], Any]
    error: type[BaseException]
    match: str


def _fit_baseline(videos: Any) -> MotionBaselineDetector:
    return MotionBaselineDetector(grid=(2, 2)).fit(videos)


def _nan_frames() -> np.ndarray:
    frames = np.full((4, *SIZE, 3), 0.5)
    frames[2, 3, 4, 0] = np.nan
    return frames


def _inf_frames() -> np.ndarray:
    frames = np.full((4, *SIZE, 3), 0.5)
    frames[1, 0, 0, :] = np.inf
    return frames


def _box_video_with(box: list[float]) -> Any:
    boxes = [[np.array([box]), [], []]]
    return PrecomputedBoxes(boxes, patch_size=8).fit().transform([_frames(3)])


def _folder_dataset_with_labels(env: SimpleNamespace, name: str, csv_text: str) -> Path:
    root = env.tmp / name
    for split, video in (("train", "walk.avi"), ("test", "run.avi")):
        (root / split).mkdir(parents=True)
        (root / split / video).write_bytes((env.dataset / split / video).read_bytes())
    (root / "test_labels.csv").write_text(csv_text)
    return root


CASES = [
    # -- readers -----------------------------------------------------------------
    Case("reader-missing-path", lambda e: Video(e.tmp / "nowhere.mp4"), VideoReadError, r"'nowhere'.*does not exist"),
    Case("reader-zero-byte-file", lambda e: Video(e.tmp / "empty.mp4"), VideoReadError, r"'empty'.*0 bytes"),
    Case("reader-non-video-file", lambda e: Video(e.tmp / "notes.mp4"), VideoReadError, r"'notes'.*cannot open"),
    Case("reader-truncated-file", lambda e: Video(e.tmp / "truncated.avi").to_array(), VideoReadError,
         r"'truncated': frame \d+ .*truncated"),
    Case("reader-folder-without-images", lambda e: Video(e.tmp / "no_images"), VideoReadError, r"no frame images"),
    Case("reader-mixed-frame-sizes-within-a-video", lambda e: Video(e.tmp / "mixed_sizes").to_array(),
         FrameSizeMismatchError, r"'mixed_sizes': frame 2 .*30x32"),
    Case("reader-wrong-ndim", lambda e: Video(np.zeros((24, 32), np.uint8)), InvalidVideoError, r"2 dimensions"),
    Case("reader-wrong-dtype", lambda e: Video(np.zeros((2, 24, 32, 3), np.complex64)), InvalidVideoError,
         r"dtype complex64"),
    Case("reader-four-channels", lambda e: Video(np.zeros((2, 24, 32, 4), np.uint8)), InvalidVideoError,
         r"1 or 3 channels"),
    Case("reader-nan-frame", lambda e: Video(_nan_frames(), name="cam1"), InvalidVideoError, r"'cam1': frame 2 .*NaN"),
    Case("reader-inf-frame", lambda e: Video(_inf_frames(), name="cam1"), InvalidVideoError, r"'cam1': frame 1 .*inf"),
    Case("reader-float-out-of-range", lambda e: Video(np.full((2, 4, 4, 3), 255.0)), InvalidVideoError,
         r"\[0, 1\].*frame 0"),
    Case("reader-empty-video", lambda e: Video(np.zeros((0, 24, 32, 3), np.uint8), name="cam1"), InvalidVideoError,
         r"'cam1'.*empty"),
    # -- loaders -----------------------------------------------------------------
    Case("loader-empty-list", lambda e: as_videos([]), InvalidVideoError, r"empty list"),
    Case("loader-not-a-video", lambda e: as_videos({"video": 1}), TypeError, r"got a dict"),
    Case("loader-bad-item-in-list", lambda e: as_videos([_frames(2), 5]), TypeError, r"item 1 is a int"),
    Case("loader-dataset-root-missing", lambda e: load_dataset("ped2", e.tmp / "no_ped2"), DatasetNotFoundError,
         r"'ped2'.*no_ped2"),
    Case("loader-unknown-dataset", lambda e: load_dataset("ped3", e.dataset), ValueError, r"'ped3'.*ped2"),
    Case("loader-labels-beyond-the-video",
         lambda e: load_dataset("folder", _folder_dataset_with_labels(e, "late", "video,start,end\nrun,5,40\n")),
         InvalidVideoError, r"'run'.*\[5, 40\].*10 frames"),
    Case("loader-labels-without-header",
         lambda e: load_dataset("folder", _folder_dataset_with_labels(e, "headless", "run,1,2\n")),
         InvalidVideoError, r"lacks the column"),
    # -- labels and metrics ---------------------------------------------------------
    Case("labels-length-mismatch", lambda e: check_frame_labels([np.zeros(7)], [8]), ValueError,
         r"video 0.*\(8,\)"),
    Case("labels-video-count-mismatch", lambda e: check_frame_labels([np.zeros(8)] * 2, [8]), ValueError,
         r"2 videos but 1"),
    Case("metric-scores-shorter-than-labels",
         lambda e: micro_auc([np.array([0, 1, 0])], [np.array([0.1, 0.9])]), InvalidVideoError,
         r"video 0: y_true has 3 frames but y_score has 2"),
    Case("metric-nan-score", lambda e: micro_auc([np.array([0, 1])], [np.array([np.nan, 0.2])]), InvalidVideoError,
         r"frame 0"),
    # -- extractors ------------------------------------------------------------------
    Case("extractor-unfitted", lambda e: MotionForeground().transform([_frames()]), NotFittedError, r"not fitted"),
    Case("extractor-grayscale-and-colour-mixed",
         lambda e: MotionForeground().fit().transform([_frames(channels=1), Video(_frames(), name="colour")]),
         InvalidVideoError, r"'colour' has 3 channel\(s\) but video 'video_0' has 1"),
    Case("extractor-whole-frames-grayscale-and-colour-mixed",
         lambda e: WholeFrames(image_size=(8, 8)).fit().transform([_frames(), Video(_frames(channels=1), name="ir")]),
         InvalidVideoError, r"'ir' has 1 channel"),
    Case("extractor-invalid-image-size", lambda e: WholeFrames(image_size=(0, 16)).fit(), ValueError, r"image_size"),
    Case("extractor-negative-patch-size", lambda e: MotionForeground(patch_size=-3).fit(), ValueError, r"patch_size"),
    Case("extractor-box-with-nan", lambda e: _box_video_with([np.nan, 0, 4, 4]), InvalidVideoError,
         r"'video_0', frame 0.*not finite"),
    Case("extractor-box-outside-the-frame", lambda e: _box_video_with([100, 100, 200, 200]), InvalidVideoError,
         r"frame 0.*outside the 24x32"),
    Case("extractor-inverted-box", lambda e: _box_video_with([10, 10, 2, 2]), InvalidVideoError, r"no area"),
    Case("extractor-boxes-for-missing-frames",
         lambda e: PrecomputedBoxes([[[], [], [], np.array([[0, 0, 4, 4]])]]).fit().transform([_frames(3)]),
         InvalidVideoError, r"'video_0' has 3 frames but boxes are given for frame 3"),
    # -- estimators (MotionBaselineDetector) --------------------------------------------------
    Case("estimator-empty-list", lambda e: _fit_baseline([]), InvalidVideoError, r"empty list"),
    Case("estimator-empty-video", lambda e: _fit_baseline([np.zeros((0, 24, 32, 3), np.uint8)]), InvalidVideoError,
         r"'video_0'.*empty"),
    Case("estimator-nan-frames", lambda e: _fit_baseline([_frames(), _nan_frames()]), InvalidVideoError,
         r"'video_1': frame 2"),
    Case("estimator-frame-sizes-differ-across-videos",
         lambda e: _fit_baseline([_frames(), Video(_frames(size=(30, 32)), name="cam2")]), FrameSizeMismatchError,
         r"'cam2'.*\(30, 32\)"),
    Case("estimator-scoring-another-frame-size", lambda e: e.detector.score_frames([e.tmp / "taller.avi"]),
         FrameSizeMismatchError, r"'taller.*training videos"),
    Case("estimator-scoring-a-truncated-file", lambda e: e.detector.score_frames([e.tmp / "truncated.avi"]),
         VideoReadError, r"'truncated': frame \d+"),
    Case("estimator-unfitted", lambda e: MotionBaselineDetector().score_frames([_frames()]), NotFittedError,
         r"not fitted"),
    Case("estimator-invalid-grid", lambda e: MotionBaselineDetector(grid=(0, 2)).fit([_frames()]), ValueError,
         r"grid"),
    Case("estimator-invalid-contamination", lambda e: MotionBaselineDetector(contamination=0.9).fit([_frames()]),
         ValueError, r"contamination"),
    Case("estimator-score-fusion-on-videos", lambda e: pyvad.ScoreFusion().fit([_frames()]), TypeError,
         r"expects a ScoreTable"),
    # -- model files --------------------------------------------------------------------
    Case("model-missing", lambda e: pyvad.load(e.tmp / "absent.pyvad"), FileNotFoundError, r"absent.pyvad"),
    Case("model-path-is-a-folder", lambda e: pyvad.load(e.tmp), ModelFileError, r"is a directory"),
    Case("model-foreign-file", lambda e: pyvad.load(e.tmp / "notes.mp4"), ModelFileError, r"not a pyvad model"),
    Case("model-joblib-pickle",
         lambda e: pyvad.load(_model_variant(e, "pickled.pyvad", lambda _: pickle.dumps(e.detector))),
         ModelFileError, r"joblib"),
    Case("model-truncated", lambda e: pyvad.load(_model_variant(e, "half.pyvad", lambda d: d[: len(d) // 2])),
         ModelFileError, r"truncated|corrupt"),
    Case("model-corrupt-body",
         lambda e: pyvad.load(_model_variant(e, "flipped.pyvad", lambda d: d[:-3] + bytes(b ^ 0x55 for b in d[-3:]))),
         ModelFileError, r"checksum"),
    Case("model-corrupt-header",
         lambda e: pyvad.load(_model_variant(e, "flipped-header.pyvad", _flipped_header_digit)),
         ModelFileError, r"flipped-header\.pyvad.*checksum of its header"),
    Case("model-header-not-an-object",
         lambda e: pyvad.load(_model_variant(e, "list.pyvad", lambda d: _rebuild(d, header=[1, 2]))),
         ModelFileError, r"corrupt header"),
    Case("model-newer-format-version", lambda e: pyvad.load(_model_variant(e, "newer.pyvad", _newer_format)),
         ModelFileError, r"format version 2, newer"),
    Case("model-unknown-parameter", lambda e: pyvad.load(_model_variant(e, "future.pyvad", _unknown_parameter)),
         ModelFileError, r"\['n_foreground_frames'\].*newer pyvad"),
    # -- training and devices -----------------------------------------------------------
    Case("trainer-negative-epochs",
         lambda e: Trainer(epochs=-1, verbose=0).fit(torch.nn.Linear(1, 1), lambda m, b, ep: m(b[0]).sum(),
                                                    torch.utils.data.TensorDataset(torch.zeros(2, 1))),
         ValueError, r"epochs must be a positive integer, got -1"),
    Case("trainer-unknown-device", lambda e: resolve_device("tpu"), ValueError, r"device='tpu'"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_raises_a_documented_error_naming_the_culprit(case: Case, env: SimpleNamespace) -> None:
    with pytest.raises(case.error, match=case.match):
        case.call(env)


@pytest.mark.skipif(IS_ROOT, reason="root reads files whatever their permissions")
@pytest.mark.parametrize(
    "call, error",
    [(lambda e: Video(e.tmp / "locked.avi"), VideoReadError), (lambda e: pyvad.load(e.tmp / "locked.pyvad"), OSError)],
    ids=["video", "model"],
)
def test_unreadable_files_raise_an_os_error_naming_the_file(call, error, env: SimpleNamespace) -> None:
    with pytest.raises(error, match=r"locked"):
        call(env)


def test_the_catalogue_is_long_enough() -> None:
    assert len(CASES) >= 30


# ---------------------------------------------------------------------------------------
# Handled as documented
# ---------------------------------------------------------------------------------------
def test_a_single_frame_video_gets_one_finite_score(env: SimpleNamespace) -> None:
    scores = env.detector.score_frames([_frames(1)])
    assert scores[0].shape == (1,) and np.isfinite(scores[0]).all()


def test_a_single_frame_training_video_fits() -> None:
    detector = _fit_baseline([_frames(1)])
    assert np.isfinite(detector.offset_)


def test_grey_footage_scores_the_same_stored_with_one_or_three_channels(env: SimpleNamespace) -> None:
    grey = _frames(6, channels=1, seed=9)
    one, three = env.detector.score_frames([grey, np.repeat(grey, 3, axis=-1)])
    np.testing.assert_allclose(one, three, atol=1e-9)


def test_videos_shorter_than_the_temporal_context_are_padded_with_their_edge_frames() -> None:
    extractor = MotionForeground(offsets=(-4, -3, -2, -1, 0), patch_size=8).fit()
    events = extractor.transform([_frames(2)])
    assert events.n_frames == [2] and len(events) > 0
    assert events.patches.shape[1] == 5  # all five offsets, even for a 2-frame video
    for patch in events.patches[events.frame_indices == 0]:  # offsets -4..-1 repeat frame 0
        for earlier in patch[:4]:
            np.testing.assert_array_equal(earlier, patch[4])


@pytest.mark.parametrize("name", ["cafe", "pkgnet", "maskedae"])
@pytest.mark.parametrize(
    "params, match",
    [({"preset": "nope"}, r"'preset'.*nope"), ({"epochs": -1}, r"'epochs'.*-1")],
    ids=["unknown-preset", "negative-epochs"],
)
def test_deep_methods_refuse_invalid_parameters_before_any_work(name: str, params: dict, match: str) -> None:
    cls = _registered(name)
    with pytest.raises(ValueError, match=match):
        cls(**params).fit([_frames(4)])


@pytest.mark.parametrize("name", ["cafe", "pkgnet", "maskedae"])
def test_unfitted_deep_methods_raise_not_fitted(name: str) -> None:
    with pytest.raises(NotFittedError):
        _registered(name)().score_frames([_frames(4)])


def test_deep_method_refuses_an_unknown_device() -> None:
    with pytest.raises(ValueError, match=r"device='tpu'"):
        _registered("maskedae")(device="tpu").fit([_frames(4)])


def _registered(name: str) -> type:
    if name not in METHODS:
        pytest.skip(f"method {name!r} is not registered yet")
    try:
        return get_method(name)
    except ImportError as exc:
        pytest.skip(f"method {name!r} cannot be imported yet: {exc}")


def test_loading_never_runs_code_pickled_into_the_tensor_body(env: SimpleNamespace, tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buffer = io.BytesIO()
    torch.save([Payload()], buffer)
    path = tmp_path / "evil.pyvad"
    path.write_bytes(_rebuild(env.model.read_bytes(), body=buffer.getvalue()))
    with pytest.raises(ModelFileError, match="unreadable tensor body"):
        pyvad.load(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------
# Command line: exit status 2 and one line naming the problem
# ---------------------------------------------------------------------------------------
CLI_CASES = {
    "missing-input": (lambda e: ["fit", str(e.tmp / "gone.avi"), "--method", "baseline", "--output",
                                 str(e.tmp / "cli.pyvad")], r"'gone'.*does not exist"),
    "non-video-input": (lambda e: ["fit", str(e.tmp / "notes.mp4"), "--method", "baseline", "--output",
                                   str(e.tmp / "cli.pyvad")], r"'notes'.*cannot open"),
    "no-input": (lambda e: ["fit", "--method", "baseline", "--output", str(e.tmp / "cli.pyvad")], r"give input videos"),
    "unknown-method": (lambda e: ["fit", str(e.good), "--method", "magic", "--output", str(e.tmp / "cli.pyvad")],
                       r"unknown method 'magic'"),
    "preset-the-method-lacks": (lambda e: ["fit", str(e.good), "--method", "baseline", "--preset", "ped2",
                                           "--output", str(e.tmp / "cli.pyvad")], r"no parameter 'preset'"),
    "frame-sizes-differ": (lambda e: ["fit", str(e.good), str(e.tmp / "taller.avi"), "--method", "baseline",
                                      "--output", str(e.tmp / "cli.pyvad")], r"'taller'"),
    "corrupt-model": (lambda e: ["score", str(e.good), "--model", str(e.tmp / "notes.mp4"), "--output",
                                 str(e.tmp / "s.csv")], r"not a pyvad model"),
    "missing-model": (lambda e: ["score", str(e.good), "--model", str(e.tmp / "absent.pyvad"), "--output",
                                 str(e.tmp / "s.csv")], r"absent.pyvad.*does not exist"),
    "score-another-frame-size": (lambda e: ["score", str(e.tmp / "taller.avi"), "--model", str(e.model), "--output",
                                            str(e.tmp / "s.csv")], r"'taller.*training videos"),
    "score-truncated-file": (lambda e: ["score", str(e.tmp / "truncated.avi"), "--model", str(e.model), "--output",
                                        str(e.tmp / "s.csv")], r"'truncated': frame \d+"),
    "missing-dataset": (lambda e: ["evaluate", "--dataset", "ped2", "--root", str(e.tmp / "no_ped2")], r"'ped2'"),
}
DEEP_CLI_CASES = {
    "unknown-preset": ("pkgnet", ["--preset", "nope"], r"'preset'.*nope"),
    "negative-epochs": ("cafe", ["--epochs", "-1"], r"'epochs'.*-1"),
    "unknown-device": ("maskedae", ["--device", "tpu"], r"device='tpu'"),
}


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    status = cli_main(argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_reports_bad_input_in_one_line_with_status_2(case: str, env: SimpleNamespace, capsys) -> None:
    argv, match = CLI_CASES[case]
    status, err = _run_cli(argv(env), capsys)
    assert status == 2
    assert err.startswith("pyvad: error: ") and err.count("\n") == 1
    assert re.search(match, err), err


@pytest.mark.parametrize("case", sorted(DEEP_CLI_CASES))
def test_cli_reports_invalid_method_options_in_one_line(case: str, env: SimpleNamespace, capsys) -> None:
    method, options, match = DEEP_CLI_CASES[case]
    _registered(method)
    argv = ["fit", str(env.good), "--method", method, *options, "--output", str(env.tmp / "deep.pyvad")]
    status, err = _run_cli(argv, capsys)
    assert status == 2 and err.count("\n") == 1
    assert re.search(match, err), err


# ---------------------------------------------------------------------------------------
# Nothing is lost: interrupted saves, fits and training runs
# ---------------------------------------------------------------------------------------
def test_a_crash_while_writing_the_body_keeps_the_existing_model_file(env: SimpleNamespace, tmp_path: Path,
                                                                      monkeypatch) -> None:
    path = tmp_path / "model.pyvad"
    path.write_bytes(env.model.read_bytes())
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class _DiesMidBody:
        """A file handle whose writes fail once the header is out (power cut mid-body)."""

        def __init__(self, handle):
            self._handle, self._writes = handle, 0

        def write(self, data: bytes) -> int:
            self._writes += 1
            if self._writes == 4:  # magic, length, header, then the body
                self._handle.write(data[: len(data) // 2])
                raise KeyboardInterrupt("interrupted while writing the body")
            return self._handle.write(data)

        def __getattr__(self, name: str):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self._handle.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _DiesMidBody(real_fdopen(fd, mode)))
    refitted = MotionBaselineDetector(grid=(3, 3)).fit([_frames(6, seed=5)])
    with pytest.raises(KeyboardInterrupt):
        refitted.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pyvad"]  # no half-written temporary left
    np.testing.assert_array_equal(pyvad.load(path).score_samples([_frames(3)]),
                                  env.detector.score_samples([_frames(3)]))


def _interrupt_on_call(monkeypatch, owner: Any, name: str, call: int) -> None:
    """Make ``owner.name`` raise KeyboardInterrupt (Ctrl-C) on its ``call``-th call."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, interrupted)


@pytest.mark.parametrize("where", ["cell statistics", "fusion fit"])
def test_ctrl_c_during_fit_leaves_an_unfitted_detector_unfitted(where: str, monkeypatch) -> None:
    from pyvad.methods import baseline

    if where == "cell statistics":
        _interrupt_on_call(monkeypatch, baseline, "_cell_means", 2)
    else:
        _interrupt_on_call(monkeypatch, pyvad.ScoreFusion, "fit", 1)
    detector = MotionBaselineDetector(grid=(2, 2))
    with pytest.raises(KeyboardInterrupt):
        detector.fit([_frames(6)])
    assert not [name for name in vars(detector) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        detector.score_frames([_frames(3)])


def test_ctrl_c_during_refit_keeps_the_previous_fit(env: SimpleNamespace, monkeypatch) -> None:
    from pyvad.methods import baseline

    detector = MotionBaselineDetector(grid=(2, 2)).fit([_frames(12, seed=1), _frames(12, seed=2)])
    before = {name: value for name, value in vars(detector).items() if name.endswith("_")}
    expected = detector.score_frames([_frames(5, seed=8)])
    _interrupt_on_call(monkeypatch, baseline, "_cell_means", 2)
    with pytest.raises(KeyboardInterrupt):
        detector.fit([_frames(9, seed=7)])
    monkeypatch.undo()
    assert {name for name in vars(detector) if name.endswith("_")} == set(before)
    assert all(vars(detector)[name] is value for name, value in before.items())
    np.testing.assert_array_equal(detector.score_frames([_frames(5, seed=8)])[0], expected[0])


_TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from pyvad.training import Callback, Trainer

    class Announce(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            print(f"epoch {epoch} done", flush=True)
            time.sleep(0.1)

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    data = TensorDataset(x, x.sum(dim=1, keepdim=True))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))
    trainer = Trainer(epochs=int(sys.argv[2]), batch_size=8, optimizer="sgd", lr=0.01,
                      optimizer_kwargs={"momentum": 0.9}, device="cpu", random_state=0, verbose=0,
                      checkpoint_dir=sys.argv[1], resume=True, callbacks=[Announce()])
    trainer.fit(model, lambda m, b, e: nn.functional.mse_loss(m(b[0]), b[1]), data)
    print("finished", trainer.start_epoch_, flush=True)
    """
)


def _start_training(script: Path, checkpoint_dir: Path, epochs: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), str(checkpoint_dir), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_sigterm_during_training_leaves_a_checkpoint_that_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(_TRAIN_SCRIPT)
    epochs = 6
    interrupted_dir, reference_dir = tmp_path / "interrupted", tmp_path / "reference"

    process = _start_training(script, interrupted_dir, epochs)
    for line in process.stdout:  # let a few epochs (and checkpoints) happen, then terminate it
        if line.startswith("epoch 1 done"):
            break
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGTERM

    checkpoint = torch.load(interrupted_dir / "fit-last.pt", weights_only=True)
    assert 2 <= checkpoint["run"]["epoch"] < epochs and not checkpoint["run"]["finished"]

    resumed = _start_training(script, interrupted_dir, epochs)
    reference = _start_training(script, reference_dir, epochs)
    resumed_out, resumed_err = resumed.communicate(timeout=120)
    reference_out, _ = reference.communicate(timeout=120)
    assert resumed.returncode == 0, resumed_err
    assert f"finished {checkpoint['run']['epoch']}" in resumed_out and "finished 0" in reference_out

    final = torch.load(interrupted_dir / "fit-last.pt", weights_only=True)
    expected = torch.load(reference_dir / "fit-last.pt", weights_only=True)
    def losses(ckpt: dict) -> list[float]:
        return [epoch_logs["loss"] for epoch_logs in ckpt["run"]["history"]]

    assert losses(final) == losses(expected) and len(losses(final)) == epochs
    for name, tensor in expected["model"].items():
        assert torch.equal(final["model"][name], tensor), name


def test_an_interrupted_checkpoint_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from pyvad import training

    path = tmp_path / "fit-last.pt"
    training._atomic_save({"epoch": 1}, path)
    real_save = torch.save

    def save_then_die(obj, handle, *args, **kwargs):
        real_save(obj, handle, *args, **kwargs)
        handle.truncate(10)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        training._atomic_save({"epoch": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["fit-last.pt"]


# ---------------------------------------------------------------------------------------
# A deep method end to end (AED-MAE, the cheapest to fit on a CPU)
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_maskedae():
    cls = _registered("maskedae")
    detector = cls(preset="fast", image_size=(16, 24), epochs=1, teacher_epochs=1, student_epochs=1, batch_size=8,
                   architecture={"encoder_dim": 16, "decoder_dim": 8}, device="cpu", random_state=0, verbose=0)
    return detector.fit([_frames(8, seed=1), _frames(8, seed=2)])


def test_deep_method_scores_a_video_shorter_than_its_temporal_context(tiny_maskedae) -> None:
    scores = tiny_maskedae.score_frames([_frames(1, seed=3), _frames(2, seed=4)])
    assert [s.shape for s in scores] == [(1,), (2,)]
    assert all(np.isfinite(s).all() for s in scores)


def test_deep_method_scoring_grey_footage_after_colour_training_is_refused_clearly(tiny_maskedae) -> None:
    with pytest.raises(InvalidVideoError, match=r"'video_0'.*channel"):
        tiny_maskedae.score_frames([_frames(4, channels=1)])
