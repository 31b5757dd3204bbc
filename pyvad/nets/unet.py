"""U-Net frame predictor with feature taps, the student network of PKG-Net.

The encoder halves the resolution ``depth`` times, doubling the channels each time
(``width * 2**level`` channels at ``1 / 2**level`` of the input size); the decoder
mirrors it with transposed convolutions and U-Net skip connections, and a 1x1
convolution turns the last decoder stage into the predicted frame.

Some *levels* can be tapped: the bottleneck (``level == depth``) or the output of a
decoder stage (``level < depth``). A tapped feature goes through a 1x1 convolution
when the teacher block it imitates has another number of channels (identity
otherwise), so a student of width 64 matches ResNet-50's Block1 (256 x 8 x 8) and
Block2 (512 x 4 x 4) for 32 x 32 inputs without any projection. A tapped decoder
stage gets no skip connection: its features have to come from the bottleneck, i.e.
from the prediction of the future frame, not from the encoder of the past frames
(the layout of the PKG-Net authors' two-block student).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DoubleConv", "UNetPredictor"]

_DOWNSAMPLING = ("maxpool", "conv")


class DoubleConv(nn.Sequential):
    """Two (3x3 convolution, BatchNorm, ReLU) layers.

    Parameters
    ----------
    in_channels : int
        Channels of the input.
    out_channels : int
        Channels of both convolutions' outputs.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def _down(channels: int, mode: str) -> nn.Module:
    """Halve the resolution: 2x2 max-pool, or a strided 3x3 convolution with BN and ReLU."""
    if mode == "maxpool":
        return nn.MaxPool2d(2)
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


class UNetPredictor(nn.Module):
    """Predict a frame from a stack of previous frames; expose features of chosen levels.

    Parameters
    ----------
    in_channels : int, default=12
        Channels of the input stack (4 previous RGB frames = 12).
    out_channels : int, default=3
        Channels of the predicted frame.
    width : int, default=64
        Channels of the first level; level ``l`` has ``width * 2**l``.
    depth : int, default=3
        Number of downsamplings; the bottleneck is level ``depth`` (4 x 4 for a 32 x 32 input
        when ``depth=3``). Input sides must be divisible by ``2**depth``.
    downsample : {"maxpool", "conv"}, default="maxpool"
        2x2 max-pooling, or a 3x3 stride-2 convolution (+ BN, ReLU).
    taps : sequence of int, default=()
        Levels whose features are returned, each in ``[1, depth]``.
    tap_channels : sequence of int, optional
        Channels wanted for each tap (e.g. the teacher block's); a 1x1 convolution
        projects the student's features when they differ. Default: the student's own.

    Examples
    --------
    >>> net = UNetPredictor(width=8, taps=(2, 3), tap_channels=(24, 64))
    >>> prediction, features = net(torch.rand(2, 12, 32, 32))
    >>> tuple(prediction.shape), {k: tuple(v.shape) for k, v in features.items()}
    ((2, 3, 32, 32), {2: (2, 24, 8, 8), 3: (2, 64, 4, 4)})
    """

    def __init__(
        self,
        in_channels: int = 12,
        out_channels: int = 3,
        width: int = 64,
        depth: int = 3,
        downsample: str = "maxpool",
        taps: Sequence[int] = (),
        tap_channels: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.taps = tuple(int(t) for t in taps)
        self._check(in_channels, out_channels, width, depth, downsample, tap_channels)
        self.depth = depth
        channels = [width * 2**level for level in range(depth + 1)]
        self.inc = DoubleConv(in_channels, channels[0])
        self.down = nn.ModuleList(
            nn.Sequential(_down(channels[level], downsample), DoubleConv(channels[level], channels[level + 1]))
            for level in range(depth)
        )
        # up[i] / dec[i] produce decoder level depth - 1 - i
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(channels[level + 1], channels[level], 3, stride=2, padding=1, output_padding=1)
            for level in reversed(range(depth))
        )
        self.dec = nn.ModuleList(
            DoubleConv(channels[level] * (1 if self._is_tap(level) else 2), channels[level])
            for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(channels[0], out_channels, 1)
        wanted = [channels[t] for t in self.taps] if tap_channels is None else list(tap_channels)
        self.projections = nn.ModuleDict(
            {
                str(t): nn.Identity() if wanted[i] == channels[t] else nn.Conv2d(channels[t], wanted[i], 1)
                for i, t in enumerate(self.taps)
            }
        )

    def _check(
        self, in_channels: int, out_channels: int, width: int, depth: int, downsample: str,
        tap_channels: Sequence[int] | None,
    ) -> None:
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width),
                            ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"UNetPredictor {name} must be a positive int, got {value!r}")
        if downsample not in _DOWNSAMPLING:
            raise ValueError(f"UNetPredictor downsample must be one of {_DOWNSAMPLING}, got {downsample!r}")
        bad = [t for t in self.taps if not 1 <= t <= depth]
        if bad or len(set(self.taps)) != len(self.taps):
            raise ValueError(f"UNetPredictor taps must be distinct levels in [1, {depth}], got {self.taps}")
        if tap_channels is not None and len(tap_channels) != len(self.taps):
            raise ValueError(
                f"UNetPredictor tap_channels has {len(tap_channels)} entries but there are {len(self.taps)} taps"
            )

    def _is_tap(self, level: int) -> bool:
        return level in self.taps

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Predict the next frame.

        Parameters
        ----------
        frames : torch.Tensor
            ``(N, in_channels, H, W)``, previous frames stacked along channels.

        Returns
        -------
        prediction : torch.Tensor
            ``(N, out_channels, H, W)``, no output activation.
        features : dict of int to torch.Tensor
            Projected features of every tapped level.
        """
        skips = [self.inc(frames)]
        for down in self.down:
            skips.append(down(skips[-1]))
        x = skips[-1]
        features = {self.depth: x} if self._is_tap(self.depth) else {}
        for i, (up, dec) in enumerate(zip(self.up, self.dec)):
            level = self.depth - 1 - i
            x = up(x)
            x = dec(x if self._is_tap(level) else torch.cat([skips[level], x], dim=1))
            if self._is_tap(level):
                features[level] = x
        return self.head(x), {t: self.projections[str(t)](features[t]) for t in self.taps}
