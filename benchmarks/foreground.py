"""Foreground benchmark on the UCSD Ped2 test split.

For each extractor: *object recall* (fraction of abnormal regions -- connected
components of ``testing/masks/NN/*.png`` with at least 20 pixels -- whose pixels
are at least half covered by the union of the event boxes of their frame), mean
boxes per frame, normal-pixel coverage (fraction of normal pixels inside some
box; lower is better) and frames per second on one core.  Also times optical
flow (DIS medium, Farneback) per frame.

Usage::

    python benchmarks/foreground.py [--root ../shared/data/ped2] \
        [--output benchmarks/results/foreground.json] [--max-videos N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pyvad.events import EventSet
from pyvad.flow import DISFlow, FarnebackFlow
from pyvad.foreground import BackgroundSubtraction, MotionForeground, PrecomputedBoxes
from pyvad.video import Video

MIN_REGION_PIXELS = 20
COVER_FRACTION = 0.5


def abnormal_regions(mask: np.ndarray) -> list[np.ndarray]:
    """Boolean maps of the connected components of ``mask`` with >= 20 pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    return [labels == i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_REGION_PIXELS]


def box_union(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels inside any box, with the crop convention (ceil, end exclusive)."""
    covered = np.zeros(shape, bool)
    for x1, y1, x2, y2 in np.ceil(boxes).astype(np.int64):
        covered[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = True
    return covered


def read_masks(root: Path, clip: str) -> list[np.ndarray]:
    """Pixel ground truth of one test clip, one (H, W) uint8 array per frame."""
    files = sorted((root / "testing" / "masks" / clip).glob("*.png"))
    return [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]


def score_events(events: EventSet, root: Path) -> dict[str, float]:
    """Object recall, boxes per frame and normal-pixel coverage of an EventSet."""
    found = regions = normal = normal_covered = 0
    for v, clip in enumerate(events.video_names):
        in_video = events.video_ids == v
        for t, mask in enumerate(read_masks(root, clip)):
            covered = box_union(events.boxes[in_video & (events.frame_indices == t)], mask.shape)
            for region in abnormal_regions(mask):
                regions += 1
                found += covered[region].mean() >= COVER_FRACTION
            normal += int((mask == 0).sum())
            normal_covered += int((covered & (mask == 0)).sum())
    return {
        "object_recall": found / max(regions, 1),
        "abnormal_regions": regions,
        "boxes_per_frame": len(events) / int(events.n_frames.sum()),
        "normal_pixel_coverage": normal_covered / max(normal, 1),
    }


def timed(function: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def benchmark_extractor(name: str, extractor: Any, videos: list[Video], root: Path) -> dict[str, Any]:
    """Quality and end-to-end speed (JPEG decoding included) of one extractor."""
    events, seconds = timed(extractor.fit(videos).transform, videos)
    n_frames = int(events.n_frames.sum())
    result = {"extractor": repr(extractor), **score_events(events, root), "frames": n_frames,
              "fps_end_to_end": n_frames / seconds}
    print(f"{name}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    return result


def motion_fps_in_memory(frames: np.ndarray) -> dict[str, float]:
    """MotionForeground speed on frames already in memory (boxes only / with (-1, 0, 1) cubes)."""
    boxes_only = MotionForeground("ped2").fit()
    source = boxes_only.source_
    box_fn = source.for_video(Video(frames), 0)
    _, seconds_boxes = timed(box_fn, frames, 0, 0, len(frames))
    cubes = MotionForeground("ped2", offsets=(-1, 0, 1), chunk_size=len(frames)).fit()
    _, seconds_cubes = timed(cubes.transform, [frames])
    return {"fps_boxes_only": len(frames) / seconds_boxes, "fps_with_cubes": len(frames) / seconds_cubes}


def flow_fps(frames: np.ndarray) -> dict[str, float]:
    """Frames per second of DIS (medium) and Farneback on consecutive pairs."""
    out = {}
    for name, method in (("dis_medium", DISFlow()), ("farneback", FarnebackFlow())):
        _, seconds = timed(lambda: [method(a, b) for a, b in zip(frames[:-1], frames[1:])])
        out[f"fps_flow_{name}"] = (len(frames) - 1) / seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("PYVAD_PED2_ROOT", "../shared/data/ped2")))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/foreground.json"))
    parser.add_argument("--max-videos", type=int, default=None)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    clips = sorted(p.name for p in (args.root / "testing" / "frames").iterdir())[: args.max_videos]
    videos = [Video(args.root / "testing" / "frames" / clip) for clip in clips]
    results: dict[str, Any] = {"dataset": "ped2 test", "clips": clips, "threads": 1}
    results["motion_ped2"] = benchmark_extractor("MotionForeground(ped2)", MotionForeground("ped2"), videos, args.root)
    results["background_mog2"] = benchmark_extractor("BackgroundSubtraction(mog2)", BackgroundSubtraction(), videos, args.root)
    vec = PrecomputedBoxes(args.root / "boxes_vec" / "testing.npz")
    results["precomputed_boxes_vec"] = benchmark_extractor("PrecomputedBoxes(boxes_vec)", vec, videos, args.root)
    frames = videos[0].read(0, 180)
    results["speed_in_memory"] = {**motion_fps_in_memory(frames), **flow_fps(frames[:60])}
    print("speed (in memory, one core):", {k: round(v, 1) for k, v in results["speed_in_memory"].items()})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
