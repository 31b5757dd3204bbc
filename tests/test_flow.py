"""Specification of the optical-flow estimators and weight loading."""

from __future__ import annotations

from urllib.error import URLError

import numpy as np
import pytest
import torch

from pyvad.exceptions import InvalidVideoError, ModelFileError
from pyvad.flow import (
    DISFlow,
    FarnebackFlow,
    RAFTFlow,
    WeightsUnavailableError,
    load_torchvision_model,
    make_flow,
    video_flow,
    video_frame_flow,
)


def shifted_pair(dx: int = 3, dy: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random texture and the same texture moved by (dx, dy) pixels."""
    rng = np.random.default_rng(0)
    big = np.kron(rng.integers(0, 256, (20, 24)), np.ones((4, 4))).astype(np.float32)
    import cv2

    big = cv2.GaussianBlur(big, (7, 7), 0).astype(np.uint8)[..., None].repeat(3, axis=2)
    return big[10:70, 10:86], big[10 - dy : 70 - dy, 10 - dx : 86 - dx]


@pytest.mark.parametrize("method", [DISFlow(), FarnebackFlow()])
def test_opencv_flow_recovers_a_global_translation(method):
    prev, nxt = shifted_pair(dx=3, dy=1)
    flow = method(prev, nxt)
    assert flow.shape == prev.shape[:2] + (2,) and flow.dtype == np.float32
    interior = flow[15:-15, 15:-15]
    assert np.median(interior[..., 0]) == pytest.approx(3, abs=0.5)
    assert np.median(interior[..., 1]) == pytest.approx(1, abs=0.5)


def test_flow_of_a_frame_looks_forward_except_on_the_last_frame():
    calls = []

    def recorder(prev, nxt):
        calls.append((int(prev[0, 0, 0]), int(nxt[0, 0, 0])))
        return np.zeros(prev.shape[:2] + (2,), np.float32)

    frames = np.arange(5, dtype=np.uint8)[:, None, None, None].repeat(4, 1).repeat(4, 2).repeat(3, 3)
    video_flow(frames, recorder)
    assert calls == [(0, 1), (1, 2), (2, 3), (3, 4), (3, 4)]
    assert not video_frame_flow(recorder, frames[:1], 0, 0, 1).any()  # one-frame video: zero flow


def test_unknown_flow_method_and_bad_frames_are_reported():
    with pytest.raises(ValueError, match="flow must be one of"):
        make_flow("lucas-kanade")
    with pytest.raises(InvalidVideoError, match="one size"):
        DISFlow()(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(InvalidVideoError, match="uint8"):
        DISFlow()(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32))


def test_raft_with_random_weights_runs_on_sizes_not_divisible_by_8():
    torch.manual_seed(0)
    raft = RAFTFlow(weights=None, num_flow_updates=2)
    prev, nxt = shifted_pair()
    flow = raft(prev[:42, :50], nxt[:42, :50])
    assert flow.shape == (42, 50, 2) and np.isfinite(flow).all()


def test_missing_weights_offline_raise_a_clear_error(monkeypatch):
    from torchvision.models import _api

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(_api, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match=r"download https://\S+raft_small\S+ .*weights_path="):
        RAFTFlow()(*shifted_pair())


def test_weights_can_come_from_a_local_file(tmp_path):
    torch.manual_seed(0)
    reference = load_torchvision_model("raft_small", weights=None)
    path = tmp_path / "raft_small.pth"
    torch.save(reference.state_dict(), path)
    loaded = load_torchvision_model("raft_small", weights_path=path)
    for (name, a), b in zip(reference.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_bad_local_weights_files_are_reported(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        load_torchvision_model("raft_small", weights_path=tmp_path / "missing.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="garbage.pth"):
        load_torchvision_model("raft_small", weights_path=garbage)
    foreign = tmp_path / "foreign.pth"
    torch.save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(ModelFileError, match="does not fit"):
        load_torchvision_model("raft_small", weights_path=foreign)
