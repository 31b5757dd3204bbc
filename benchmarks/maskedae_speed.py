"""AED-MAE scoring speed on this machine: frames/s per setting, parameters, GFLOPs.

    python benchmarks/maskedae_speed.py [--threads 2] [--frames 64] [--amp bf16] [--compile] [--output JSON]
    python benchmarks/maskedae_speed.py --device cuda --amp fp16 --batch 256 --frames 4096   # on a GPU

For the Ped2 setting (240x360 frames -> 80x160 input, patch 4) and the Avenue setting
(360x640 -> 320x640, patch 16), with the paper's single-frame input and the released
code's three stacked frames (9 channels), it reports:

- ``model_fps``: the network alone (teacher + student + class head, one shared encoder
  pass, 50 % test mask, batch ``--batch``, default 32, ``torch.inference_mode``), median of
  5 runs (on CUDA each run is synchronised);
- ``end_to_end_fps``: ``score_frames`` on decoded uint8 frames at native resolution
  (resizing, the network, 3-D filtering, fusion), inference batch ``--batch``.

Weights are random (a one-epoch fit on 8 frames builds the detector): speed does not
depend on them. The notes' reference (released code, same 2-core CPU class, batch 32):
Ped2 setting 14.2 frames/s, Avenue 12.0 frames/s.

Because a shared machine's load changes the absolute numbers, ``--reference`` also times
:class:`ReleasedLayoutMAE`, a re-implementation of the *computation layout* of the released
model (separate depthwise convolutions and BatchNorms for q/k/v, explicit softmax attention,
1x1-convolution MLPs on NCHW grids, 9-channel input, 50 % masking, teacher and student
heads), alternating with pyvad's network on the same batch, and reports the speed ratio,
which is far less sensitive to the load than either absolute number.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import peak_rss_mb, write_result
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from pyvad.methods.maskedae import MaskedAEDetector
from pyvad.training import mixed_precision, resolve_amp

SETTINGS = {"ped2": ((240, 360), "ped2"), "avenue": ((360, 640), "avenue")}
TINY_TRAINING = dict(epochs=1, batch_size=8, synthetic_anomalies=True)


class _ReleasedBlock(nn.Module):
    """A CvT block laid out as in the released code (q/k/v convs apart, explicit softmax, conv MLP)."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim**-0.5
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.convs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False), nn.BatchNorm2d(dim))
            for _ in range(3)
        )
        self.linears = nn.ModuleList(nn.Linear(dim, dim) for _ in range(3))
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1), nn.GELU(), nn.Dropout(0.1), nn.Conv2d(2 * dim, dim, 1))

    def _grid(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return x[:, 1:].transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, d = x.shape
        y = self.norm1(x)
        grid = self._grid(y, h, w)
        q, k, v = (lin(torch.cat([y[:, :1], conv(grid).flatten(2).transpose(1, 2)], dim=1)).reshape(
            b, n, self.heads, d // self.heads).transpose(1, 2) for conv, lin in zip(self.convs, self.linears))
        attn = (q @ k.transpose(-2, -1) * self.scale).softmax(dim=-1)
        x = x + self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))
        y = self.norm2(x)
        mlp = self.mlp(self._grid(y, h, w)).flatten(2).transpose(1, 2)
        return x + torch.cat([torch.zeros_like(y[:, :1]), mlp], dim=1)


class ReleasedLayoutMAE(nn.Module):
    """Timing reference: the released AED-MAE forward pass layout (teacher + student, 50 % masking)."""

    def __init__(self, in_channels: int, grid: tuple[int, int], patch: int) -> None:
        super().__init__()
        self.grid, self.patch = grid, patch
        self.embed = nn.Conv2d(in_channels, 256, patch, stride=patch)
        self.embed_norm = nn.LayerNorm(256, eps=1e-6)
        self.cls = nn.Parameter(torch.zeros(1, 1, 256))
        self.encoder = nn.ModuleList(_ReleasedBlock(256) for _ in range(3))
        self.norm = nn.LayerNorm(256, eps=1e-6)
        self.decoder_embed = nn.Linear(256, 128)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 128))
        self.decoder = nn.ModuleList(_ReleasedBlock(128) for _ in range(3))
        self.student = _ReleasedBlock(128)
        self.heads = nn.ModuleList(nn.Linear(128, patch * patch * 4) for _ in range(2))
        self.head_norms = nn.ModuleList(nn.LayerNorm(128, eps=1e-6) for _ in range(2))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = self.grid
        tokens = self.embed_norm(self.embed(images).flatten(2).transpose(1, 2))
        b, n, d = tokens.shape
        order = torch.rand(b, n).argsort(dim=1)
        keep = order[:, : n // 2]
        x = torch.cat([self.cls.expand(b, -1, -1), tokens.gather(1, keep[..., None].expand(-1, -1, d))], dim=1)
        for block in self.encoder:
            x = block(x, h, w // 2)  # the released pseudo-grid of shuffled visible tokens
        x = self.decoder_embed(self.norm(x))
        full = torch.cat([x[:, 1:], self.mask_token.expand(b, n - n // 2, -1)], dim=1)
        restore = order.argsort(dim=1)
        x = torch.cat([x[:, :1], full.gather(1, restore[..., None].expand(-1, -1, 128))], dim=1)
        x = self.decoder[0](x, h, w)
        student = self.heads[1](self.head_norms[1](self.student(x, h, w)))
        for block in self.decoder[1:]:
            x = block(x, h, w)
        return self.heads[0](self.head_norms[0](x)), student


def _autocast(det: MaskedAEDetector, device: torch.device):
    """The detector's scoring precision on ``device`` (as ``score_frames`` uses it)."""
    return mixed_precision(resolve_amp(det.amp, device), device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_ratio(det: MaskedAEDetector, rounds: int = 5) -> tuple[float, float, float]:
    """Median time of ReleasedLayoutMAE over pyvad's network, alternating on one batch of 32.

    Returns (ratio, pyvad frames/s, reference frames/s), medians over ``rounds``.
    """
    height, width = det.config_["image_size"]
    patch = det.config_["patch_size"]
    reference = ReleasedLayoutMAE(9, (height // patch, width // patch), patch).eval()
    net = det._scoring_net(torch.device("cpu"))
    channels = det.net_kwargs_["in_channels"]
    ours_in, ref_in = torch.randn(32, channels, height, width), torch.randn(32, 9, height, width)
    keep = None if det.test_keep_ is None else det.test_keep_.expand(32, -1)
    ours, theirs = [], []
    autocast = _autocast(det, torch.device("cpu"))  # pyvad's settings; the reference stays fp32
    with torch.inference_mode():
        reference(ref_in)
        with autocast:
            net(ours_in, keep)
        for _ in range(rounds):
            start = time.perf_counter()
            with autocast:
                net(ours_in, keep)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            reference(ref_in)
            theirs.append(time.perf_counter() - start)
    ratios = [t / o for t, o in zip(theirs, ours)]
    return statistics.median(ratios), 32 / statistics.median(ours), 32 / statistics.median(theirs)


def build(preset: str, offsets: tuple[int, ...], frame_size: tuple[int, int], args) -> MaskedAEDetector:
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(8, *frame_size, 3), dtype=np.uint8)
    det = MaskedAEDetector(preset=preset, offsets=offsets, inference_batch_size=args.batch, amp=args.amp,
                           compile=args.compile, device=args.device, random_state=0, **TINY_TRAINING)
    return det.fit([clip])


def model_fps(det: MaskedAEDetector, args) -> tuple[float, float]:
    """Median frames/s of the network alone on a batch of ``args.batch``, and GFLOPs per frame."""
    device = torch.device(args.device)
    net = det._scoring_net(device)
    channels = det.net_kwargs_["in_channels"]
    images = torch.randn(args.batch, channels, *det.config_["image_size"], device=device)
    keep = None if det.test_keep_ is None else det.test_keep_.to(device).expand(args.batch, -1)
    times = []
    with torch.inference_mode(), _autocast(det, device):
        for _ in range(3):
            net(images, keep)
        for _ in range(5):
            _synchronize(device)
            start = time.perf_counter()
            net(images, keep)
            _synchronize(device)
            times.append(time.perf_counter() - start)
        # The math back end spells attention out as matrix products: the CPU's fused SDPA kernel
        # has no FLOP formula, so without it the counter misses the attention (2.23 vs 4.04 GFLOP, Ped2).
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            det.net_(images[:1], None if keep is None else keep[:1])
    return args.batch / statistics.median(times), counter.get_total_flops() / 1e9


def end_to_end_fps(det: MaskedAEDetector, frame_size: tuple[int, int], n_frames: int) -> float:
    video = np.random.default_rng(1).integers(0, 256, size=(n_frames, *frame_size, 3), dtype=np.uint8)
    det.score_frames([video[:det.inference_batch_size]])  # warm-up
    start = time.perf_counter()
    det.score_frames([video])  # returns numpy arrays, so device work is finished
    return n_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64, help="frames scored end to end per setting")
    parser.add_argument("--amp", choices=["bf16", "fp16"], help="autocast: bf16 (CPU or CUDA) or fp16 (CUDA)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=32, help="batch of the timed network passes and of scoring")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--reference", action="store_true", help="also time the released layout (ratio)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/maskedae_speed.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for setting in args.settings:
        frame_size, preset = SETTINGS[setting]
        for input_name, offsets in (("paper (1 frame)", (0,)), ("released (t-3, t, t+3)", (-3, 0, 3))):
            det = build(preset, offsets, frame_size, args)
            fps, gflops = model_fps(det, args)
            row = {
                "setting": setting, "input": input_name, "frame_size": frame_size,
                "image_size": det.config_["image_size"], "patch_size": det.config_["patch_size"],
                "params": sum(p.numel() for p in det.net_.parameters()), "gflops_per_frame": gflops,
                "model_fps": fps, "end_to_end_fps": end_to_end_fps(det, frame_size, args.frames),
            }
            if args.reference:
                row["speedup_vs_released_layout"], _, row["released_layout_fps"] = reference_ratio(det)
            rows.append(row)
            print(f"{setting:7s} {input_name:24s} params {row['params'] / 1e6:.2f}M  {gflops:.2f} GFLOP/frame  "
                  f"model {fps:6.1f} frames/s  end-to-end {row['end_to_end_fps']:6.1f} frames/s"
                  + (f"  x{row['speedup_vs_released_layout']:.2f} vs released layout "
                     f"({row['released_layout_fps']:.1f} frames/s)" if args.reference else ""), flush=True)
    write_result("maskedae_speed", {"threads": args.threads, "device": args.device, "batch": args.batch,
                                    "amp": args.amp, "compile": args.compile,
                                    "rows": rows, "peak_rss_mb": peak_rss_mb()}, args.output)


if __name__ == "__main__":
    main()
