"""CIFAR-style ResNets for 32x32 inputs (3x3 stem, no max-pool).

This is the layout of the CIFAR-100 ResNets CAFE uses as teacher (ResNet-34) and,
without a classifier, as student (ResNet-9: one block per stage). Stage names follow
torchvision (``layer1`` ... ``layer4``; the CIFAR literature calls them conv2_x ...
conv5_x) so the same feature-tap names work for both families. For a 32x32 input
the stage outputs are 64x32x32, 128x16x16, 256x8x8 and 512x4x4, and ``avgpool``
gives 512x1x1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "CIFARResNet", "resnet9_cifar", "resnet18_cifar", "resnet34_cifar"]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with an identity (or 1x1 conv + BN) shortcut.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    out_channels : int
        Channels of the output.
    stride : int, default=1
        Stride of the first convolution (2 halves the resolution).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            _conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            _conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``relu(residual(x) + shortcut(x))``.

        Parameters
        ----------
        x : Tensor of shape (N, in_channels, H, W)

        Returns
        -------
        Tensor of shape (N, out_channels, ceil(H / stride), ceil(W / stride))
        """
        return self.relu(self.residual(x) + self.shortcut(x))


class CIFARResNet(nn.Module):
    """ResNet with a 3x3 stride-1 stem and no max-pool, for small (32x32) images.

    Parameters
    ----------
    blocks : sequence of 4 int
        Number of :class:`BasicBlock` per stage (``(3, 4, 6, 3)`` is ResNet-34).
    num_classes : int or None, default=100
        Size of the final linear classifier; ``None`` builds a feature extractor
        whose forward returns the pooled feature vector.
    widths : sequence of 4 int, default=(64, 128, 256, 512)
        Channels of the four stages (the stem has ``widths[0]``).
    in_channels : int, default=3
        Channels of the input images.

    Examples
    --------
    >>> net = CIFARResNet((1, 1, 1, 1), num_classes=10)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        blocks: Sequence[int] = (3, 4, 6, 3),
        num_classes: int | None = 100,
        widths: Sequence[int] = (64, 128, 256, 512),
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if len(blocks) != 4 or len(widths) != 4 or min(blocks) < 1:
            raise ValueError(f"CIFARResNet needs 4 positive block counts and 4 widths, got {blocks} and {widths}")
        self.stem = nn.Sequential(_conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        channels = widths[0]
        for index, (count, width) in enumerate(zip(blocks, widths)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, width, stride)] + [BasicBlock(width, width) for _ in range(count - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            channels = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes) if num_classes is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, num_classes)``, or pooled features ``(N, C)`` without a classifier.

        Parameters
        ----------
        x : Tensor of shape (N, in_channels, H, W)
            Images (32x32 for the CIFAR layout; other sizes work too).

        Returns
        -------
        Tensor of shape (N, num_classes) or (N, widths[3])
        """
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet34_cifar(num_classes: int | None = 100) -> CIFARResNet:
    """CIFAR ResNet-34 (blocks 3, 4, 6, 3): CAFE's teacher architecture.

    Parameters
    ----------
    num_classes : int or None, default=100
        Classifier size; None returns pooled features (see :class:`CIFARResNet`).

    Returns
    -------
    CIFARResNet
    """
    return CIFARResNet((3, 4, 6, 3), num_classes)


def resnet18_cifar(num_classes: int | None = 100) -> CIFARResNet:
    """CIFAR ResNet-18 (blocks 2, 2, 2, 2); without a classifier, CAFE's "ResNet-17" ablation student.

    Parameters
    ----------
    num_classes : int or None, default=100
        Classifier size; None returns pooled features (see :class:`CIFARResNet`).

    Returns
    -------
    CIFARResNet
    """
    return CIFARResNet((2, 2, 2, 2), num_classes)


def resnet9_cifar(num_classes: int | None = None) -> CIFARResNet:
    """CIFAR ResNet-9 (one block per stage, no classifier by default): CAFE's student shape.

    Parameters
    ----------
    num_classes : int or None, default=None
        Classifier size; None returns pooled features (see :class:`CIFARResNet`).

    Returns
    -------
    CIFARResNet
    """
    return CIFARResNet((1, 1, 1, 1), num_classes)
