"""Deployment export: a detector's scoring network as ONNX or TorchScript, plus a JSON sidecar.

``det.export("model.onnx")`` writes two files:

``model.onnx`` (or a TorchScript ``.pt``)
    The graph of the networks that score events: uint8 event cubes ``patches``
    ``(N, S, h, w, C)`` exactly as :attr:`pyvad.events.EventSet.patches` holds them (and, for
    CAFE's LL-O branch, ``flow`` ``(N, S, h, w, 2)`` float32) in, raw score components out.
    The batch axis ``N`` is dynamic. Pixel scaling, normalisation, cropping of the centre
    and context frames, the teacher, the student and the per-event error reductions are
    inside the graph.
``model.onnx.json``
    The sidecar: input and output spec, the post-processing function and its settings,
    the fusion's training statistics, weights, aggregation and smoothing, the threshold,
    the extractor's parameters, the pyvad and torch versions.

Steps that run **outside** the graph, in numpy, in this order (:class:`ExportedDetector`
does all of them):

1. extraction: videos → :class:`~pyvad.events.EventSet` with the detector's extractor
   (foreground boxes and crops, or whole resized frames for AED-MAE);
2. batching of ``EventSet.patches`` (and ``flow``) through the graph;
3. method post-processing to a :class:`~pyvad.fusion.ScoreTable`: one row per event for
   CAFE and PKG-Net; for AED-MAE the per-token maps of each video are filtered in space
   and time (3-D Gaussian), reduced to their frame maximum, and the class probability is
   filtered in time;
4. fusion (:class:`~pyvad.fusion.ScoreFusion` rebuilt from the sidecar): z-scores with the
   training statistics, weighted sum, event → frame aggregation, empty-frame filling,
   temporal smoothing per video.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from pyvad._version import __version__
from pyvad.events import EventSet
from pyvad.exceptions import ModelFileError
from pyvad.fusion import ScoreFusion, ScoreTable
from pyvad.inference import as_tensor
from pyvad.persistence import estimator_from_json, estimator_to_json, write_files_atomically
from pyvad.plugins import import_object
from pyvad.video import as_videos

__all__ = ["FORMATS", "ExportMixin", "ExportedDetector", "ScoringGraph", "event_table", "export_detector"]

FORMATS: dict[str, str] = {"onnx": "onnxruntime", "torchscript": "torch.jit"}
"""Export formats and the runtime that loads each."""

SIDECAR_FORMAT = "pyvad-export"
SIDECAR_VERSION = 1
_EXAMPLE_BATCH = 2
_FUSION_STATE = ("components_", "weights_", "mean_", "scale_", "train_min_")
_DTYPES = {"uint8": (torch.uint8, np.uint8), "float32": (torch.float32, np.float32)}


@dataclass(frozen=True)
class ScoringGraph:
    """What a detector exports: its scoring module and how to feed and read it.

    Parameters
    ----------
    module : torch.nn.Module
        Event inputs → tuple of raw score tensors, in ``outputs`` order.
    inputs : mapping of str to (str, tuple of int)
        Input name (an :class:`~pyvad.events.EventSet` field: ``"patches"`` or ``"flow"``)
        → (dtype name, shape without the batch axis).
    outputs : tuple of str
        Names of the module's outputs (the raw score components, or their maps).
    postprocess : callable
        ``postprocess(outputs, events, **postprocess_params) -> ScoreTable``; a module-level
        function of pyvad (the sidecar names it by import path).
    postprocess_params : dict
        JSON-serialisable keyword arguments of ``postprocess``.
    extractor : estimator or None
        Unfitted extractor that turns videos into the events the graph reads (None when
        the detector was fitted on an EventSet).
    """

    module: nn.Module
    inputs: Mapping[str, tuple[str, tuple[int, ...]]]
    outputs: tuple[str, ...]
    postprocess: Callable[..., ScoreTable]
    postprocess_params: dict = field(default_factory=dict)
    extractor: Any = None


def event_table(outputs: Mapping[str, np.ndarray], events: EventSet) -> ScoreTable:
    """Post-processing of event-level methods (CAFE, PKG-Net): one row per event.

    Parameters
    ----------
    outputs : mapping of str to ndarray of shape (len(events),)
        Raw score components.
    events : EventSet
        The scored events.

    Returns
    -------
    ScoreTable
    """
    return ScoreTable.from_events({name: np.asarray(v, dtype=np.float64) for name, v in outputs.items()}, events)


class ExportMixin:
    """Gives a detector ``export``; the detector implements ``_scoring_graph()``.

    Put it before the estimator base: ``class MyDetector(ExportMixin, FusedDetectorMixin, BaseDetector)``.
    """

    def _scoring_graph(self) -> ScoringGraph:
        raise NotImplementedError(f"{type(self).__name__} does not define a scoring graph to export")

    def export(self, path: str | os.PathLike, format: str = "onnx") -> Path:
        """Write the scoring network as an ONNX or TorchScript file, plus a JSON sidecar.

        Only what scoring needs is exported, with a dynamic batch axis; the steps that stay
        outside the graph (extraction, post-processing, fusion) are described in the
        sidecar ``<path>.json`` and run by :class:`pyvad.export.ExportedDetector`.

        Parameters
        ----------
        path : str or path-like
            Graph file to write (``.onnx`` or ``.pt`` by convention); the sidecar is
            ``path`` with ``.json`` appended. Existing files are replaced only once the
            new ones are completely written.
        format : {"onnx", "torchscript"}, default="onnx"
            ``"onnx"`` uses ``torch.onnx.export(dynamo=True)`` (needs ``onnxscript``),
            ``"torchscript"`` ``torch.jit.trace``.

        Returns
        -------
        path : pathlib.Path
            The graph file.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            The detector is not fitted.
        ValueError
            Unknown ``format``, or ``path`` is a folder.
        TypeError
            ``path`` is not a str or path-like, or the fitted fusion is not a
            :class:`~pyvad.fusion.ScoreFusion`.
        """
        return export_detector(self, path, format)


# ----------------------------------------------------------------------------- export


def _check_target(path: Any, format: Any) -> Path:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, got {format!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"export path must be a str or path-like, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir() or not path.name:
        raise ValueError(f"export path {str(path)!r} is a folder; give a file name such as 'model.onnx'")
    return path


def _example_inputs(inputs: Mapping[str, tuple[str, tuple[int, ...]]]) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for dtype, shape in inputs.values():
        size = (_EXAMPLE_BATCH, *shape)
        if dtype == "uint8":
            tensors.append(torch.randint(0, 256, size, dtype=torch.uint8, generator=generator))
        else:
            tensors.append(torch.rand(size, generator=generator, dtype=_DTYPES[dtype][0]))
    return tuple(tensors)


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """Silence torch's deprecation notice of TorchScript (still what C++ and mobile runtimes load)."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.\w+` is deprecated", category=category)
        yield


def _check_onnx_exporter() -> None:
    """The dynamo ONNX exporter needs torch >= 2.5 and onnxscript; say so before a long trace fails."""
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    if (major, minor) < (2, 5):
        raise ImportError(f"ONNX export needs torch >= 2.5 (torch.onnx.export(dynamo=True)); this is torch {torch.__version__}")
    if importlib.util.find_spec("onnxscript") is None:
        raise ImportError("ONNX export needs onnxscript: pip install 'pyvad-learn[onnx]'")


def _onnx_bytes(module: nn.Module, graph: ScoringGraph, example: tuple[torch.Tensor, ...]) -> bytes:
    _check_onnx_exporter()
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        module, example, input_names=list(graph.inputs), output_names=list(graph.outputs), dynamo=True,
        dynamic_shapes=tuple({0: batch} for _ in example), verbose=False,
    )
    return program.model_proto.SerializeToString()


def _torchscript_bytes(module: nn.Module, example: tuple[torch.Tensor, ...]) -> bytes:
    with _quiet_jit():
        # Channel and size checks in the networks become constants of the trace: they are fixed per export.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(module, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _fusion_spec(fusion: Any) -> dict[str, Any]:
    if type(fusion) is not ScoreFusion:
        raise TypeError(f"export supports detectors fused by ScoreFusion, got {type(fusion).__name__}")
    state = {}
    for name in _FUSION_STATE:
        value = getattr(fusion, name)
        state[name] = value.tolist() if isinstance(value, np.ndarray) else value
    return {"params": fusion.get_params(), "state": state}


def export_detector(detector: Any, path: str | os.PathLike, format: str = "onnx") -> Path:
    """Export a fitted detector's scoring graph and sidecar; see :meth:`ExportMixin.export`.

    Parameters
    ----------
    detector : estimator
        A fitted detector that defines ``_scoring_graph()`` and is fused by a
        :class:`~pyvad.fusion.ScoreFusion`.
    path : str or path-like
        Graph file to write; the sidecar is ``path`` with ``.json`` appended.
    format : {"onnx", "torchscript"}, default="onnx"
        Graph format.

    Returns
    -------
    path : pathlib.Path
        The graph file.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        The detector is not fitted.
    ValueError
        Unknown ``format``, or ``path`` is a folder.
    TypeError
        ``path`` is not a str or path-like, or the fusion is not a ``ScoreFusion``.
    ImportError
        ONNX export without torch >= 2.5 and ``onnxscript``.
    """
    path = _check_target(path, format)
    check_is_fitted(detector)
    fusion = _fusion_spec(detector.fusion_)
    graph = detector._scoring_graph()
    module = copy.deepcopy(graph.module).cpu().eval().requires_grad_(False)
    example = _example_inputs(graph.inputs)
    with torch.no_grad():
        data = _onnx_bytes(module, graph, example) if format == "onnx" else _torchscript_bytes(module, example)
    extractor = None if graph.extractor is None else estimator_to_json(graph.extractor)
    sidecar = {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "graph_format": format,
        "graph_file": path.name,
        "graph_sha256": hashlib.sha256(data).hexdigest(),
        "detector": f"{type(detector).__module__}:{type(detector).__qualname__}",
        "inputs": {name: {"dtype": dtype, "shape": [None, *shape]} for name, (dtype, shape) in graph.inputs.items()},
        "outputs": list(graph.outputs),
        "postprocess": {
            "function": f"{graph.postprocess.__module__}:{graph.postprocess.__qualname__}",
            "params": graph.postprocess_params,
        },
        "fusion": fusion,
        "offset": float(detector.offset_),
        "extractor": extractor,
        "versions": {"pyvad": __version__, "torch": torch.__version__},
    }
    text = json.dumps(sidecar, indent=2).encode("utf-8")
    # Both files are complete before either is replaced: a failure keeps the previous, matching pair.
    write_files_atomically([(path, [data]), (_sidecar_path(path), [text])])
    return path


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


# ----------------------------------------------------------------------------- loading


class _OnnxRunner:
    def __init__(self, path: Path, outputs: Sequence[str], providers: Sequence[str] | None, threads: int | None) -> None:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ImportError("running an ONNX export needs onnxruntime: pip install 'pyvad-learn[onnx]'") from exc
        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            os.fspath(path), options, providers=list(providers or ["CPUExecutionProvider"])
        )
        self.outputs = list(outputs)

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.outputs, dict(inputs))


class _TorchScriptRunner:
    def __init__(self, path: Path) -> None:
        with _quiet_jit():
            self.module = torch.jit.load(os.fspath(path), map_location="cpu").eval()

    def __call__(self, inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            outputs = self.module(*(as_tensor(v) for v in inputs.values()))
        return [o.numpy() for o in outputs]


def _read_sidecar(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"export sidecar {str(path)!r} does not exist; export writes it next to the graph")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"export sidecar {str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a pyvad export sidecar")
    if sidecar.get("format_version", 0) > SIDECAR_VERSION:
        raise ModelFileError(
            f"export sidecar {str(path)!r} has format version {sidecar['format_version']}, newer than the "
            f"{SIDECAR_VERSION} this pyvad ({__version__}) reads"
        )
    return sidecar


def _postprocess_function(spec: str) -> Callable[..., ScoreTable]:
    if not spec.startswith("pyvad."):
        raise ModelFileError(f"export sidecar names post-processing {spec!r}, which is not part of pyvad")
    try:
        return import_object(spec)
    except ValueError as exc:
        raise ModelFileError(f"export sidecar names post-processing {spec!r}, which this pyvad lacks") from exc


def _fusion_from_spec(spec: Mapping[str, Any]) -> ScoreFusion:
    fusion = ScoreFusion(**spec["params"])
    for name, value in spec["state"].items():
        setattr(fusion, name, np.asarray(value, dtype=np.float64) if isinstance(value, list) and name != "components_"
                else value)
    return fusion


class ExportedDetector:
    """Score videos or events with an exported graph: numpy pre/post-processing around it.

    Parameters
    ----------
    path : str or path-like
        The graph file written by ``det.export(path, format)``; its sidecar
        ``<path>.json`` must sit next to it.
    batch_size : int, default=256
        Events per graph call.
    providers : sequence of str, optional
        onnxruntime execution providers (default CPU); ignored for TorchScript.
    extractor : estimator, optional
        Videos → EventSet; default the extractor stored in the sidecar (needed only
        when scoring videos rather than EventSets).
    threads : int, optional
        onnxruntime intra-op threads (default: its own choice); TorchScript graphs use
        torch's setting (:func:`torch.set_num_threads`).

    Attributes
    ----------
    spec : dict
        The sidecar.
    fusion : ScoreFusion
        The detector's fitted fusion, rebuilt from the sidecar.
    offset : float
        The detector's ``offset_`` (threshold of ``decision_function``).

    Examples
    --------
    See :doc:`/deployment`.
    """

    def __init__(
        self, path: str | os.PathLike, *, batch_size: int = 256, providers: Sequence[str] | None = None,
        extractor: Any = None, threads: int | None = None,
    ) -> None:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"exported graph {str(path)!r} does not exist")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.spec = _read_sidecar(_sidecar_path(path))
        if hashlib.sha256(path.read_bytes()).hexdigest() != self.spec.get("graph_sha256"):
            raise ModelFileError(
                f"{str(path)!r} does not match its sidecar (checksum differs): the graph or the sidecar was "
                "replaced or truncated; export again"
            )
        self.batch_size = batch_size
        if self.spec["graph_format"] == "onnx":
            self._run = _OnnxRunner(path, self.spec["outputs"], providers, threads)
        else:
            self._run = _TorchScriptRunner(path)
        self._postprocess = _postprocess_function(self.spec["postprocess"]["function"])
        self.fusion = _fusion_from_spec(self.spec["fusion"])
        self.offset = float(self.spec["offset"])
        if extractor is None and self.spec["extractor"] is not None:
            extractor = estimator_from_json(self.spec["extractor"])
        self.extractor = extractor

    def run(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        """Run the graph on one batch.

        Parameters
        ----------
        **inputs : ndarray
            One array per graph input (``patches`` and, for CAFE LL-O, ``flow``), with
            the dtype and trailing shape of ``spec["inputs"]``.

        Returns
        -------
        dict of str to ndarray
            Raw graph outputs by name.

        Raises
        ------
        ValueError
            An input is missing, has another trailing shape, or has a dtype that would lose
            values in the graph's (float patches for a ``uint8`` graph).
        """
        arrays = {}
        for name, declared in self.spec["inputs"].items():
            if name not in inputs:
                raise ValueError(f"the graph needs input {name!r}; got {sorted(inputs)}")
            dtype = np.dtype(_DTYPES[declared["dtype"]][1])
            given = np.asarray(inputs[name])
            if given.dtype != dtype and not np.can_cast(given.dtype, dtype, casting="same_kind"):
                # e.g. float patches in [0, 1] for a uint8 graph: a cast would make them 0 or 1
                raise ValueError(f"input {name!r} has dtype {given.dtype}, the graph takes {dtype}; convert it first")
            array = np.ascontiguousarray(given, dtype=dtype)
            if list(array.shape[1:]) != declared["shape"][1:]:
                raise ValueError(
                    f"input {name!r} has shape {array.shape}, the graph expects (N, {', '.join(map(str, declared['shape'][1:]))})"
                )
            arrays[name] = array
        return dict(zip(self.spec["outputs"], self._run(arrays)))

    def _batches(self, events: EventSet) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(events), self.batch_size):
            rows = slice(start, start + self.batch_size)
            yield {name: getattr(events, name)[rows] for name in self.spec["inputs"]}

    def events(self, X: Any) -> EventSet:
        """``X`` itself if it is an EventSet, else the extractor's events of the videos ``X``.

        Parameters
        ----------
        X : sequence of videos or EventSet
            What to score. Videos are passed through the extractor (fitted on ``X``).

        Returns
        -------
        EventSet

        Raises
        ------
        TypeError
            If ``X`` holds videos but there is no extractor.
        """
        if isinstance(X, EventSet):
            return X
        if self.extractor is None:
            raise TypeError(
                "this export stores no extractor (the detector was fitted on an EventSet, or its extractor holds "
                "arrays); pass an EventSet, or ExportedDetector(..., extractor=...)"
            )
        videos = as_videos(X)
        return self.extractor.fit(videos).transform(videos)

    def transform(self, X: Any) -> ScoreTable:
        """Raw score components of ``X`` (videos or an EventSet), as the detector's ``transform``.

        Parameters
        ----------
        X : sequence of videos or EventSet
            What to score (see :meth:`events`).

        Returns
        -------
        ScoreTable
        """
        events = self.events(X)
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.spec["outputs"]}
        for batch in self._batches(events):
            for name, value in self.run(**batch).items():
                parts[name].append(value)
        outputs = {
            name: np.concatenate(values) if values else np.zeros((0,), np.float32) for name, values in parts.items()
        }
        return self._postprocess(outputs, events, **self.spec["postprocess"]["params"])

    def score_frames(self, X: Any) -> list[np.ndarray]:
        """Per-frame anomaly scores, one array per video, higher = more abnormal.

        Parameters
        ----------
        X : sequence of videos or EventSet

        Returns
        -------
        list of ndarray of shape (n_frames_i,)
        """
        return self.fusion.score_frames(self.transform(X))

    def score_samples(self, X: Any) -> np.ndarray:
        """``-concatenate(score_frames(X))``: lower = more abnormal, as the detector's ``score_samples``.

        Parameters
        ----------
        X : sequence of videos or EventSet
            What to score.

        Returns
        -------
        ndarray of shape (n_frames_total,)
            Frames of all videos, concatenated in video order.
        """
        frames = self.score_frames(X)
        return -np.concatenate(frames) if frames else np.empty(0, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """``-1`` for abnormal frames (``score_samples < offset``), ``+1`` otherwise.

        Parameters
        ----------
        X : sequence of videos or EventSet
            What to score.

        Returns
        -------
        ndarray of shape (n_frames_total,)
            ``-1`` or ``+1`` per frame, all videos concatenated.
        """
        return np.where(self.score_samples(X) - self.offset < 0, -1, 1)
