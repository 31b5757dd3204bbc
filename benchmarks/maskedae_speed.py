"""AED-MAE scoring speed on this machine: frames/s per setting, parameters, GFLOPs.

    python benchmarks/maskedae_speed.py [--threads 2] [--frames 64] [--amp bf16] [--compile] [--output JSON]
    python benchmarks/maskedae_speed.py --device cuda --amp fp16 --batch 256 --frames 4096   # on a GPU

For the Ped2 setting (240x360 frames -> 80x160 input, patch 4) and the Avenue setting
(360x640 -> 320x640, patch 16), with the paper's single-frame input and the released
code's three stacked frames (9 channels), it reports:

- ``model_fps``: the network alone (teacher + student + class head, one shared encoder
  pass, 50 % test mask, batch ``--batch``, by default the detector's own scoring batch for
  the device (``MaskedAEDetector.scoring_batch_size``), ``torch.inference_mode``), median of
  5 rounds that alternate between the two inputs of a setting, after 3 warm-up rounds (on
  CUDA each pass is synchronised);
- ``end_to_end_fps``: ``score_frames`` on decoded uint8 frames at native resolution
  (resizing, the network, 3-D filtering, fusion), with the same batch;
- ``extraction_fps`` and ``scoring_fps``: the two halves of that path timed apart, reading
  and resizing the frames (``WholeFrames``), then scoring the extracted frames (network, 3-D
  filter, fusion). They tell which side a GPU waits for. Medians of 3 alternating rounds
  after one warm-up round.

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


class NetworkPass:
    """One synchronised pass of a detector's network on a fixed batch, its scoring batch (seconds)."""

    def __init__(self, det: MaskedAEDetector, args) -> None:
        self.det, self.device = det, torch.device(args.device)
        self.batch = det.scoring_batch_size(self.device)
        self.net = det._scoring_net(self.device)
        channels = det.net_kwargs_["in_channels"]
        self.images = torch.randn(self.batch, channels, *det.config_["image_size"], device=self.device)
        self.keep = None if det.test_keep_ is None else det.test_keep_.to(self.device).expand(self.batch, -1)

    def __call__(self) -> tuple[float]:
        with torch.inference_mode(), _autocast(self.det, self.device):
            _synchronize(self.device)
            start = time.perf_counter()
            self.net(self.images, self.keep)
            _synchronize(self.device)
        return (time.perf_counter() - start,)

    def gflops(self) -> float:
        """GFLOPs of one frame. The math back end spells attention out as matrix products: the
        CPU's fused SDPA kernel has no FLOP formula, so without it the counter misses the
        attention (2.23 instead of 4.04 GFLOP at Ped2 size)."""
        with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            self.det.net_(self.images[:1], None if self.keep is None else self.keep[:1])
        return counter.get_total_flops() / 1e9


class EndToEndPass:
    """``score_frames`` on decoded frames, and its extraction and scoring halves apart (seconds)."""

    def __init__(self, det: MaskedAEDetector, frame_size: tuple[int, int], n_frames: int) -> None:
        self.det = det
        self.video = np.random.default_rng(1).integers(0, 256, size=(n_frames, *frame_size, 3), dtype=np.uint8)

    def __call__(self) -> tuple[float, float, float]:
        start = time.perf_counter()
        self.det.score_frames([self.video])  # returns numpy arrays, so device work is finished
        whole = time.perf_counter() - start
        start = time.perf_counter()
        events = self.det._events([self.video], training=False)
        extraction = time.perf_counter() - start
        start = time.perf_counter()
        self.det.score_frames(events)
        return whole, extraction, time.perf_counter() - start


def alternating_medians(passes: list, rounds: int, warm_up: int = 1) -> list[list[float]]:
    """Per pass, the median of each timed quantity over ``rounds`` rounds that alternate between
    the passes, after ``warm_up`` untimed rounds: drift in load, clocks and caches then hits every
    variant alike (timed one after the other, the first variant of a process ran up to 30 %
    slower on this CPU)."""
    for _ in range(warm_up):
        for timed in passes:
            timed()
    samples: list[list[tuple[float, ...]]] = [[] for _ in passes]
    for _ in range(rounds):
        for k, timed in enumerate(passes):
            samples[k].append(timed())
    return [[statistics.median(values) for values in zip(*rows)] for rows in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64, help="frames scored end to end per setting")
    parser.add_argument("--amp", choices=["bf16", "fp16"], help="autocast: bf16 (CPU or CUDA) or fp16 (CUDA)")
    parser.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    parser.add_argument("--batch", type=int, help="batch of the timed network passes and of scoring "
                        "(default: the detector's own for the device, MaskedAEDetector.scoring_batch_size)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--reference", action="store_true", help="also time the released layout (ratio)")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/maskedae_speed.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    inputs = (("paper (1 frame)", (0,)), ("released (t-3, t, t+3)", (-3, 0, 3)))
    for setting in args.settings:
        frame_size, preset = SETTINGS[setting]
        dets = [build(preset, offsets, frame_size, args) for _, offsets in inputs]
        if torch.device(args.device).type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        networks = [NetworkPass(det, args) for det in dets]
        network_seconds = alternating_medians(networks, rounds=5, warm_up=3)
        end_to_end = alternating_medians([EndToEndPass(det, frame_size, args.frames) for det in dets], rounds=3)
        for (input_name, _), det, network, (seconds,), (whole, extraction, scoring) in zip(
                inputs, dets, networks, network_seconds, end_to_end):
            fps, gflops = network.batch / seconds, network.gflops()
            row = {
                "setting": setting, "input": input_name, "frame_size": frame_size,
                "image_size": det.config_["image_size"], "patch_size": det.config_["patch_size"], "batch": network.batch,
                "params": sum(p.numel() for p in det.net_.parameters()), "gflops_per_frame": gflops,
                "model_fps": fps, "end_to_end_fps": args.frames / whole, "extraction_fps": args.frames / extraction,
                "scoring_fps": args.frames / scoring,
            }
            if torch.device(args.device).type == "cuda":  # both inputs of the setting together
                row["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
            if args.reference:
                row["speedup_vs_released_layout"], _, row["released_layout_fps"] = reference_ratio(det)
            rows.append(row)
            print(f"{setting:7s} {input_name:24s} batch {network.batch:3d}  params {row['params'] / 1e6:.2f}M  {gflops:.2f} GFLOP/frame  "
                  f"model {fps:6.1f} frames/s  end-to-end {row['end_to_end_fps']:6.1f} frames/s "
                  f"(extraction {row['extraction_fps']:.0f}, scoring {row['scoring_fps']:.1f})"
                  + (f"  x{row['speedup_vs_released_layout']:.2f} vs released layout "
                     f"({row['released_layout_fps']:.1f} frames/s)" if args.reference else ""), flush=True)
    write_result("maskedae_speed", {"threads": args.threads, "device": args.device, "batch": args.batch,
                                    "amp": args.amp, "compile": args.compile,
                                    "rows": rows, "peak_rss_mb": peak_rss_mb()}, args.output)


if __name__ == "__main__":
    main()
