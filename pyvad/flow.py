"""Dense optical flow between consecutive frames.

Three estimators share one call signature, ``estimator(prev, next) -> (H, W, 2)``
float32 flow in pixels (``flow[y, x] = (dx, dy)`` moving ``prev`` towards
``next``):

- :class:`DISFlow` -- OpenCV's DIS, preset ``"medium"`` (the default: accurate
  and fast on a CPU);
- :class:`FarnebackFlow` -- OpenCV's Farneback;
- :class:`RAFTFlow` -- torchvision's RAFT, only with real weights (torchvision's
  weights API or a local file); weights are never fetched silently.

The flow *of frame* ``s`` of a video is the flow from ``s`` to ``s + 1``; on the
last frame it is the flow from ``s - 1`` to ``s`` (a one-frame video has zero
flow).  :func:`video_frame_flow` implements that rule; flow crops for events are
cut with the event box exactly as image patches are (:func:`pyvad.events.crop_patch`),
without rescaling the vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np
from sklearn.base import BaseEstimator

from pyvad.exceptions import InvalidVideoError, ModelFileError, WeightsUnavailableError

__all__ = [
    "DISFlow",
    "FarnebackFlow",
    "RAFTFlow",
    "WeightsUnavailableError",
    "load_torchvision_model",
    "make_flow",
    "video_flow",
    "video_frame_flow",
]


def _to_gray(frame: np.ndarray) -> np.ndarray:
    """8-bit single-channel version of an RGB/gray frame for OpenCV flow."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (1, 3):
        raise InvalidVideoError(f"optical flow needs uint8 (H, W, 1|3) frames, got {frame.dtype} {frame.shape}")
    return frame[..., 0] if frame.shape[2] == 1 else cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def _check_pair(prev: np.ndarray, nxt: np.ndarray) -> None:
    if prev.shape != nxt.shape:
        raise InvalidVideoError(f"optical flow needs two frames of one size, got {prev.shape} and {nxt.shape}")


_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlow(BaseEstimator):
    """OpenCV Dense Inverse Search optical flow.

    Parameters
    ----------
    preset : {"medium", "fast", "ultrafast"}, default "medium"

    Examples
    --------
    >>> import numpy as np
    >>> frame = np.zeros((32, 32, 3), np.uint8)
    >>> DISFlow()(frame, frame).shape
    (32, 32, 2)
    """

    def __init__(self, preset: str = "medium") -> None:
        self.preset = preset

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow from ``prev`` to ``nxt`` as float32 ``(H, W, 2)``."""
        if self.preset not in _DIS_PRESETS:
            raise ValueError(f"DISFlow preset must be one of {sorted(_DIS_PRESETS)}, got {self.preset!r}")
        _check_pair(prev, nxt)
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        return dis.calc(_to_gray(prev), _to_gray(nxt), None)


class FarnebackFlow(BaseEstimator):
    """OpenCV Farneback optical flow (parameters as ``cv2.calcOpticalFlowFarneback``).

    Parameters
    ----------
    pyr_scale : float, default 0.5
    levels : int, default 3
    winsize : int, default 15
    iterations : int, default 3
    poly_n : int, default 5
    poly_sigma : float, default 1.2
    """

    def __init__(
        self,
        pyr_scale: float = 0.5,
        levels: int = 3,
        winsize: int = 15,
        iterations: int = 3,
        poly_n: int = 5,
        poly_sigma: float = 1.2,
    ) -> None:
        self.pyr_scale = pyr_scale
        self.levels = levels
        self.winsize = winsize
        self.iterations = iterations
        self.poly_n = poly_n
        self.poly_sigma = poly_sigma

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow from ``prev`` to ``nxt`` as float32 ``(H, W, 2)``."""
        _check_pair(prev, nxt)
        return cv2.calcOpticalFlowFarneback(
            _to_gray(prev), _to_gray(nxt), None,
            self.pyr_scale, self.levels, self.winsize, self.iterations, self.poly_n, self.poly_sigma, 0,
        )


def _resolve_weights(builder: str, weights: Any) -> Any:
    """The torchvision weights enum member for ``weights`` (None stays None)."""
    import torchvision

    if weights is None or not isinstance(weights, str):
        return weights
    enum = torchvision.models.get_model_weights(builder)
    try:
        return enum[weights]
    except KeyError:
        names = ["DEFAULT"] + [w.name for w in enum]
        raise ValueError(f"unknown weights {weights!r} for torchvision model {builder!r}; choose one of {names}") from None


def _local_state_dict(path: Path) -> Any:
    """A state dict read from a local file, with clear errors."""
    import torch

    if not path.is_file():
        raise WeightsUnavailableError(f"weights_path {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign/corrupt files
        raise ModelFileError(f"weights_path {str(path)!r} is not a readable torch state dict: {err}") from err


def load_torchvision_model(
    builder: str,
    weights: Any = "DEFAULT",
    weights_path: str | Path | None = None,
    **kwargs: Any,
) -> Any:
    """Build a torchvision model with pretrained weights, never silently random.

    Parameters
    ----------
    builder : str
        A torchvision model builder name, e.g. ``"raft_small"`` or
        ``"fasterrcnn_mobilenet_v3_large_fpn"``.
    weights : str, weights enum or None, default "DEFAULT"
        torchvision weights (``"DEFAULT"``, an enum member name such as
        ``"COCO_V1"``, or the enum member).  ``None`` builds random weights and
        is only accepted when asked for explicitly (tests).
    weights_path : str or path, optional
        A local state-dict file (e.g. the ``.pth`` torchvision would download)
        used instead of downloading; the architecture follows ``weights``
        (``"DEFAULT"`` when ``weights`` is None).
    **kwargs
        Passed to the builder.

    Returns
    -------
    torch.nn.Module
        In eval mode, on the CPU.

    Raises
    ------
    WeightsUnavailableError
        When the weights are not cached and cannot be downloaded (offline), or
        ``weights_path`` does not exist.  The message names the URL to fetch on
        a connected machine and how to pass the file with ``weights_path=``.
    ModelFileError
        When ``weights_path`` is not a state dict of this model.
    """
    import torchvision
    from torchvision.models import _api

    try:
        build = torchvision.models.get_model_builder(builder)
    except ValueError as err:
        raise ValueError(f"unknown torchvision model {builder!r}: {err}") from None
    if weights_path is not None:
        member = _resolve_weights(builder, "DEFAULT" if weights is None else weights)
        state = _local_state_dict(Path(weights_path))
        try:
            with mock.patch.object(_api, "load_state_dict_from_url", lambda *a, **k: state):
                return build(weights=member, **kwargs).eval()
        except RuntimeError as err:
            raise ModelFileError(f"weights_path {str(weights_path)!r} does not fit torchvision model {builder!r}: {err}") from err
    member = _resolve_weights(builder, weights)
    try:
        return build(weights=member, **kwargs).eval()
    except OSError as err:
        raise WeightsUnavailableError(
            f"could not obtain the weights {member} of torchvision model {builder!r} ({err}). "
            f"Without internet access, download {member.url} on a connected machine and pass "
            f"weights_path='/path/to/{Path(member.url).name}'."
        ) from err


def _raft_side(side: int) -> int:
    """Padded image side for RAFT: a multiple of 8, at least 128."""
    return max(128, -(-side // 8) * 8)


class RAFTFlow(BaseEstimator):
    """torchvision RAFT optical flow (needs real weights).

    Parameters
    ----------
    model : {"raft_small", "raft_large"}, default "raft_small"
    weights : str or None, default "DEFAULT"
        torchvision weights name; ``None`` gives random weights (tests only).
    weights_path : str or path, optional
        Local weights file used instead of downloading.
    num_flow_updates : int, default 12
        RAFT refinement iterations.
    device : str, default "cpu"

    Notes
    -----
    Frames are padded (edge replication) to a multiple of 8 pixels and at least
    128 pixels per side (RAFT's correlation pyramid needs it); the flow is
    cropped back.
    The network is built on first use and not pickled.
    """

    def __init__(
        self,
        model: str = "raft_small",
        weights: str | None = "DEFAULT",
        weights_path: str | Path | None = None,
        num_flow_updates: int = 12,
        device: str = "cpu",
    ) -> None:
        self.model = model
        self.weights = weights
        self.weights_path = weights_path
        self.num_flow_updates = num_flow_updates
        self.device = device

    def _network(self) -> Any:
        if getattr(self, "_net", None) is None:
            if self.model not in ("raft_small", "raft_large"):
                raise ValueError(f"RAFTFlow model must be 'raft_small' or 'raft_large', got {self.model!r}")
            self._net = load_torchvision_model(self.model, self.weights, self.weights_path).to(self.device)
        return self._net

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_net", None)
        return state

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Flow from ``prev`` to ``nxt`` as float32 ``(H, W, 2)``."""
        import torch
        import torch.nn.functional as F

        _check_pair(prev, nxt)
        height, width = prev.shape[:2]
        pad = (0, _raft_side(width) - width, 0, _raft_side(height) - height)

        def tensor(frame: np.ndarray) -> torch.Tensor:
            rgb = np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame
            x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
            return F.pad(x, pad, mode="replicate").to(self.device)

        with torch.inference_mode():
            flows = self._network()(tensor(prev), tensor(nxt), num_flow_updates=self.num_flow_updates)
        return flows[-1][0, :, :height, :width].permute(1, 2, 0).cpu().numpy().astype(np.float32)


_FLOW_METHODS = {"dis": DISFlow, "farneback": FarnebackFlow, "raft": RAFTFlow}


def make_flow(flow: str | Any) -> Any:
    """A flow estimator from a name (``"dis"``, ``"farneback"``, ``"raft"``) or an instance.

    Parameters
    ----------
    flow : str or callable
        A method name (default parameters) or an estimator ``(prev, next) -> (H, W, 2)``.

    Returns
    -------
    callable
    """
    if isinstance(flow, str):
        if flow not in _FLOW_METHODS:
            raise ValueError(f"flow must be one of {sorted(_FLOW_METHODS)} or a flow estimator, got {flow!r}")
        return _FLOW_METHODS[flow]()
    if not callable(flow):
        raise ValueError(f"flow must be a method name or a callable flow estimator, got {type(flow).__name__}")
    return flow


def video_frame_flow(estimator: Any, frames: np.ndarray, first: int, index: int, n_frames: int) -> np.ndarray:
    """The flow of frame ``index`` of a video, from a block of its frames.

    Parameters
    ----------
    estimator : callable
        ``(prev, next) -> (H, W, 2)`` flow.
    frames : ndarray of shape (n, H, W, C)
        Frames ``first .. first + n - 1`` of the video; must include ``index``
        and ``index + 1`` (or ``index - 1`` on the last frame).
    first : int
        Video index of ``frames[0]``.
    index : int
        Frame whose flow is wanted.
    n_frames : int
        Length of the video.

    Returns
    -------
    ndarray of shape (H, W, 2), float32
        Flow ``index -> index + 1``; ``index - 1 -> index`` on the last frame;
        zeros for a one-frame video.
    """
    if n_frames == 1:
        return np.zeros(frames.shape[1:3] + (2,), np.float32)
    source = index if index + 1 < n_frames else index - 1
    return estimator(frames[source - first], frames[source + 1 - first])


def video_flow(frames: np.ndarray | Sequence[np.ndarray], estimator: Any = "dis") -> np.ndarray:
    """Flow of every frame of a (short, in-memory) video.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C), uint8
    estimator : str or callable, default "dis"

    Returns
    -------
    ndarray of shape (T, H, W, 2), float32
        See :func:`video_frame_flow` for the rule at the last frame.
    """
    frames = np.asarray(frames)
    method = make_flow(estimator)
    return np.stack([video_frame_flow(method, frames, 0, s, len(frames)) for s in range(len(frames))])
