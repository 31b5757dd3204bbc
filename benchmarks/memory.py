"""Benchmark: peak memory of scoring a long video does not grow with its length.

For every requested length, a fresh Python process

1. writes a synthetic 120x160 (H x W) MP4 in a temporary folder, frame by frame (a
   textured background with a walking square; the whole video is never in memory),
2. fits :class:`pyvad.methods.MotionBaselineDetector` on a short clip of the same scene,
3. scores every frame of the long file with ``score_frames`` (frames are streamed),

and reports its peak RSS. Each length runs in its own process because peak RSS only
ever grows within a process. The bound holds when the peaks agree within 10 %.

Usage::

    python benchmarks/memory.py [--frames 10000 100000] [--output benchmarks/results/memory.json]

A 100 000-frame video at 25 fps is 67 minutes of footage (about 150 MB of temporary disk).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, write_result

FRAME_SIZE = (120, 160)  # (H, W)
FPS = 25.0
TRAIN_FRAMES = 200
WRITE_CHUNK = 256  # frames generated at once while writing
TOLERANCE = 0.10


def scene_frames(n_frames: int, seed: int = 0, frame_size: tuple[int, int] = FRAME_SIZE) -> Iterator[np.ndarray]:
    """Frames of a textured scene with a square walking across, one at a time."""
    height, width = frame_size
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 200, (height, width, 3), dtype=np.uint8)
    for start in range(0, n_frames, WRITE_CHUNK):
        stop = min(start + WRITE_CHUNK, n_frames)
        block = np.repeat(background[np.newaxis], stop - start, axis=0)
        for row, index in enumerate(range(start, stop)):
            x = (2 * index) % (width - 16)
            block[row, 50:66, x : x + 16] = 230
        yield from block


def write_scene(path: Path, n_frames: int, seed: int = 0, frame_size: tuple[int, int] = FRAME_SIZE) -> Path:
    """Stream the synthetic scene to a video file."""
    from pyvad.video import VideoWriter

    with VideoWriter(path, fps=FPS) as writer:
        for frame in scene_frames(n_frames, seed, frame_size):
            writer.write(frame)
    return path


def measure_one(n_frames: int) -> dict[str, float]:
    """Fit on a short clip, score an ``n_frames`` file; return timings and peak RSS (this process)."""
    from pyvad.methods import MotionBaselineDetector
    from pyvad.video import Video

    with tempfile.TemporaryDirectory(prefix="pyvad_memory_") as folder:
        start = time.perf_counter()
        train = write_scene(Path(folder) / "train.mp4", TRAIN_FRAMES, seed=0)
        long_video = write_scene(Path(folder) / "long.mp4", n_frames, seed=0)
        write_seconds = time.perf_counter() - start
        detector = MotionBaselineDetector().fit([Video(train)])
        rss_after_fit = peak_rss_mb()
        start = time.perf_counter()
        scores = detector.score_frames([Video(long_video)])[0]
        score_seconds = time.perf_counter() - start
    if len(scores) != n_frames:
        raise RuntimeError(f"scored {len(scores)} frames, expected {n_frames}")
    return {
        "frames": n_frames,
        "write_seconds": round(write_seconds, 1),
        "score_seconds": round(score_seconds, 1),
        "scoring_fps": round(n_frames / score_seconds, 1),
        "peak_rss_after_fit_mb": round(rss_after_fit, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def measure_in_subprocess(n_frames: int) -> dict[str, float]:
    """Run :func:`measure_one` in a fresh interpreter so its peak RSS is its own."""
    completed = subprocess.run(
        [sys.executable, __file__, "--single", str(n_frames)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[10_000, 100_000],
                        help="video lengths to score (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/memory.json)")
    parser.add_argument("--single", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.single is not None:
        print(json.dumps(measure_one(args.single)))
        return 0
    runs = []
    for n_frames in args.frames:
        run = measure_in_subprocess(n_frames)
        print(json.dumps(run))
        runs.append(run)
    peaks = [run["peak_rss_mb"] for run in runs]
    spread = (max(peaks) - min(peaks)) / min(peaks)
    payload = {
        "detector": "MotionBaselineDetector() (grid 6x8), fitted on a 200-frame clip",
        "frame_size": list(FRAME_SIZE),
        "runs": runs,
        "peak_rss_relative_spread": round(spread, 4),
        "within_tolerance": spread <= TOLERANCE,
        "tolerance": TOLERANCE,
    }
    print(json.dumps({k: payload[k] for k in ("peak_rss_relative_spread", "within_tolerance")}))
    write_result("memory", payload, args.output)
    return 0 if spread <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
