"""CAFE's trainable networks: the ResNet student with feature taps and the low-level decoder.

The student is a CIFAR-style ResNet without classifier (ResNet-9, or ResNet-17 for the
paper's Table 2 ablation) whose *layer groups* are ``stem, layer1, layer2, layer3,
layer4, avgpool`` (conv1, conv2_x ... conv5_x and the pooled vector of the paper's
Fig. 1). CAFE taps the last ``n`` groups (``n = 4`` in the paper). When the teacher's
tap has another shape, a per-tap alignment (1x1 convolution for channels, average
pooling or bilinear resizing for the spatial size) maps the student feature onto it,
the "transformer layer/function" of the paper's Sec. 3.2.2.

:class:`CAFENet` bundles the student, the alignments and the low-level decoders
(Sec. 3.4, Fig. 3) so one forward call runs the patch ``E`` and its temporal context
``C-1``, ``C+1`` through the student.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from pyvad.nets.resnet_cifar import CIFARResNet

__all__ = [
    "LAYER_GROUPS",
    "STUDENT_BLOCKS",
    "CAFENet",
    "CAFEStudent",
    "FeatureAlignment",
    "LowLevelDecoder",
]

LAYER_GROUPS: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool")
"""The student's layer groups in forward order (conv1, conv2_x ... conv5_x, pooled vector)."""

STUDENT_BLOCKS: dict[str, tuple[int, int, int, int]] = {
    "resnet9": (1, 1, 1, 1),
    "resnet17": (2, 2, 2, 2),
}
"""Residual blocks per stage of the two students of the paper (Table 2)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CAFEStudent(nn.Module):
    """CIFAR-style ResNet without classifier returning the outputs of its last layer groups.

    Parameters
    ----------
    arch : {"resnet9", "resnet17"}, default="resnet9"
        Number of residual blocks per stage (1 or 2), see :data:`STUDENT_BLOCKS`.
    n_groups : int, default=4
        How many of the last :data:`LAYER_GROUPS` are returned (1 to 6).
    widths : sequence of 4 int, default=(64, 128, 256, 512)
        Channels of the four stages.

    Examples
    --------
    >>> student = CAFEStudent()
    >>> [tuple(f.shape[1:]) for f in student(torch.zeros(2, 3, 32, 32))]
    [(128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 1, 1)]
    """

    def __init__(
        self, arch: str = "resnet9", n_groups: int = 4, widths: Sequence[int] = (64, 128, 256, 512)
    ) -> None:
        super().__init__()
        if arch not in STUDENT_BLOCKS:
            raise ValueError(f"student arch must be one of {sorted(STUDENT_BLOCKS)}, got {arch!r}")
        if not 1 <= n_groups <= len(LAYER_GROUPS):
            raise ValueError(f"n_groups must be in [1, {len(LAYER_GROUPS)}], got {n_groups}")
        self.backbone = CIFARResNet(STUDENT_BLOCKS[arch], num_classes=None, widths=tuple(widths))
        self.taps = LAYER_GROUPS[-n_groups:]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the tapped layer groups, in forward order.

        Parameters
        ----------
        x : torch.Tensor
            ``(N, 3, h, w)`` normalised images.

        Returns
        -------
        list of torch.Tensor
            One ``(N, C, h', w')`` feature per tap (:attr:`taps`), ``avgpool`` as ``(N, C, 1, 1)``.
        """
        features = []
        for name in LAYER_GROUPS:
            x = getattr(self.backbone, name)(x)
            if name in self.taps:
                features.append(x)
        return features

    @torch.no_grad()
    def feature_shapes(self, height: int = 32, width: int = 32) -> list[tuple[int, int, int]]:
        """Shape ``(C, h, w)`` of every tap for an input of ``height`` x ``width`` pixels.

        Runs one zero image through the network in eval mode, then restores the
        training mode.

        Parameters
        ----------
        height, width : int, default=32
            Input size in pixels.

        Returns
        -------
        list of (int, int, int)
            One shape per tap, in forward order.
        """
        was_training = self.training
        self.eval()
        probe = next(self.parameters())
        shapes = [tuple(f.shape[1:]) for f in self(torch.zeros(1, 3, height, width, device=probe.device))]
        self.train(was_training)
        return shapes


class FeatureAlignment(nn.Module):
    """Map a student feature of shape ``source`` onto a teacher feature of shape ``target``.

    Identity when the shapes agree (CAFE's CIFAR ResNet-34 teacher); otherwise a learned
    1x1 convolution, then adaptive average pooling (student map larger) or bilinear
    resizing (smaller) to the teacher's spatial size. The convolution is kept even when
    only the spatial size differs: the student's features are post-ReLU, so without it
    they could never match a teacher feature that takes negative values (MobileNetV2's
    linear bottlenecks, for instance).

    Parameters
    ----------
    source, target : (int, int, int)
        ``(C, h, w)`` of the student and teacher features.
    """

    def __init__(self, source: Sequence[int], target: Sequence[int]) -> None:
        super().__init__()
        self.size = (int(target[1]), int(target[2]))
        self.enlarge = source[1] < target[1] or source[2] < target[2]
        self.resize = tuple(source[1:]) != tuple(target[1:])
        same_shape = tuple(source) == tuple(target)
        self.project = nn.Identity() if same_shape else nn.Conv2d(int(source[0]), int(target[0]), kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The aligned feature ``(N, *target)``.

        Parameters
        ----------
        x : torch.Tensor
            Student feature ``(N, *source)``.

        Returns
        -------
        torch.Tensor
            ``(N, *target)``.
        """
        x = self.project(x)
        if not self.resize:
            return x
        if self.enlarge:
            return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return F.adaptive_avg_pool2d(x, self.size)


class LowLevelDecoder(nn.Module):
    """Fully convolutional generator from the student's last feature to a pixel-level target.

    The paper's branch ``D`` (Fig. 3): the last high-level feature (pooled to 1x1) is
    expanded to 4x4 by a transposed convolution, then doubled in resolution by
    transposed-convolution + BatchNorm + ReLU stages until the patch size is reached,
    and a 3x3 convolution gives the output channels (3 for the patch ``E``, 2 for its
    optical flow ``O(E)``; no output activation).

    Parameters
    ----------
    in_channels : int
        Channels of the student's last feature.
    out_channels : int
        Channels of the reconstructed target.
    output_size : (int, int), default=(32, 32)
        Target ``(height, width)``; sizes other than ``4 * 2**k`` are reached by a final
        bilinear resize.
    width : int, default=256
        Channels after the first expansion; halved at every doubling (at least 16).

    Examples
    --------
    >>> LowLevelDecoder(512, 2)(torch.zeros(3, 512, 1, 1)).shape
    torch.Size([3, 2, 32, 32])
    """

    def __init__(
        self, in_channels: int, out_channels: int, output_size: Sequence[int] = (32, 32), width: int = 256
    ) -> None:
        super().__init__()
        self.output_size = (int(output_size[0]), int(output_size[1]))
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_channels, width, kernel_size=4), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        ]
        side, channels = 4, width
        while side < max(self.output_size):
            out = max(channels // 2, 16)
            layers += [
                nn.ConvTranspose2d(channels, out, kernel_size=4, stride=2, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            side, channels = side * 2, out
        layers.append(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(N, out_channels, *output_size)`` of a feature ``(N, C, h, w)``.

        Parameters
        ----------
        feature : torch.Tensor
            ``(N, in_channels, h, w)`` student feature; it is first average-pooled to 1x1.

        Returns
        -------
        torch.Tensor
            ``(N, out_channels, *output_size)``.
        """
        x = self.layers(F.adaptive_avg_pool2d(feature, 1))
        if tuple(x.shape[-2:]) != self.output_size:
            x = F.interpolate(x, size=self.output_size, mode="bilinear", align_corners=False)
        return x


class CAFENet(nn.Module):
    """Student, feature alignments and low-level decoders of CAFE in one module.

    Parameters
    ----------
    student : CAFEStudent
        The student network.
    teacher_shapes : sequence of (int, int, int)
        Shape of each teacher tap, in the student's tap order.
    decoders : mapping of str to int, optional
        Low-level branches: target name -> output channels (``{"patch": 3, "flow": 2}``).
    patch_size : (int, int), default=(32, 32)
        Size of the patches (and of the decoders' outputs).

    Notes
    -----
    Input patches are ``uint8`` RGB and normalised inside with ImageNet mean and
    standard deviation (as the reference code does for the student).
    """

    def __init__(
        self,
        student: CAFEStudent,
        teacher_shapes: Sequence[Sequence[int]],
        decoders: Mapping[str, int] | None = None,
        patch_size: Sequence[int] = (32, 32),
    ) -> None:
        super().__init__()
        self.student = student
        student_shapes = student.feature_shapes(*patch_size)
        if len(student_shapes) != len(teacher_shapes):
            raise ValueError(
                f"the student has {len(student_shapes)} taps but {len(teacher_shapes)} teacher shapes were given"
            )
        self.align = nn.ModuleList(FeatureAlignment(s, t) for s, t in zip(student_shapes, teacher_shapes))
        last_channels = student_shapes[-1][0]
        self.decoders = nn.ModuleDict(
            {name: LowLevelDecoder(last_channels, channels, patch_size) for name, channels in (decoders or {}).items()}
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, C, h, w)`` uint8 (or [0, 1] float) RGB/gray patches -> ImageNet-normalised floats.

        Parameters
        ----------
        patches : torch.Tensor
            ``(N, 3, h, w)`` or ``(N, 1, h, w)``; uint8 is divided by 255, other dtypes are
            taken as already in [0, 1]. One channel is repeated to three.

        Returns
        -------
        torch.Tensor
            ``(N, 3, h, w)`` float32.
        """
        x = patches.float() / 255.0 if patches.dtype == torch.uint8 else patches.float()
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        return (x - self.mean) / self.std

    def forward(self, centre: torch.Tensor, context: torch.Tensor | None = None) -> dict[str, object]:
        """Run the event patch (and optionally its context patches) through the student.

        Parameters
        ----------
        centre : torch.Tensor
            ``(N, C, h, w)`` event patches ``E``.
        context : torch.Tensor, optional
            ``(N, K, C, h, w)`` context patches (``C-1``, ``C+1``), run in the same
            student pass as ``E``.

        Returns
        -------
        dict
            ``"student"``: list of the student's tap features of ``E``;
            ``"aligned"``: the same mapped onto the teacher's shapes;
            ``"context"``: list (per tap) of ``(N, K, ...)`` student features of the
            context patches (only with ``context``);
            ``"recon"``: dict target name -> decoder output for ``E``.
        """
        n = centre.shape[0]
        batch = centre if context is None else torch.cat([centre, context.flatten(0, 1)])
        features = self.student(self.normalize(batch))
        own = [f[:n] for f in features]
        outputs: dict[str, object] = {
            "student": own,
            "aligned": [align(f) for align, f in zip(self.align, own)],
            "recon": {name: decoder(own[-1]) for name, decoder in self.decoders.items()},
        }
        if context is not None:
            k = context.shape[1]
            outputs["context"] = [f[n:].unflatten(0, (n, k)) for f in features]
        return outputs
