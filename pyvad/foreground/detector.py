"""VEC's appearance branch: object-detector boxes with score/area/class filters and cover pruning."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from pyvad.exceptions import ModelFileError
from pyvad.flow import WeightsUnavailableError, load_torchvision_model
from pyvad.foreground._boxes import clip_boxes, prune_covered
from pyvad.foreground.base import BaseForeground, BoxSource, ChunkBoxes
from pyvad.video import Video

__all__ = ["DetectorForeground", "DETECTOR_PRESETS", "DNN_SUFFIXES"]

DETECTOR_PRESETS: dict[str, dict[str, float]] = {
    "ped2": {"score_thr": 0.5, "min_area": 10 * 10, "cover_thr": 0.6},
    "avenue": {"score_thr": 0.25, "min_area": 40 * 40, "cover_thr": 0.6},
    "shanghaitech": {"score_thr": 0.5, "min_area": 8 * 8, "cover_thr": 0.65},
}
"""VEC's appearance-branch numbers per dataset (its detector: COCO Cascade R-CNN)."""

DNN_SUFFIXES = (".pb", ".onnx", ".caffemodel", ".prototxt", ".weights", ".t7", ".net", ".xml", ".tflite")
"""Model files read with ``cv2.dnn.readNet`` instead of torchvision."""


def _coco_categories() -> list[str]:
    """torchvision's 91-entry COCO category list (index = label id)."""
    from torchvision.models import _meta

    return list(_meta._COCO_CATEGORIES)


@dataclass
class Detections:
    """Raw detections of one frame: boxes (K, 4), integer labels (K,), scores (K,)."""

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


class _TorchvisionBackend:
    """Runs a torchvision-style detection module (list of CHW tensors in [0, 1] -> list of dicts)."""

    def __init__(self, module: Any, device: str, batch_size: int) -> None:
        self.module = module.eval()
        self.device = device
        self.batch_size = batch_size
        self._on_device = False

    def __call__(self, frames: np.ndarray) -> list[Detections]:
        import torch

        if not self._on_device:
            self.module.to(self.device)
            self._on_device = True
        out: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            batch = frames[start : start + self.batch_size]
            if batch.shape[3] == 1:
                batch = np.repeat(batch, 3, axis=3)
            images = list(torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div(255.0).to(self.device))
            with torch.inference_mode():
                results = self.module(images)
            out.extend(
                Detections(r["boxes"].cpu().numpy(), r["labels"].cpu().numpy().astype(np.int64), r["scores"].cpu().numpy())
                for r in results
            )
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_on_device": False}


class _DnnBackend:
    """Runs an OpenCV-DNN SSD-style model (output ``(1, 1, N, 7)``: image, class, score, x1, y1, x2, y2 in [0, 1])."""

    def __init__(self, model: Path, config: Path | None, input_size: tuple[int, int], swap_rb: bool) -> None:
        self.model = model
        self.config = config
        self.input_size = input_size
        self.swap_rb = swap_rb
        self._net: Any = None

    def _network(self) -> Any:
        if self._net is None:
            try:
                self._net = cv2.dnn.readNet(str(self.model), "" if self.config is None else str(self.config))
            except cv2.error as err:
                raise ModelFileError(f"OpenCV DNN cannot read model {str(self.model)!r} (config {self.config}): {err}") from None
        return self._net

    def __call__(self, frames: np.ndarray) -> list[Detections]:
        net = self._network()
        out = []
        for frame in frames:
            height, width = frame.shape[:2]
            rgb = np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame
            net.setInput(cv2.dnn.blobFromImage(rgb, size=self.input_size, swapRB=self.swap_rb))
            rows = net.forward().reshape(-1, 7)
            boxes = rows[:, 3:7] * np.array([width, height, width, height], np.float32)
            out.append(Detections(boxes, rows[:, 1].astype(np.int64), rows[:, 2]))
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_net": None}


@dataclass
class DetectionFilter:
    """VEC's post-processing of raw detections.

    Parameters
    ----------
    score_thr : float
        Keep detections with score > ``score_thr``.
    min_area : float
        ... and ``(x2 - x1 + 1)(y2 - y1 + 1) >= min_area``.
    cover_thr : float
        Cover pruning threshold (:func:`~pyvad.foreground._boxes.prune_covered`).
    class_ids : frozenset of int or None
        Kept label ids (None: all classes, as VEC).
    max_area_fraction : float
        Drop boxes covering more than this fraction of the frame (1: keep all, as VEC).
    """

    score_thr: float
    min_area: float
    cover_thr: float
    class_ids: frozenset[int] | None
    max_area_fraction: float = 1.0

    def __call__(self, detections: Detections, height: int, width: int) -> np.ndarray:
        """Kept boxes of one frame, (K, 4) float32, clipped to the frame."""
        boxes = clip_boxes(detections.boxes, height, width)
        areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
        keep = (np.asarray(detections.scores) > self.score_thr) & (areas >= self.min_area)
        keep &= areas <= self.max_area_fraction * (height + 1) * (width + 1)
        if self.class_ids is not None:
            keep &= np.isin(detections.labels, list(self.class_ids))
        return prune_covered(boxes[keep], self.cover_thr)[0]


@dataclass
class _DetectorSource(BoxSource):
    backend: Any
    keep: DetectionFilter

    def frame_boxes(self, frames: np.ndarray) -> list[np.ndarray]:
        """Filtered detector boxes of every frame of ``frames``."""
        height, width = frames.shape[1:3]
        return [self.keep(d, height, width) for d in self.backend(frames)]

    def for_video(self, video: Video, index: int) -> ChunkBoxes:
        def boxes(frames: np.ndarray, first: int, start: int, stop: int) -> list[np.ndarray]:
            return self.frame_boxes(frames[start - first : stop - first])

        return boxes


def _is_dnn_file(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() in DNN_SUFFIXES


class DetectorForeground(BaseForeground):
    """Object boxes from a pretrained detector (VEC's appearance branch).

    Detections of every kept class with score above ``score_thr`` and area
    (``+1`` pixel convention) at least ``min_area`` are kept; then a box whose
    intersection with a larger box exceeds ``cover_thr`` of its own area is
    dropped (VEC's cover pruning).  ``fit`` loads the model (no training).

    Parameters
    ----------
    model : str, path or torch.nn.Module, default "fasterrcnn_resnet50_fpn_v2"
        A torchvision detection builder name (e.g.
        ``"fasterrcnn_resnet50_fpn_v2"``, ``"retinanet_resnet50_fpn_v2"``,
        ``"ssdlite320_mobilenet_v3_large"``); a model file for OpenCV DNN
        (suffix in :data:`DNN_SUFFIXES`, e.g. the COCO SSD-MobileNetV2 frozen
        graph ``.pb`` with its ``.pbtxt`` as ``dnn_config``; SSD-style output);
        or an already built torchvision-style detection module.
    weights : str or None, default "DEFAULT"
        torchvision weights name for a builder name.  Weights are fetched
        through torchvision's cache; offline, download the file elsewhere and
        pass ``weights_path``.  ``None`` means random weights (tests only).
    weights_path : str or path, optional
        Local torchvision state-dict file used instead of downloading.
    dnn_config : str or path, optional
        Config file of an OpenCV DNN model (``.pbtxt``, ``.prototxt`` ...).
    dnn_input_size : (int, int), default (300, 300)
        Network input ``(width, height)`` for OpenCV DNN.
    dnn_swap_rb : bool, default False
        Swap R and B before the DNN (frames are RGB; Caffe models want BGR: True).
    classes : sequence of str or int, optional
        Kept classes (COCO names like ``"person"`` or label ids); all classes
        when None, as VEC.
    preset : {"ped2", "avenue", "shanghaitech"}, default "ped2"
        VEC's ``score_thr``/``min_area``/``cover_thr`` (:data:`DETECTOR_PRESETS`).
    score_thr, min_area, cover_thr : float, optional
        Override the preset.
    max_area_fraction : float, default 1.0
        Drop detections covering more than this fraction of the frame before
        cover pruning (1.0: keep all, as VEC). Small single-shot detectors
        (e.g. OpenCV-DNN SSD-MobileNetV2) sometimes return one frame-sized box
        in crowded grey scenes, which cover pruning then lets swallow every
        person inside it; 0.5 avoids that.
    device : str, default "cpu"
    batch_size : int, default 4
        Frames per detector call.
    patch_size, offsets, with_flow, flow, n_jobs, chunk_size, cache_dir
        See :class:`~pyvad.foreground.base.BaseForeground`.

    Attributes
    ----------
    source_ : BoxSource
        The loaded detector and its filter.
    categories_ : list of str
        Class names by label id.

    Raises
    ------
    pyvad.flow.WeightsUnavailableError
        At ``fit`` when torchvision weights are neither cached nor downloadable.

    Examples
    --------
    >>> from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    >>> net = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)  # random: plumbing only
    >>> extractor = DetectorForeground(net, classes=["person"]).fit()
    """

    _parameter_constraints: dict = {
        **BaseForeground._parameter_constraints,
        "model": [str, os.PathLike, object],
        "weights": [str, None],
        "weights_path": [str, os.PathLike, None],
        "dnn_config": [str, os.PathLike, None],
        "dnn_input_size": [tuple, list],
        "dnn_swap_rb": ["boolean"],
        "classes": ["array-like", None],
        "preset": [StrOptions(set(DETECTOR_PRESETS))],
        "score_thr": [Interval(Real, 0, 1, closed="both"), None],
        "min_area": [Interval(Real, 0, None, closed="left"), None],
        "cover_thr": [Interval(Real, 0, 1, closed="both"), None],
        "max_area_fraction": [Interval(Real, 0, 1, closed="right")],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        model: Any = "fasterrcnn_resnet50_fpn_v2",
        *,
        weights: str | None = "DEFAULT",
        weights_path: str | Path | None = None,
        dnn_config: str | Path | None = None,
        dnn_input_size: tuple[int, int] = (300, 300),
        dnn_swap_rb: bool = False,
        classes: Sequence[str | int] | None = None,
        preset: str = "ped2",
        score_thr: float | None = None,
        min_area: float | None = None,
        cover_thr: float | None = None,
        max_area_fraction: float = 1.0,
        device: str = "cpu",
        batch_size: int = 4,
        patch_size: int | Sequence[int] = 32,
        offsets: Sequence[int] = (0,),
        with_flow: bool = False,
        flow: Any = "dis",
        n_jobs: int | None = None,
        chunk_size: int = 64,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.model = model
        self.weights = weights
        self.weights_path = weights_path
        self.dnn_config = dnn_config
        self.dnn_input_size = dnn_input_size
        self.dnn_swap_rb = dnn_swap_rb
        self.classes = classes
        self.preset = preset
        self.score_thr = score_thr
        self.min_area = min_area
        self.cover_thr = cover_thr
        self.max_area_fraction = max_area_fraction
        self.device = device
        self.batch_size = batch_size
        self.patch_size = patch_size
        self.offsets = offsets
        self.with_flow = with_flow
        self.flow = flow
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.cache_dir = cache_dir

    def _backend(self) -> tuple[Any, list[str]]:
        """The detector backend and its category names."""
        if _is_dnn_file(self.model):
            path = Path(self.model)
            if not path.is_file():
                raise WeightsUnavailableError(f"DetectorForeground: model file {str(path)!r} does not exist")
            config = None if self.dnn_config is None else Path(self.dnn_config)
            input_size = tuple(int(s) for s in self.dnn_input_size)
            return _DnnBackend(path, config, input_size, self.dnn_swap_rb), _coco_categories()
        if isinstance(self.model, (str, os.PathLike)):
            module = load_torchvision_model(str(self.model), self.weights, self.weights_path)
            return _TorchvisionBackend(module, self.device, self.batch_size), self._categories()
        if not callable(self.model):
            raise ValueError(f"DetectorForeground: model must be a torchvision builder name, a model file or a module, got {self.model!r}")
        return _TorchvisionBackend(self.model, self.device, self.batch_size), _coco_categories()

    def _categories(self) -> list[str]:
        import torchvision

        enum = torchvision.models.get_model_weights(str(self.model))
        member = enum.DEFAULT if self.weights in (None, "DEFAULT") else enum[self.weights]
        return list(member.meta.get("categories", _coco_categories()))

    def _class_ids(self, categories: list[str]) -> frozenset[int] | None:
        if self.classes is None:
            return None
        ids = set()
        for c in self.classes:
            if isinstance(c, (int, np.integer)):
                ids.add(int(c))
            elif c in categories:
                ids.add(categories.index(c))
            else:
                raise ValueError(f"DetectorForeground: unknown class {c!r}; known classes: {[k for k in categories if k != 'N/A']}")
        return frozenset(ids)

    def detection_filter(self, categories: list[str]) -> DetectionFilter:
        """VEC's post-processing with the preset applied and overrides taken.

        Parameters
        ----------
        categories : list of str
            The detector's class names, index = label id; used to turn the names in
            ``classes`` into label ids.

        Returns
        -------
        DetectionFilter
            ``score_thr``, ``min_area`` and ``cover_thr`` from the preset unless set on
            the extractor, plus ``classes`` and ``max_area_fraction``.

        Raises
        ------
        ValueError
            If a name in ``classes`` is not in ``categories``.
        """
        preset = DETECTOR_PRESETS[self.preset]
        values = {k: preset[k] if getattr(self, k) is None else getattr(self, k) for k in preset}
        return DetectionFilter(
            class_ids=self._class_ids(categories), max_area_fraction=self.max_area_fraction, **values
        )

    def _build_source(self, videos: list[Video] | None) -> BoxSource:
        backend, self.categories_ = self._backend()
        return _DetectorSource(backend, self.detection_filter(self.categories_))
