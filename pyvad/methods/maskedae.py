"""AED-MAE: self-distilled masked auto-encoders on whole frames (Ristea et al., CVPR 2024).

Pipeline of :class:`MaskedAEDetector`:

1. :class:`~pyvad.foreground.WholeFrames` resizes every frame to the input size (optionally
   stacking temporal neighbours) and computes its motion-gradient map.
2. Stage 1 (teacher): the CvT masked auto-encoder (:mod:`pyvad.nets.cvt_mae`) rebuilds
   every token of the clean frame (plus an anomaly-map channel) from the visible tokens;
   the per-token squared error is weighted by the normalised per-token motion (Eq. 1-3).
   With probability ``anomaly_probability`` a synthetic anomaly
   (:mod:`pyvad.synthetic_anomalies`) is pasted into the input: the target stays the
   clean frame, its map is the anomaly's mask, the mask is added to the motion before
   weighting, and a classification head on the [CLS] token learns to flag it (Eq. 5).
3. Stage 2 (student): encoder and teacher decoder are frozen; the student branch learns to
   reproduce the teacher's output (Eq. 4).
4. Scoring: per token, the teacher error (against the frame with an all-normal map
   channel) and the teacher-student gap; the per-token maps of each video are filtered
   in space and time (3-D Gaussian), each reduced to its frame maximum; with the class
   probability they form the :class:`~pyvad.fusion.ScoreTable` components
   ``teacher_error``, ``ts_gap`` and ``class_prob``, fused with weights 0.4 / 0.3 / 0.3
   and temporally smoothed by :class:`~pyvad.fusion.ScoreFusion`.

Test-time masking is deterministic: ``test_mask="fixed"`` (default) uses one mask drawn
from a fixed seed for every frame; ``"complementary"`` runs ``round(1 / mask_ratio)``
passes whose hidden tokens partition the grid and scores every token from the pass that
hid it; ``"per_frame"`` gives each frame its own mask, as the released code's fresh random
mask per frame, but picked from a seeded bank by a checksum of the frame's pixels, so a frame
gets the same mask offline, streamed or exported; ``"none"`` feeds every token.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from numbers import Integral, Real
from typing import Any, TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import Dataset

from pyvad.base import RANDOM_STATE_CONSTRAINT, BaseDetector, preset_value, resolve_preset
from pyvad.events import EventSet, check_channels, reference_index
from pyvad.exceptions import InvalidVideoError
from pyvad.export import ExportMixin, ScoringGraph
from pyvad.foreground.whole_frames import FrameEvents, WholeFrames
from pyvad.fusion import FusedDetectorMixin, ScoreFusion, ScoreTable, zscore_statistics
from pyvad.inference import as_tensor, score_in_batches, scoring_batch_size
from pyvad.nets.cvt_mae import CvTMaskedAutoEncoder, patchify, random_keep
from pyvad.smoothing import gaussian_filter_3d
from pyvad.synthetic_anomalies import SyntheticAnomalies
from pyvad.training import AMP_CHOICES, Trainer, resolve_amp, resolve_device, set_trainable, trainer_arguments, training_key
from pyvad.video import Video, as_videos

__all__ = ["PRESETS", "MaskedAEDetector", "MaskedAEScorer", "cell_statistics", "frame_table", "normalized_cells",
           "token_weights", "video_component_maps"]

_ARCHITECTURE = dict(encoder_dim=256, encoder_depth=3, encoder_heads=4, decoder_dim=128, decoder_depth=3,
                     decoder_heads=4, student_branch=1, student_depth=1, mlp_ratio=2.0, dropout=0.1,
                     attention_scale="head")
_PAPER = dict(
    offsets=(0,), motion="paper", mask_ratio=0.5, mask_scope="stack", test_mask="fixed", motion_weights=True,
    self_distillation=True, synthetic_anomalies=True, anomaly_maps=True, class_head=True,
    anomaly_probability=0.25, teacher_epochs=100, student_epochs=40, batch_size=100, lr=1e-4,
    optimizer="adam", distillation_loss="weighted", score_weights=(0.4, 0.3, 0.3), amp="fp32",
    filter_sigma_spatial=1.0, filter_sigma_temporal=2.0, smoothing_sigma=11.0, smoothing_window=37,
    # Not in the paper (it takes the maximum of the raw maps): chosen with a rule written down
    # before the runs, on a label-free proxy (benchmarks/RESULTS.md, session 11).
    normalize_cells=True,
    architecture=_ARCHITECTURE,
)

# The temporal Gaussian is the released code's Avenue kernel (sigma 11, 37 taps at 25 frames/s);
# Ped2 runs at 10 frames/s, so the same span in seconds is sigma 4.4 frames, 15 taps.
_PED2_SMOOTHING = dict(smoothing_sigma=11.0 * 10 / 25, smoothing_window=15)

#: Paper settings per data set (input size and patch size; everything else is shared).
#: ``fast`` keeps the method but shrinks input and training so Ped2 fits in minutes on 2 CPU cores;
#: it stacks the released code's t-3, t, t+3 input, the only way a frame-level model sees speed.
#: Its epochs follow the rule CAFE's ``fast`` uses: as many as fit about 6 minutes on Ped2 with one
#: idle thread (10 + 4 took 353 s), in the paper's 100 : 40 ratio.
PRESETS: dict[str, dict[str, Any]] = {
    "ped2": {**_PAPER, **_PED2_SMOOTHING, "image_size": (80, 160), "patch_size": 4},
    "avenue": {**_PAPER, "image_size": (320, 640), "patch_size": 16},
    "shanghaitech": {**_PAPER, "image_size": (160, 320), "patch_size": 8},
    "ubnormal": {**_PAPER, "image_size": (160, 320), "patch_size": 8},
    "fast": {**_PAPER, **_PED2_SMOOTHING, "image_size": (40, 80), "patch_size": 4, "offsets": (-3, 0, 3),
             "teacher_epochs": 10, "student_epochs": 4, "batch_size": 32, "lr": 1e-3,
             "architecture": {**_ARCHITECTURE, "encoder_dim": 128, "decoder_dim": 64}},
}
_COMPONENTS = ("teacher_error", "ts_gap", "class_prob")
# Default scoring batch. On the CPU it holds about two Avenue frames' worth of input pixels
# (2 at 320x640, 8 at 160x320, at most 16): larger batches leave the cache, and at Avenue's size
# batch 32 scored at 15-23 frames/s against 24-31 with batch 2 (benchmarks/RESULTS.md, session 9).
_CPU_BATCH_PIXELS = 2 * 320 * 640
_CPU_MAX_BATCH = 16
# On a GPU: 128 frames at Ped2's 80x160, down to 32 from 160x320 up. On an H100 (fp16, session
# 11) batch 32 left Ped2 at 2,460 frames/s end to end against 3,808 with 128 (1.1 GB of GPU
# memory); at Avenue's size 32 frames already take 1.2 GB and score 1,134 against 1,251.
_DEVICE_BATCH_PIXELS = 128 * 80 * 160
_DEVICE_BATCH_RANGE = (32, 128)
_T = TypeVar("_T")
_TEST_MASK_SEED = 20240617
#: Masks in the bank of ``test_mask="per_frame"``.
_FRAME_MASKS = 64


def _complementary_passes(mask_ratio: float) -> int:
    """Test-time passes of ``test_mask="complementary"``: each hides ``1 / passes`` of the tokens."""
    return round(1.0 / mask_ratio) if mask_ratio > 0 else 0


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [-1, 1]. A plain cast and two in-place passes: adding a float to
    uint8 directly gives the same values but runs 1.7x slower on the CPU (3.8 vs 2.2 ms a
    stacked Avenue frame)."""
    return images.to(torch.float32, copy=True).sub_(127.5).div_(127.5)


def _reconstruction_target(clean: torch.Tensor, anomaly_map: torch.Tensor | None, anomaly_maps: bool) -> torch.Tensor:
    """What the decoders reconstruct: the clean frame, plus the anomaly-map channel (``None``: all normal)."""
    if not anomaly_maps:
        return clean
    if anomaly_map is None:
        anomaly_map = torch.zeros_like(clean[:, :1])  # not len(clean): a traced graph keeps a dynamic batch
    return torch.cat([clean, anomaly_map], dim=1)


class _FrameDataset(Dataset):
    """Training samples of frame events: input, clean target, motion, anomaly map, label."""

    def __init__(self, events: FrameEvents, anomalies: SyntheticAnomalies | None, probability: float) -> None:
        self.events = events
        self.anomalies = anomalies
        self.probability = probability if anomalies is not None else 0.0
        self.reference = reference_index(events.offsets)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        stack = np.asarray(self.events.patches[index])  # (S, h, w, C)
        clean = stack[self.reference]
        mask = np.zeros(stack.shape[1:3], np.uint8)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        label = 0.0
        if self.probability and rng.random() < self.probability:
            donor = self.events.patches[int(rng.integers(len(self.events))), self.reference]
            stack, mask = self.anomalies.paste(stack, self.events.offsets, rng, donor=donor)
            label = 1.0
        images = as_tensor(stack).permute(0, 3, 1, 2)
        s, c, h, w = images.shape
        motion = self.events.motion[index] if self.events.motion is not None else np.zeros_like(clean)
        return (
            _to_unit(images.reshape(s * c, h, w)),
            _to_unit(as_tensor(clean).permute(2, 0, 1)),
            torch.from_numpy(np.ascontiguousarray(motion)).permute(2, 0, 1).float().div_(255.0),
            torch.from_numpy(mask).float().unsqueeze(0),
            torch.tensor(label),
        )


def token_weights(motion: torch.Tensor, anomaly_map: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Per-token loss weights of AED-MAE (Eq. 1-2, with the anomaly map added to the gradients).

    Parameters
    ----------
    motion : Tensor of shape (B, C, H, W)
        Motion-gradient magnitudes in [0, 1].
    anomaly_map : Tensor of shape (B, 1, H, W)
        0/1 synthetic-anomaly map (zeros without anomaly).
    patch_size : int

    Returns
    -------
    Tensor of shape (B, N)
        Per-patch maximum per channel, averaged over channels, divided by the frame's
        sum; a frame without any motion gets uniform weights.
    """
    peaks = F.max_pool2d(motion + anomaly_map, patch_size).mean(dim=1).flatten(1)
    peaks = peaks + 1e-8
    return peaks / peaks.sum(dim=1, keepdim=True)


def _unwrap(model: torch.nn.Module) -> CvTMaskedAutoEncoder:
    """The network behind DDP / torch.compile wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


class MaskedAEScorer(torch.nn.Module):
    """Raw AED-MAE score maps of frame stacks: what :meth:`MaskedAEDetector.transform` runs and ``export`` writes.

    Parameters
    ----------
    net : CvTMaskedAutoEncoder
        The trained network (or a compiled wrapper of it).
    keep : Tensor of shape (P, K), optional
        Visible token positions of each of P test-time passes (with ``per_frame``, a bank
        of P masks of which each frame uses one); None feeds every token in one pass.
    token_weights : Tensor of shape (P, gh * gw), optional
        Weight of each pass in a token's score (``test_mask="complementary"``: 1 in the
        pass that hides the token, 0 elsewhere); None weights every pass equally.
    reference : int
        Position of the frame at offset 0 in a stack (the frame that is scored).
    components : sequence of str
        Outputs among ``"teacher_error"``, ``"ts_gap"``, ``"class_prob"``, in this order.
    anomaly_maps : bool
        Whether the network reconstructs an anomaly-map channel (all normal at test time).
    per_frame : bool, default=False
        One pass in which frame ``i`` uses mask ``keep[c_i % P]``, ``c_i`` the sum of the
        reference frame's pixel values: deterministic per frame, whatever the batch.

    Notes
    -----
    ``forward(patches)`` takes ``FrameEvents.patches`` ``(N, S, h, w, C)`` uint8 and returns,
    in ``components`` order, per-token maps ``(N, gh, gw)`` of the teacher error and the
    teacher-student gap, and the class probability ``(N,)`` (mean over passes).
    """

    def __init__(
        self, net: torch.nn.Module, keep: torch.Tensor | None, reference: int, components: Sequence[str],
        anomaly_maps: bool, token_weights: torch.Tensor | None = None, per_frame: bool = False,
    ) -> None:
        super().__init__()
        if per_frame and (keep is None or token_weights is not None):
            raise ValueError("per_frame needs a bank of masks (keep) and no token_weights")
        self.net = net
        self.per_frame = per_frame
        self.n_passes = 1 if keep is None or per_frame else len(keep)
        if token_weights is None:
            token_weights = torch.full((self.n_passes, 1), 1.0 / self.n_passes)
        if len(token_weights) != self.n_passes:
            raise ValueError(f"token_weights has {len(token_weights)} rows for {self.n_passes} test-time passes")
        self.register_buffer("keep", keep, persistent=False)
        self.register_buffer("token_weights", token_weights.float(), persistent=False)
        self.reference = reference
        self.names = tuple(components)
        self.anomaly_maps = anomaly_maps
        inner = _unwrap(net)
        self.grid, self.patch_size = tuple(inner.grid), inner.patch_size

    def forward(self, patches: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Score a batch of frame stacks.

        Parameters
        ----------
        patches : Tensor of shape (N, S, h, w, C), uint8
            Frame stacks as in ``FrameEvents.patches``; frame ``reference`` is scored.

        Returns
        -------
        tuple of Tensor
            In ``components`` order: ``(N, gh, gw)`` token maps for ``"teacher_error"``
            and ``"ts_gap"`` (weighted by ``token_weights`` over passes), ``(N,)`` for
            ``"class_prob"`` (mean over passes).
        """
        b, s, h, w, c = patches.shape
        images = _to_unit(patches.permute(0, 1, 4, 2, 3).reshape(b, s * c, h, w))
        clean = images[:, self.reference * c : (self.reference + 1) * c]
        target = patchify(_reconstruction_target(clean, None, self.anomaly_maps), self.patch_size)
        totals: dict[str, torch.Tensor] = {}
        for index in range(self.n_passes):
            passed = self._one_pass(images, self._pass_keep(index, patches), target)
            for name, value in passed.items():
                weight = self.token_weights[index] if value.ndim > 1 else 1.0 / self.n_passes
                totals[name] = totals.get(name, 0.0) + weight * value
        return tuple(totals[name].reshape(-1, *self.grid) if totals[name].ndim > 1 else totals[name]
                     for name in self.names)

    def _pass_keep(self, index: int, patches: torch.Tensor) -> torch.Tensor | None:
        """Visible tokens ``(B, K)`` of pass ``index`` (None: all)."""
        if self.keep is None:
            return None
        if self.per_frame:
            checksum = patches[:, self.reference].flatten(1).sum(dim=1, dtype=torch.int64)
            return self.keep[checksum % len(self.keep)]
        return self.keep[index : index + 1].expand(patches.shape[0], -1)

    def _one_pass(self, images: torch.Tensor, keep: torch.Tensor | None, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-token squared errors ``(N, gh * gw)`` and class probabilities ``(N,)`` of one pass."""
        out = self.net(images, keep)
        teacher = out["teacher"].float()
        # Differences in place: the outputs are not used again, and with patch 16 (1,024 values
        # a token) each temporary of this size costs about a tenth of the network's time.
        scores = {}
        if "ts_gap" in self.names:
            scores["ts_gap"] = _mean_square(out["student"].float().sub_(teacher))
        scores["teacher_error"] = _mean_square(teacher.sub_(target))
        if "class_prob" in self.names:
            scores["class_prob"] = torch.sigmoid(out["logit"].float())
        return scores


def _mean_square(values: torch.Tensor) -> torch.Tensor:
    """Mean of the squares over the last axis, without a squared temporary."""
    return torch.linalg.vector_norm(values, dim=-1).square() / values.shape[-1]


def _filtered(values: np.ndarray, sigma_spatial: float, sigma_temporal: float) -> np.ndarray:
    """3-D Gaussian filter of one video's token maps (T, gh, gw), or temporal of (T,)."""
    if values.ndim == 3:
        return gaussian_filter_3d(values, sigma_spatial=sigma_spatial, sigma_temporal=sigma_temporal)
    return ndimage.gaussian_filter1d(values, sigma_temporal, mode="nearest") if sigma_temporal else values


def video_component_maps(
    outputs: Mapping[str, np.ndarray], events: EventSet, sigma_spatial: float, sigma_temporal: float
) -> list[dict[str, np.ndarray]]:
    """Per video (in order), the filtered component maps of its frames, in frame order.

    Parameters
    ----------
    outputs : mapping of str to ndarray
        :class:`MaskedAEScorer` outputs of every event: maps ``(N, gh, gw)`` or values ``(N,)``.
    events : EventSet
        The scored frame events.
    sigma_spatial, sigma_temporal : float
        Standard deviations of the 3-D Gaussian filter (tokens, frames); 0 switches an axis off.

    Returns
    -------
    list of dict of str to ndarray
    """
    videos = []
    for video in range(events.n_videos):
        rows = np.flatnonzero(events.video_ids == video)
        order = rows[np.argsort(events.frame_indices[rows], kind="stable")]
        videos.append({
            name: _filtered(np.asarray(values, dtype=np.float64)[order], sigma_spatial, sigma_temporal)
            for name, values in outputs.items()
        })
    return videos


def cell_statistics(maps: Sequence[Mapping[str, np.ndarray]]) -> dict[str, list]:
    """Mean and standard deviation of every token cell of the filtered maps over all frames.

    Parameters
    ----------
    maps : sequence of mapping of str to ndarray
        Per video, the filtered component maps (see :func:`video_component_maps`).

    Returns
    -------
    dict of str to [mean, scale]
        For every map component (not the class probability): two ``(gh, gw)`` nested lists
        (JSON, for :meth:`MaskedAEDetector.export`). A cell that is constant over the training
        frames (a static scene, a single frame) gets scale 1, so it is only centred: the rule of
        :func:`pyvad.fusion.zscore_statistics`, whose columns are here the cells.
    """
    statistics = {}
    for name, first in maps[0].items():
        if first.ndim > 1:
            stacked = np.concatenate([video[name] for video in maps])
            mean, scale = zscore_statistics(stacked.reshape(len(stacked), -1))
            statistics[name] = [mean.reshape(first.shape[1:]).tolist(), scale.reshape(first.shape[1:]).tolist()]
    return statistics


def normalized_cells(maps: Mapping[str, np.ndarray], statistics: Mapping[str, Sequence] | None) -> dict[str, np.ndarray]:
    """One video's filtered maps with every cell z-scored by :func:`cell_statistics` (None: unchanged).

    Parameters
    ----------
    maps : mapping of str to ndarray
        One video's filtered components (an item of :func:`video_component_maps`):
        maps ``(n_frames, gh, gw)`` or values ``(n_frames,)``.
    statistics : mapping of str to [mean, scale], or None
        Per-cell training mean and scale by component (:func:`cell_statistics`).
        Components without an entry, and all of them when it is None or empty,
        are left as they are.

    Returns
    -------
    dict of str to ndarray
        A new dictionary: ``(values - mean) / scale`` for the components in ``statistics``.
    """
    if not statistics:
        return dict(maps)
    return {name: (values - np.asarray(statistics[name][0])) / np.asarray(statistics[name][1])
            if name in statistics else values for name, values in maps.items()}


def frame_table(
    outputs: Mapping[str, np.ndarray], events: EventSet, sigma_spatial: float, sigma_temporal: float,
    cell_statistics: Mapping[str, Sequence] | None = None,
) -> ScoreTable:
    """AED-MAE post-processing: filtered component maps reduced to one row per frame.

    Parameters
    ----------
    outputs, events, sigma_spatial, sigma_temporal
        See :func:`video_component_maps`.
    cell_statistics : mapping, optional
        Per-cell training statistics (:func:`cell_statistics`): each cell is z-scored
        before the frame maximum.

    Returns
    -------
    ScoreTable
        Frame-level components: the frame maximum of each filtered map, and the
        temporally filtered class probability.
    """
    maps = [normalized_cells(video, cell_statistics)
            for video in video_component_maps(outputs, events, sigma_spatial, sigma_temporal)]
    scores = {
        name: [m[name].reshape(len(m[name]), -1).max(axis=1) if m[name].ndim > 1 else m[name] for m in maps]
        for name in outputs
    }
    table = ScoreTable.from_frame_scores(scores, video_names=list(events.video_names))
    return ScoreTable(
        {name: table[name] for name in table.components}, video_ids=table.video_ids,
        frame_indices=table.frame_indices, n_frames=table.n_frames, video_names=table.video_names,
        frame_sizes=[tuple(s) for s in events.frame_sizes],
    )


class MaskedAEDetector(ExportMixin, FusedDetectorMixin, BaseDetector):
    """AED-MAE: self-distilled CvT masked auto-encoder on whole frames (Ristea et al., CVPR 2024).

    Every parameter left at None takes the value of ``preset`` (see :data:`PRESETS` and
    ``docs/methods/maskedae.md``); the resolved values are in ``config_`` after fitting.

    Parameters
    ----------
    preset : {"ped2", "avenue", "shanghaitech", "ubnormal", "fast"}, default="ped2"
        Paper settings of a data set (input size, patch size), or ``"fast"`` (small input,
        few epochs) for CPUs.
    extractor : WholeFrames, optional
        Frame extractor used when ``fit``/``transform`` get videos; default
        ``WholeFrames(image_size, offsets=offsets, motion=motion)``.
    fusion : ScoreFusion, optional
        Final fusion; default: weights ``score_weights`` on the z-scored components,
        Gaussian temporal smoothing (``smoothing_sigma``, ``smoothing_window``).
    image_size : (int, int), optional
        Network input ``(height, width)``.
    patch_size : int, optional
        Token side (paper: 4 Ped2, 16 Avenue, 8 ShanghaiTech / UBnormal).
    offsets : sequence of int, optional
        Stacked input frames (paper ``(0,)``; released code ``(-3, 0, 3)``).
    motion : {"paper", "released"}, optional
        Motion-gradient definition (see :func:`pyvad.foreground.whole_frames.motion_gradients`).
    mask_ratio : float, optional
        Share of tokens masked in training (released code: 0.5).
    mask_scope : {"stack", "reference"}, optional
        What a masked token hides: ``"stack"`` (paper, released code) removes the token,
        every stacked frame of it, from the encoder's input; ``"reference"`` (not in the
        paper) blanks only the scored frame t in it and keeps its stacked neighbours
        visible, so the decoder interpolates frame t in time there. Same as ``"stack"``
        with a single input frame.
    test_mask : {"fixed", "complementary", "per_frame", "none"}, optional
        Test-time masking: one seeded mask shared by all frames; ``round(1 / mask_ratio)``
        seeded passes whose hidden tokens partition the grid, each token scored in the pass
        that hides it; a mask per frame (the released code draws a random one per frame),
        taken from a seeded bank by a checksum of the frame, so scores are reproducible;
        or no masking.
    motion_weights : bool, optional
        Motion-gradient token weights (False: uniform weights, the vanilla masked AE).
    self_distillation : bool, optional
        Train the student decoder (stage 2) and score the teacher-student gap.
    synthetic_anomalies : bool, optional
        Paste synthetic anomalies into training inputs.
    anomaly_maps : bool, optional
        Reconstruct the anomaly map as an extra target channel (needs synthetic anomalies
        to be informative).
    class_head : bool, optional
        Classification head on the [CLS] token (BCE, needs synthetic anomalies) and its
        probability as a score component.
    anomaly_probability : float, optional
        Probability that a training sample gets a synthetic anomaly (paper 0.25).
    anomalies : SyntheticAnomalies, optional
        Sources and sizes of the synthetic anomalies; default person-sized procedural
        shapes, textures and cut-outs of other training frames (no download).
    teacher_epochs, student_epochs : int, optional
        Epochs of the two stages (paper 100 and 40).
    batch_size : int, optional
        Training mini-batch (paper 100).
    lr : float, optional
        Learning rate (paper 1e-4, constant).
    optimizer : {"adam", "adamw"}, optional
        Paper: Adam; released code: AdamW.
    distillation_loss : {"weighted", "masked"}, optional
        Student loss: motion-weighted over all tokens (paper Eq. 4) or unweighted mean over
        masked tokens (released code).
    score_weights : (float, float, float), optional
        alpha, beta, gamma of Eq. 6 for ``teacher_error``, ``ts_gap``, ``class_prob``.
    filter_sigma_spatial, filter_sigma_temporal : float, optional
        3-D Gaussian filter of the per-token maps (in tokens and frames; 0 disables).
    normalize_cells : bool, optional
        Z-score every token cell of the filtered teacher-error and teacher-student maps with
        that cell's mean and standard deviation over the training frames, before the frame
        maximum. On by default (not in the paper, which takes the maximum of the raw maps):
        with a fixed test mask, the raw maxima sit on a few always-hidden background cells.
    smoothing_sigma : float, optional
        Temporal Gaussian of the default fusion, in frames.
    smoothing_window : int, optional
        Support of that Gaussian in frames.
    architecture : dict, optional
        Overrides of the network widths / depths (keys of
        :class:`~pyvad.nets.cvt_mae.CvTMaskedAutoEncoder`).
    epochs : int, optional
        Shortcut: teacher epochs; the student gets ``ceil(0.4 * epochs)``.
    inference_batch_size : int, optional
        Frames per forward pass when scoring. Default: on the CPU, ``409600 // (H * W)`` of the
        input size, between 1 and 16 (2 at Avenue's 320x640, 16 at Ped2's 80x160), since
        larger batches fall out of the cache; 32 on other devices.
    amp : {"fp32", "bf16", "fp16", "auto"}, optional
        Precision of training and scoring: ``"bf16"`` on CUDA and CPU, ``"fp16"`` on CUDA,
        ``"auto"``: bf16 where the device computes it in hardware, else float32 (see
        :func:`pyvad.training.resolve_amp`). Read again at scoring, so ``set_params`` on a
        fitted detector changes it. Presets: ``"fp32"`` (the paper), ``fast`` too (bf16
        trained it no faster on a CPU, and worse).
    compile : bool, default=False
        ``torch.compile`` the network for scoring.
    device : str, default="auto"
        Resolved at fit time.
    trainer_params : dict, optional
        Extra :class:`~pyvad.training.Trainer` arguments of both stages (``num_workers``,
        ``checkpoint_dir`` and ``resume``, whose checkpoints are ``teacher-<key>-last.pt`` and
        ``student-<key>-last.pt`` with ``<key>`` a fingerprint of the training frames and settings,
        ``callbacks`` ...); precision is ``amp``.
    random_state : int, optional
        Seed of initialisation, masks, anomalies and data order.
    verbose : int, default=0
        Progress bars of training.
    contamination : "auto" or float, default="auto"
        Share of training frames used to set ``offset_``.

    Attributes
    ----------
    config_ : dict
        Resolved settings.
    net_ : CvTMaskedAutoEncoder
        The trained network (eval mode).
    extractor_ : WholeFrames
        The fitted extractor.
    test_keep_ : Tensor of shape (P, K) or None
        Visible tokens of each test-time pass (one pass with ``test_mask="fixed"``,
        ``round(1 / mask_ratio)`` with ``"complementary"``, None with ``"none"``), or with
        ``"per_frame"`` the bank of masks the frames choose from.
    history_ : dict of str to list of dict
        Per-epoch training logs of the ``teacher`` and ``student`` stages.
    cell_statistics_ : dict or None
        With ``normalize_cells``: per map component, the training mean and standard
        deviation of every token cell (see :func:`cell_statistics`); else None.
    fusion_ : ScoreFusion
        Fitted fusion.
    training_frame_scores_ : list of ndarray
        Fused scores of the training frames.

    Examples
    --------
    >>> from pyvad.synthetic import make_train_test
    >>> train, test = make_train_test(n_train=2, n_test=1, n_frames=16, random_state=0)
    >>> det = MaskedAEDetector(preset="fast", image_size=(16, 24), epochs=1, batch_size=8,
    ...                        architecture=dict(encoder_dim=16, decoder_dim=8), random_state=0)
    >>> [s.shape for s in det.fit(train.videos).score_frames(test.videos)]
    [(16,)]
    """

    _parameter_constraints: dict = {
        **BaseDetector._parameter_constraints,
        "preset": [StrOptions(set(PRESETS))],
        "extractor": [HasMethods(["fit", "transform"]), None],
        "fusion": [HasMethods(["fit", "score_frames"]), None],
        "image_size": ["array-like", None],
        "patch_size": [Interval(Integral, 1, None, closed="left"), None],
        "offsets": ["array-like", None],
        "motion": [StrOptions({"paper", "released"}), None],
        "mask_ratio": [Interval(Real, 0, 1, closed="left"), None],
        "mask_scope": [StrOptions({"stack", "reference"}), None],
        "test_mask": [StrOptions({"fixed", "complementary", "per_frame", "none"}), None],
        "motion_weights": ["boolean", None],
        "self_distillation": ["boolean", None],
        "synthetic_anomalies": ["boolean", None],
        "anomaly_maps": ["boolean", None],
        "class_head": ["boolean", None],
        "anomaly_probability": [Interval(Real, 0, 1, closed="both"), None],
        "anomalies": [SyntheticAnomalies, None],
        "teacher_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "student_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "optimizer": [StrOptions({"adam", "adamw"}), None],
        "distillation_loss": [StrOptions({"weighted", "masked"}), None],
        "score_weights": ["array-like", None],
        "filter_sigma_spatial": [Interval(Real, 0, None, closed="left"), None],
        "filter_sigma_temporal": [Interval(Real, 0, None, closed="left"), None],
        "normalize_cells": ["boolean", None],
        "smoothing_sigma": [Interval(Real, 0, None, closed="neither"), None],
        "smoothing_window": [Interval(Integral, 1, None, closed="left"), None],
        "architecture": [dict, None],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "amp": [StrOptions(set(AMP_CHOICES)), None],
        "compile": ["boolean"],
        "device": [str],
        "trainer_params": [dict, None],
        "random_state": RANDOM_STATE_CONSTRAINT,
        "verbose": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        preset: str = "ped2",
        *,
        extractor: WholeFrames | None = None,
        fusion: ScoreFusion | None = None,
        image_size: tuple[int, int] | None = None,
        patch_size: int | None = None,
        offsets: Sequence[int] | None = None,
        motion: str | None = None,
        mask_ratio: float | None = None,
        mask_scope: str | None = None,
        test_mask: str | None = None,
        motion_weights: bool | None = None,
        self_distillation: bool | None = None,
        synthetic_anomalies: bool | None = None,
        anomaly_maps: bool | None = None,
        class_head: bool | None = None,
        anomaly_probability: float | None = None,
        anomalies: SyntheticAnomalies | None = None,
        teacher_epochs: int | None = None,
        student_epochs: int | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        optimizer: str | None = None,
        distillation_loss: str | None = None,
        score_weights: Sequence[float] | None = None,
        filter_sigma_spatial: float | None = None,
        filter_sigma_temporal: float | None = None,
        normalize_cells: bool | None = None,
        smoothing_sigma: float | None = None,
        smoothing_window: int | None = None,
        architecture: dict | None = None,
        epochs: int | None = None,
        inference_batch_size: int | None = None,
        amp: str | None = None,
        compile: bool = False,
        device: str = "auto",
        trainer_params: dict | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        contamination: str | float = "auto",
    ) -> None:
        self.preset = preset
        self.extractor = extractor
        self.fusion = fusion
        self.image_size = image_size
        self.patch_size = patch_size
        self.offsets = offsets
        self.motion = motion
        self.mask_ratio = mask_ratio
        self.mask_scope = mask_scope
        self.test_mask = test_mask
        self.motion_weights = motion_weights
        self.self_distillation = self_distillation
        self.synthetic_anomalies = synthetic_anomalies
        self.anomaly_maps = anomaly_maps
        self.class_head = class_head
        self.anomaly_probability = anomaly_probability
        self.anomalies = anomalies
        self.teacher_epochs = teacher_epochs
        self.student_epochs = student_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.distillation_loss = distillation_loss
        self.score_weights = score_weights
        self.filter_sigma_spatial = filter_sigma_spatial
        self.filter_sigma_temporal = filter_sigma_temporal
        self.normalize_cells = normalize_cells
        self.smoothing_sigma = smoothing_sigma
        self.smoothing_window = smoothing_window
        self.architecture = architecture
        self.epochs = epochs
        self.inference_batch_size = inference_batch_size
        self.amp = amp
        self.compile = compile
        self.device = device
        self.trainer_params = trainer_params
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination

    # ------------------------------------------------------------------ configuration
    def _resolve_config(self) -> dict[str, Any]:
        """Preset values overridden by every parameter that is not None."""
        config = resolve_preset(self, PRESETS, [name for name in PRESETS[self.preset] if name != "architecture"])
        config["architecture"] = {**config["architecture"], **(self.architecture or {})}
        if self.epochs is not None:
            config["teacher_epochs"] = int(self.epochs)
            config["student_epochs"] = max(1, int(np.ceil(0.4 * self.epochs)))
        config["image_size"] = tuple(int(v) for v in config["image_size"])
        config["offsets"] = tuple(int(v) for v in config["offsets"])
        config["score_weights"] = tuple(float(v) for v in config["score_weights"])
        self._check_config(config)
        return config

    @staticmethod
    def _check_config(config: Mapping[str, Any]) -> None:
        height, width = config["image_size"]
        patch = config["patch_size"]
        if height % patch or width % patch:
            raise ValueError(f"image_size {config['image_size']} must be a multiple of patch_size={patch}")
        if len(config["score_weights"]) != 3:
            raise ValueError(f"score_weights must be (alpha, beta, gamma), got {config['score_weights']!r}")
        if config["test_mask"] == "complementary":
            passes, n_tokens = _complementary_passes(config["mask_ratio"]), (height // patch) * (width // patch)
            if passes < 2 or n_tokens % passes:
                raise ValueError(
                    f"test_mask='complementary' needs round(1 / mask_ratio) >= 2 passes that split the "
                    f"{n_tokens} tokens evenly; mask_ratio={config['mask_ratio']} gives {passes}"
                )
        if config["class_head"] and not config["synthetic_anomalies"]:
            raise ValueError("class_head=True needs synthetic_anomalies=True: the head learns to spot them")
        unknown = set(config["architecture"]) - set(_ARCHITECTURE)
        if unknown:
            raise ValueError(f"architecture has unknown keys {sorted(unknown)}; known: {sorted(_ARCHITECTURE)}")

    def _net_kwargs(self, events: EventSet) -> dict[str, Any]:
        config = self.config_
        channels = int(events.patches.shape[-1])
        architecture = dict(config["architecture"])
        if not config["self_distillation"]:
            architecture["student_depth"] = 0
        offsets = config["offsets"]
        if config["mask_scope"] == "reference" and len(offsets) > 1:
            reference = reference_index(offsets)
            architecture["masked_channels"] = (reference * channels, (reference + 1) * channels)
        return dict(in_channels=channels * len(offsets),
                    out_channels=channels + int(config["anomaly_maps"]), image_size=config["image_size"],
                    patch_size=config["patch_size"], class_head=config["class_head"], **architecture)

    def _build_modules(self) -> dict[str, torch.nn.Module]:
        """Fresh networks for :func:`pyvad.load` (weights are restored afterwards)."""
        return {"net_": CvTMaskedAutoEncoder(**self.net_kwargs_).eval()}

    def _training_extractor(self, config: Mapping[str, Any]) -> WholeFrames:
        """A fresh copy of ``extractor``, or the preset's ``WholeFrames`` when it is None."""
        if self.extractor is not None:
            return clone(self.extractor)
        return WholeFrames(config["image_size"], offsets=config["offsets"], motion=config["motion"])

    def _training_extraction(self, videos: list[Video]) -> tuple[FrameEvents, None]:
        return self._training_extractor(self._resolve_config()).fit_transform(videos), None

    def _default_fusion(self) -> ScoreFusion:
        config = self.config_
        weights = dict(zip(_COMPONENTS, config["score_weights"]))
        present = [c for c in _COMPONENTS if c in self.components_]
        return ScoreFusion({c: weights[c] for c in present}, smoothing="gaussian",
                           window=config["smoothing_window"], sigma=config["smoothing_sigma"])

    # ------------------------------------------------------------------ events
    def _events(self, X: Any, *, training: bool) -> FrameEvents:
        """``X`` as frame events checked against the configuration."""
        if isinstance(X, EventSet):
            events = X
        elif training:
            events = self.extractor_.fit_transform(X)
        else:
            events = self._scoring_extractor().transform(X)
        return self._checked(events, training=training)

    def _scoring_extractor(self) -> WholeFrames:
        """The fitted extractor without motion maps (scoring does not use them)."""
        return clone(self.extractor_).set_params(motion=None).fit(None)

    def _checked(self, events: FrameEvents, *, training: bool) -> FrameEvents:
        """``events`` after checking them against the configuration."""
        config = self.config_
        if events.patch_size != config["image_size"] or events.offsets != config["offsets"]:
            raise InvalidVideoError(
                f"the frame events have size {events.patch_size} and offsets {events.offsets}, but "
                f"MaskedAEDetector expects image_size={config['image_size']} and offsets={config['offsets']}; "
                "use WholeFrames(image_size=..., offsets=...) with the same values"
            )
        if not training:
            check_channels(events, self.net_kwargs_["in_channels"] // len(config["offsets"]), type(self).__name__)
        if training and config["motion_weights"] and getattr(events, "motion", None) is None:
            raise InvalidVideoError("motion_weights=True needs motion maps: use WholeFrames(motion='paper')")
        return events

    # ------------------------------------------------------------------ fitting
    def _fit(self, X: Any, y: Any = None) -> ScoreTable:
        """Train, fit the fusion, and return the training frames' table (``fit_transform`` reuses it)."""
        self.config_ = self._resolve_config()
        self._trainer(1, None)  # bad trainer_params fail before extraction
        offsets, radius = self.config_["offsets"], math.ceil(4.0 * self.config_["filter_sigma_temporal"])
        # Frames read to score t (for streaming): stacked neighbours plus the 3-D filter's reach.
        self.temporal_context_ = (max(0, -min(offsets)) + radius, max(0, max(offsets)) + radius)
        self.extractor_ = self._training_extractor(self.config_)
        events = self._events(X, training=True)
        if len(events) == 0:
            raise InvalidVideoError("MaskedAEDetector.fit: the training videos have no frames")
        seed = None if self.random_state is None else int(np.random.RandomState(self.random_state).randint(2**31))
        if seed is not None:
            torch.manual_seed(seed)
        self.net_kwargs_ = self._net_kwargs(events)
        net = CvTMaskedAutoEncoder(**self.net_kwargs_)
        self.history_ = {}
        self._train(net, events, seed)
        self.net_ = net.eval()
        self.test_keep_ = self._test_keep()
        self.components_ = [c for c in _COMPONENTS if self._has_component(c)]
        return self._fit_scoring(events)

    def _fit_scoring(self, events: FrameEvents) -> ScoreTable:
        """Fit what scoring learns from the training frames, the per-cell statistics and then the
        fusion, and return the training frames' table (also after a change of test-time settings)."""
        self.cell_statistics_ = None
        if self.config_["normalize_cells"]:
            maps = next(self._scored_videos(events, partial(video_component_maps, **self._sigmas())))
            self.cell_statistics_ = cell_statistics(maps)
        table = self.transform(events)
        self.fusion_ = clone(self.fusion) if self.fusion is not None else self._default_fusion()
        self.fusion_.fit(table)
        self.training_frame_scores_ = self.fusion_.training_frame_scores_
        return table

    def _has_component(self, name: str) -> bool:
        return {"teacher_error": True, "ts_gap": self.net_.has_student,
                "class_prob": self.net_.class_head is not None}[name]

    def _trainer(self, epochs: int, seed: int | None) -> Trainer:
        config = self.config_
        own = dict(epochs=epochs, batch_size=config["batch_size"], optimizer=config["optimizer"], lr=config["lr"],
                   device=self.device, amp=config["amp"], random_state=seed, verbose=self.verbose)
        return Trainer(**trainer_arguments(type(self).__name__, own, self.trainer_params))

    def _train(self, net: CvTMaskedAutoEncoder, events: FrameEvents, seed: int | None) -> None:
        config = self.config_
        anomalies = None
        if config["synthetic_anomalies"]:
            anomalies = self.anomalies if self.anomalies is not None else SyntheticAnomalies()
        data = _FrameDataset(events, anomalies, config["anomaly_probability"])
        # checkpoints of a fit on other frames, or with other settings, are never resumed
        data_key = training_key(events.fingerprint(), config, seed, anomalies, trainer_params=self.trainer_params)
        set_trainable(net, freeze=[n for n in CvTMaskedAutoEncoder.STUDENT_MODULES if getattr(net, n) is not None])
        trainer = self._trainer(config["teacher_epochs"], seed)
        trainer.fit(net, self._teacher_loss, data, name="teacher", data_key=data_key)
        self.history_["teacher"] = trainer.history_
        if net.has_student:
            set_trainable(net, train=list(CvTMaskedAutoEncoder.STUDENT_MODULES))
            trainer = self._trainer(config["student_epochs"], None if seed is None else seed + 1)
            trainer.fit(net, self._student_loss, data, name="student", data_key=data_key)
            self.history_["student"] = trainer.history_
        net.requires_grad_(False)
        net.to("cpu")

    def _mask(self, batch: int, n_tokens: int, device: torch.device) -> torch.Tensor | None:
        return random_keep(batch, n_tokens, self.config_["mask_ratio"], device=device)

    def _weights(self, net: CvTMaskedAutoEncoder, motion: torch.Tensor, anomaly_map: torch.Tensor) -> torch.Tensor:
        if self.config_["motion_weights"]:
            return token_weights(motion, anomaly_map, net.patch_size)
        return motion.new_full((motion.shape[0], net.n_tokens), 1.0 / net.n_tokens)

    def _teacher_loss(self, model: torch.nn.Module, batch: Sequence[torch.Tensor], epoch: int):
        inputs, clean, motion, anomaly_map, label = batch
        net = _unwrap(model)
        out = model(inputs, self._mask(len(inputs), net.n_tokens, inputs.device), student=False)
        target = patchify(_reconstruction_target(clean, anomaly_map, self.config_["anomaly_maps"]), net.patch_size)
        error = (out["teacher"].float() - target).pow(2).mean(dim=-1)
        reconstruction = (self._weights(net, motion, anomaly_map) * error).sum(dim=1).mean()
        logs = {"reconstruction": reconstruction.detach()}
        loss = reconstruction
        if "logit" in out:
            bce = F.binary_cross_entropy_with_logits(out["logit"].float(), label)
            loss = loss + bce
            logs["bce"] = bce.detach()
        return loss, logs

    def _student_loss(self, model: torch.nn.Module, batch: Sequence[torch.Tensor], epoch: int):
        inputs, _, motion, anomaly_map, _ = batch
        net = _unwrap(model)
        # The frozen path runs deterministically (no dropout, fixed BatchNorm statistics) and
        # the student trains; set explicitly because the trainer's eval_frozen switches the
        # whole network to eval mode once its own tokens (cls/mask) are frozen.
        for name in CvTMaskedAutoEncoder.SHARED_MODULES + CvTMaskedAutoEncoder.STUDENT_MODULES:
            module = getattr(net, name)
            if module is not None:
                module.train(name in CvTMaskedAutoEncoder.STUDENT_MODULES)
        keep = self._mask(len(inputs), net.n_tokens, inputs.device)
        out = model(inputs, keep, classify=False)
        gap = (out["student"].float() - out["teacher"].detach().float()).pow(2).mean(dim=-1)
        if self.config_["distillation_loss"] == "weighted":
            loss = (self._weights(net, motion, anomaly_map) * gap).sum(dim=1).mean()
        else:
            masked = torch.ones_like(gap)
            if keep is not None:
                masked.scatter_(1, keep, 0.0)
            loss = (gap * masked).sum() / masked.sum().clamp_min(1.0)
        return loss, {"distillation": loss.detach()}

    def _test_keep(self) -> torch.Tensor | None:
        mode, n_tokens, ratio = self.config_["test_mask"], self.net_.n_tokens, self.config_["mask_ratio"]
        generator = torch.Generator().manual_seed(_TEST_MASK_SEED)
        if mode == "none":
            return None
        if mode in ("fixed", "per_frame"):
            return random_keep(1 if mode == "fixed" else _FRAME_MASKS, n_tokens, ratio, generator=generator)
        passes = _complementary_passes(ratio)
        hidden = torch.randperm(n_tokens, generator=generator).reshape(passes, -1)
        visible = torch.ones(passes, n_tokens, dtype=torch.bool)
        visible.scatter_(1, hidden, False)
        return visible.nonzero()[:, 1].reshape(passes, -1)

    def _pass_weights(self) -> torch.Tensor | None:
        """Per pass, which tokens it scores: with complementary masks, the tokens it hides."""
        if self.config_["test_mask"] != "complementary":
            return None
        weights = torch.ones(len(self.test_keep_), self.net_.n_tokens)
        return weights.scatter_(1, self.test_keep_, 0.0)

    # ------------------------------------------------------------------ scoring
    def _scoring_net(self, device: torch.device) -> torch.nn.Module:
        net = self.net_.to(device).eval()
        return torch.compile(net) if self.compile else net

    def _scorer(self, net: torch.nn.Module, offsets: Sequence[int]) -> MaskedAEScorer:
        return MaskedAEScorer(net, self.test_keep_, reference_index(offsets), self.components_, self.config_["anomaly_maps"],
                              self._pass_weights(),
                              per_frame=self.config_["test_mask"] == "per_frame" and self.test_keep_ is not None)

    def _token_scores(
        self, events: EventSet, scorer: MaskedAEScorer, device: torch.device, ready: Callable[[int], None] | None = None
    ) -> dict[str, np.ndarray]:
        """Raw per-token maps ``(N, gh, gw)`` and class probabilities ``(N,)`` of every event;
        ``ready(k)``, if given, is called before events ``… k - 1`` are read (frames still being read)."""
        def batch(rows: slice) -> list[np.ndarray]:
            if ready is not None:
                ready(rows.stop)
            return [events.patches[rows]]

        return score_in_batches(scorer, scorer.names, batch, len(events), self.scoring_batch_size(device), device,
                                resolve_amp(preset_value(self, PRESETS, "amp"), device))

    def scoring_batch_size(self, device: str | torch.device = "cpu") -> int:
        """Frames per forward pass when scoring on ``device``: ``inference_batch_size``, or its default.

        Parameters
        ----------
        device : str or torch.device, default="cpu"

        Returns
        -------
        int
        """
        check_is_fitted(self, "config_")
        height, width = self.config_["image_size"]
        cpu = max(1, min(_CPU_MAX_BATCH, _CPU_BATCH_PIXELS // (height * width)))
        smallest, largest = _DEVICE_BATCH_RANGE
        other = max(smallest, min(largest, _DEVICE_BATCH_PIXELS // (height * width)))
        return scoring_batch_size(self.inference_batch_size, device, cpu, other)

    def _scored_videos(self, X: Any, reduce: Callable[[dict[str, np.ndarray], FrameEvents], _T]) -> Iterator[_T]:
        """``reduce(raw token scores, frame events)`` of ``X``, one video at a time.

        Videos are read, resized and scored one by one, and only what ``reduce`` keeps
        outlives a video, so memory holds the frames of one video, not of the whole test
        set (Avenue's 320x640 input is 0.6 MB a frame, three times that stacked). An
        EventSet is scored as it is.
        """
        device = resolve_device(self.device)
        scorer = self._scorer(self._scoring_net(device), self.config_["offsets"]).to(device)
        if isinstance(X, EventSet):
            yield reduce(self._token_scores(self._checked(X, training=False), scorer, device), X)
            return
        extractor = self._scoring_extractor()
        for video in as_videos(X):
            events, reader = extractor._stream(video)
            try:
                reduced = reduce(self._token_scores(self._checked(events, training=False), scorer, device, reader.ready),
                                 events)
            finally:
                reader.close()
            del events, reader  # the frames, before the next video is read, not after
            yield reduced

    def _sigmas(self) -> dict[str, float]:
        return {"sigma_spatial": self.config_["filter_sigma_spatial"],
                "sigma_temporal": self.config_["filter_sigma_temporal"]}

    def _postprocess_params(self) -> dict[str, Any]:
        """Keyword arguments of :func:`frame_table` for this detector."""
        # models saved before normalize_cells existed have no statistics: scored as they were
        return {**self._sigmas(), "cell_statistics": getattr(self, "cell_statistics_", None)}

    def transform(self, X: Any) -> ScoreTable:
        """Raw AED-MAE score components of every frame.

        Parameters
        ----------
        X : sequence of videos or FrameEvents
            Videos (extracted with the fitted extractor) or the output of
            :class:`~pyvad.foreground.WholeFrames`.

        Returns
        -------
        ScoreTable
            Frame-level components ``teacher_error`` (frame maximum of the filtered
            teacher-error map), ``ts_gap`` (same for the teacher-student gap, with
            self-distillation) and ``class_prob`` (temporally filtered classifier
            probability, with the class head).
        """
        check_is_fitted(self, "net_")
        return ScoreTable.concat(list(self._scored_videos(X, partial(frame_table, **self._postprocess_params()))))

    def _scoring_graph(self) -> ScoringGraph:
        """The scorer on frame stacks of the fitted size (for :meth:`export`); filtering stays outside."""
        offsets = self.config_["offsets"]
        shape = (len(offsets), *self.config_["image_size"], self.net_kwargs_["in_channels"] // len(offsets))
        scorer = self._scorer(self.net_, offsets)
        extractor = clone(self.extractor_).set_params(motion=None)
        return ScoringGraph(scorer, {"patches": ("uint8", shape)}, scorer.names, frame_table, self._postprocess_params(),
                            extractor)

    def score_maps(self, X: Any) -> list[np.ndarray]:
        """Pixel anomaly maps (Eq. 6 after 3-D filtering), at the size of the input frames.

        Each component map is normalised cell by cell (with ``normalize_cells``), then like
        the fusion does (training mean and scale), and weighted by the fusion weights; the
        class probability is added to every pixel.

        Parameters
        ----------
        X : sequence of videos or FrameEvents

        Returns
        -------
        list of ndarray of shape (n_frames, H, W), float32
            One array per video, higher = more abnormal.
        """
        check_is_fitted(self, "net_")
        def pixel_maps(outputs: dict[str, np.ndarray], events: FrameEvents) -> list[np.ndarray]:
            statistics = self._postprocess_params()["cell_statistics"]
            return [self._pixel_maps(normalized_cells(components, statistics), events.frame_sizes[video])
                    for video, components in enumerate(video_component_maps(outputs, events, **self._sigmas()))]

        return [maps for part in self._scored_videos(X, pixel_maps) for maps in part]

    def _pixel_maps(self, components: Mapping[str, np.ndarray], frame_size: Sequence[int]) -> np.ndarray:
        """One video's filtered component maps fused like ``fusion_`` and resized to ``frame_size``."""
        fusion = self.fusion_
        total = 0.0
        for name, weight, mean, scale in zip(fusion.components_, fusion.weights_, fusion.mean_, fusion.scale_):
            values = components[name]
            values = values if values.ndim > 1 else values[:, None, None]
            total = total + weight * (values - mean) / scale
        height, width = (int(v) for v in frame_size)
        return np.stack([cv2.resize(np.asarray(m, np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
                         for m in total])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags
