"""Label-free check of a detector on Ped2: held-out training videos with injected anomalies.

    python benchmarks/heldout_proxy.py [--method maskedae] [--preset fast] [--params JSON] [--threads N] [--output JSON]

Ped2's test labels must not steer any choice, so this proxy never reads them. Three of the
16 normal training videos are held out; the detector trains on the other 13. Each held-out
video gets two anomalies the detector never trained with, built from real pedestrians cut
(by frame differencing) out of the *other* held-out videos:

- ``appearance``: a pedestrian enlarged x1.6-2.2 and turned on its side (a cart-like
  silhouette), crossing at 2-4 pixels a frame, in the first third of the video;
- ``speed``: a pedestrian of normal size crossing at 7-10 pixels a frame (Ped2's walkers
  move 1-2), later in the video -- invisible in any single frame.

``--proxy subtle`` makes both harder: the pedestrian on its side keeps its size (x1.0-1.2) and
a walker's pace (1-2 pixels a frame), and the fast one crosses at 3-5 pixels a frame, 2-3 times
a walker's speed.

Printed: micro AUC over all held-out frames, per anomaly kind (frames of the other kind
left out), and macro AUC, for the fused score and, for frame-level detectors (AED-MAE), each
raw component. Built for AED-MAE; ``--method cafe`` or ``pkgnet`` runs an object-level
detector with its default weight-free ``MotionForeground`` (the VEC boxes do not know the
injected objects).
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch
from _common import default_ped2_root, write_result

from pyvad.datasets import load_dataset
from pyvad.methods import get_method
from pyvad.metrics import macro_auc, micro_auc
from pyvad.synthetic_anomalies import SyntheticAnomalies

HELD_OUT = (1, 6, 12)
APPEARANCE, SPEED = 1, 2
# Per proxy: (scale, pixels a frame) of the appearance anomaly (turned on its side), then of the
# speed anomaly (upright). Ped2's walkers move 1-2 pixels a frame.
PROXIES = {
    "standard": (((1.6, 2.2), (2, 4)), ((0.9, 1.1), (7, 10))),
    "subtle": (((1.0, 1.2), (1, 2)), ((0.9, 1.1), (3, 5))),  # walker-sized on its side; 2-3x a walker's speed
}


def _frames(video) -> np.ndarray:
    return np.concatenate(list(video.iter_chunks(64)))


def pedestrians(frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Upright moving blobs (image, mask) cut out by differencing frames two apart."""
    grey = np.stack([cv2.medianBlur(f[..., 0], 3) for f in frames]).astype(np.int16)
    cutouts = []
    for t in range(2, len(frames), 10):
        moving = cv2.morphologyEx((np.abs(grey[t] - grey[t - 2]) > 25).astype(np.uint8), cv2.MORPH_CLOSE,
                                  np.ones((7, 7), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(moving)
        for label in range(1, count):
            x, y, w, h, area = stats[label]
            if 250 < area < 1200 and h > w:
                cutouts.append((frames[t, y : y + h, x : x + w].copy(), labels[y : y + h, x : x + w] == label))
    return cutouts


def _cross(frames, labels, cutouts, rng, span, scale, turn, speed, kind) -> None:
    """Paste one cut-out crossing the frame during ``span`` (in place)."""
    image, mask = cutouts[int(rng.integers(len(cutouts)))]
    factor = rng.uniform(*scale)
    image = cv2.resize(image, None, fx=factor, fy=factor)
    mask = cv2.resize(mask.astype(np.uint8), None, fx=factor, fy=factor, interpolation=cv2.INTER_NEAREST) > 0
    if turn:
        image, mask = np.rot90(image), np.rot90(mask)
    height, width = frames.shape[1:3]
    h, w = mask.shape
    top = int(rng.uniform(0.3 * height, height - h))
    step = rng.uniform(*speed) * (1 if rng.random() < 0.5 else -1)
    start = 0 if step > 0 else width - w
    for index, t in enumerate(range(*span)):
        left = int(round(start + index * step))
        x0, x1 = max(left, 0), min(left + w, width)
        if x1 <= x0:
            continue
        window = mask[:, x0 - left : x1 - left]
        frames[t, top : top + h, x0:x1][window] = image[:, x0 - left : x1 - left][window]
        labels[t] = kind


def proxy_videos(videos, seed: int = 0, proxy: str = "standard") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The held-out videos with their injected anomalies (sizes and speeds of ``PROXIES[proxy]``),
    and per-frame kinds (0 = normal)."""
    (appearance_scale, appearance_speed), (speed_scale, speed_speed) = PROXIES[proxy]
    rng = np.random.default_rng(seed)
    held = [_frames(videos[i]) for i in HELD_OUT]
    out, kinds = [], []
    for k, frames in enumerate(held):
        cutouts = sum((pedestrians(other) for j, other in enumerate(held) if j != k), [])
        frames, labels, n = frames.copy(), np.zeros(len(frames), np.uint8), len(frames)
        _cross(frames, labels, cutouts, rng, (n // 8, n // 8 + n // 3), appearance_scale, True, appearance_speed, APPEARANCE)
        _cross(frames, labels, cutouts, rng, (5 * n // 8, 5 * n // 8 + n // 4), speed_scale, False, speed_speed, SPEED)
        out.append(frames)
        kinds.append(labels)
    return out, kinds


def proxy_split(root: str, seed: int, proxy: str = "standard") -> tuple[list, list[np.ndarray], list[np.ndarray]]:
    """Ped2 training videos the detector fits (all but ``HELD_OUT``), the held-out clips with
    their injected anomalies, and per-frame kinds. The test split is never read."""
    train, _ = load_dataset("ped2", root)
    videos, kinds = proxy_videos(train.videos, seed, proxy)
    return [v for i, v in enumerate(train.videos) if i not in HELD_OUT], videos, kinds


def proxy_aucs(kinds: list[np.ndarray], scores: list[np.ndarray]) -> dict[str, float]:
    """Micro AUC (all, per kind) and macro AUC of per-video frame scores."""
    result = {"all": micro_auc([k > 0 for k in kinds], scores)}
    for name, kind in (("appearance", APPEARANCE), ("speed", SPEED)):
        keep = [(k == 0) | (k == kind) for k in kinds]
        result[name] = micro_auc([k[m] > 0 for k, m in zip(kinds, keep)], [s[m] for s, m in zip(scores, keep)])
    result["macro"] = macro_auc([k > 0 for k in kinds], scores)
    return {key: round(float(value), 4) for key, value in result.items()}


def proxy_arguments(description: str, script: str) -> argparse.ArgumentParser:
    """The options every proxy script takes: data root, preset, threads, seed, output."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--root", default=str(default_ped2_root()))
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proxy", default="standard", choices=list(PROXIES),
                        help="injected anomalies: standard (enlarged, or 7-10 px/frame) or subtle (walker-sized, or 3-5 px/frame)")
    parser.add_argument("--output", help=f"JSON path (default: benchmarks/results/{script}_<preset>.json)")
    return parser


def main() -> None:
    parser = proxy_arguments(__doc__.splitlines()[0], "<method>_proxy")
    parser.add_argument("--method", default="maskedae", help="a pyvad method name (default: maskedae)")
    parser.add_argument("--params", default="{}", help='extra detector parameters as JSON, e.g. \'{"offsets": [0]}\'; '
                        'an "anomalies" object gives SyntheticAnomalies arguments, e.g. {"anomalies": {"size_range": [0.1, 0.25]}}')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    fit_videos, videos, kinds = proxy_split(args.root, args.seed, args.proxy)
    params = json.loads(args.params)
    built = {**params, "anomalies": SyntheticAnomalies(**params["anomalies"])} if "anomalies" in params else params
    det = get_method(args.method)(preset=args.preset, random_state=args.seed, **built)
    start = time.perf_counter()
    det.fit(fit_videos)
    fit_s = time.perf_counter() - start
    result = {"fused": proxy_aucs(kinds, det.score_frames(videos))}
    table = det.transform(videos)
    if len(table) == sum(len(k) for k in kinds):  # one row per frame: components are frame scores
        for name in table.components:
            result[name] = proxy_aucs(kinds, [table[name][table.video_ids == v] for v in range(table.n_videos)])
    for name, values in result.items():
        print(f"{name:14s}", "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    print(f"fit_seconds    {fit_s:.1f}")
    history = getattr(det, "history_", None) or getattr(det, "training_history_", None)
    write_result(f"{args.method}_proxy_{args.preset}", {"method": args.method, "params": params, "aucs": result,
                                                        "fit_seconds": fit_s, "history": history}, args.output)


if __name__ == "__main__":
    main()
