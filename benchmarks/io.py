"""Benchmark of pyvad.video: reading speed and memory bound while streaming.

Measures, on one OpenCV thread:

1. frames per second reading every UCSD Ped2 test frame (2010 JPEGs) through
   :class:`pyvad.video.Video` (target: at least 400 fps);
2. peak RSS growth while iterating a long synthetic 640x360 video file generated in a
   temporary folder (``--minutes``, default 2; the requirement is < 300 MB for one hour:
   ``python benchmarks/io.py --minutes 60``, which needs about 1 GB of temporary disk).

Usage::

    python benchmarks/io.py [--root PED2_ROOT] [--minutes 2] [--output benchmarks/results/io.json]

Prints the results as JSON and writes them to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pyvad.video import Video, VideoWriter

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path(os.environ.get("PYVAD_PED2_ROOT", REPO.parent / "shared/data/ped2"))
SYNTHETIC_SIZE = (360, 640)  # (H, W)
SYNTHETIC_FPS = 25.0
RSS_SAMPLE_EVERY = 50  # frames between two RSS samples
MB = 1024 * 1024


def current_rss_bytes() -> int | None:
    """Resident set size of this process now (psutil, else /proc), or None if unknown."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return int(psutil.Process().memory_info().rss)
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """Lifetime peak RSS of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def ped2_test_folders(root: Path) -> list[Path]:
    frames = root / "testing" / "frames"
    return sorted(path for path in frames.iterdir() if path.is_dir()) if frames.is_dir() else []


def bench_ped2_reading(root: Path) -> dict[str, object]:
    """Read every Ped2 test frame once; report frames per second."""
    folders = ped2_test_folders(root)
    if not folders:
        return {"skipped": f"no Ped2 test frames under {root}"}
    videos = [Video(folder) for folder in folders]
    start = time.perf_counter()
    n_frames = sum(1 for video in videos for _ in video)
    seconds = time.perf_counter() - start
    return {
        "videos": len(videos),
        "frames": n_frames,
        "seconds": round(seconds, 3),
        "fps": round(n_frames / seconds, 1),
        "target_fps": 400,
    }


def synthetic_frames(n_frames: int) -> Iterator[np.ndarray]:
    """Moving texture frames (H, W, 3) uint8, yielded one at a time."""
    height, width = SYNTHETIC_SIZE
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    texture = cv2.resize(coarse, (width, height))
    for index in range(n_frames):
        yield np.roll(texture, 3 * index, axis=1)


def write_synthetic_video(path: Path, n_frames: int) -> float:
    """Write the synthetic video; return the seconds it took."""
    start = time.perf_counter()
    with VideoWriter(path, fps=SYNTHETIC_FPS, codec="mp4v") as writer:
        for frame in synthetic_frames(n_frames):
            writer.write(frame)
    return time.perf_counter() - start


def bench_streaming_memory(minutes: float) -> dict[str, object]:
    """Iterate a generated 640x360 video; report peak RSS growth and decoding speed."""
    n_frames = int(round(minutes * 60 * SYNTHETIC_FPS))
    with tempfile.TemporaryDirectory(prefix="pyvad_io_") as folder:
        path = Path(folder) / "long.mp4"
        write_seconds = write_synthetic_video(path, n_frames)
        video = Video(path)
        baseline = current_rss_bytes()
        peak = baseline
        start = time.perf_counter()
        for index, _frame in enumerate(video):
            if baseline is not None and index % RSS_SAMPLE_EVERY == 0:
                peak = max(peak, current_rss_bytes())
        seconds = time.perf_counter() - start
        file_mb = path.stat().st_size / MB
    result: dict[str, object] = {
        "minutes": minutes,
        "frames": len(video),
        "frame_size": list(video.frame_size),
        "file_mb": round(file_mb, 1),
        "write_seconds": round(write_seconds, 2),
        "read_seconds": round(seconds, 2),
        "read_fps": round(len(video) / seconds, 1),
        "lifetime_peak_rss_mb": round(peak_rss_bytes() / MB, 1),
        "limit_rss_growth_mb_for_60_minutes": 300,
        "note": "the 60-minute case: python benchmarks/io.py --minutes 60 (about 1 GB temp disk)",
    }
    if baseline is not None:
        result["rss_before_iteration_mb"] = round(baseline / MB, 1)
        result["peak_rss_growth_mb"] = round((peak - baseline) / MB, 1)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="Ped2 root (default: %(default)s)"
    )
    parser.add_argument(
        "--minutes", type=float, default=2.0, help="synthetic video length (default: %(default)s)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "benchmarks/results/io.json",
        help="JSON file to write (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    results = {
        "machine": {
            "python": platform.python_version(),
            "opencv": cv2.__version__,
            "opencv_threads": 1,
        },
        "ped2_test_reading": bench_ped2_reading(args.root),
        "streaming_memory": bench_streaming_memory(args.minutes),
    }
    text = json.dumps(results, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return results


if __name__ == "__main__":
    main()
