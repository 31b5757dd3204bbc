"""AED-MAE scoring speed on this machine: frames/s per setting, parameters, GFLOPs.

    python benchmarks/maskedae_speed.py [--threads 2] [--frames 64] [--amp bf16] [--compile] [--output JSON]

For the Ped2 setting (240x360 frames -> 80x160 input, patch 4) and the Avenue setting
(360x640 -> 320x640, patch 16), with the paper's single-frame input and the released
code's three stacked frames (9 channels), it reports:

- ``model_fps``: the network alone (teacher + student + class head, one shared encoder
  pass, 50 % test mask, batch 32, ``torch.inference_mode``), median of 5 runs;
- ``end_to_end_fps``: ``score_frames`` on decoded uint8 frames at native resolution
  (resizing, the network, 3-D filtering, fusion), batch 32.

Weights are random (a one-epoch fit on 8 frames builds the detector): speed does not
depend on them. The notes' reference (released code, same 2-core CPU class, batch 32):
Ped2 setting 14.2 frames/s, Avenue 12.0 frames/s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _common import peak_rss_mb, write_result
from torch.utils.flop_counter import FlopCounterMode

from pyvad.methods.maskedae import MaskedAEDetector

SETTINGS = {"ped2": ((240, 360), "ped2"), "avenue": ((360, 640), "avenue")}
TINY_TRAINING = dict(epochs=1, batch_size=8, synthetic_anomalies=True)


def build(preset: str, offsets: tuple[int, ...], frame_size: tuple[int, int], args) -> MaskedAEDetector:
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, size=(8, *frame_size, 3), dtype=np.uint8)
    det = MaskedAEDetector(preset=preset, offsets=offsets, inference_batch_size=32, amp=args.amp,
                           compile=args.compile, device="cpu", random_state=0, **TINY_TRAINING)
    return det.fit([clip])


def model_fps(det: MaskedAEDetector, args) -> tuple[float, float]:
    """Median frames/s of the network alone on a batch of 32, and GFLOPs per frame."""
    net = det._scoring_net(torch.device("cpu"))
    channels = det.net_kwargs_["in_channels"]
    images = torch.randn(32, channels, *det.config_["image_size"])
    keep = None if det.test_keep_ is None else det.test_keep_.expand(32, -1)
    times = []
    with torch.inference_mode(), det._autocast(torch.device("cpu")):
        net(images, keep)
        for _ in range(5):
            start = time.perf_counter()
            net(images, keep)
            times.append(time.perf_counter() - start)
        with FlopCounterMode(display=False) as counter:
            det.net_(images[:1], None if keep is None else keep[:1])
    return 32 / statistics.median(times), counter.get_total_flops() / 1e9


def end_to_end_fps(det: MaskedAEDetector, frame_size: tuple[int, int], n_frames: int) -> float:
    video = np.random.default_rng(1).integers(0, 256, size=(n_frames, *frame_size, 3), dtype=np.uint8)
    det.score_frames([video[:32]])  # warm-up
    start = time.perf_counter()
    det.score_frames([video])
    return n_frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=64, help="frames scored end to end per setting")
    parser.add_argument("--amp", choices=["bf16"], help="bfloat16 autocast on the CPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
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
            rows.append(row)
            print(f"{setting:7s} {input_name:24s} params {row['params'] / 1e6:.2f}M  {gflops:.2f} GFLOP/frame  "
                  f"model {fps:6.1f} frames/s  end-to-end {row['end_to_end_fps']:6.1f} frames/s", flush=True)
    write_result("maskedae_speed", {"threads": args.threads, "amp": args.amp, "compile": args.compile,
                                    "rows": rows, "peak_rss_mb": peak_rss_mb()}, args.output)


if __name__ == "__main__":
    main()
