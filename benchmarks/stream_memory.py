"""Benchmark: resident memory while the deep detectors stream a long camera-size clip.

For each method, a fresh Python process fits the ``fast`` preset for one epoch on a normal
640x360 clip (the weights do not matter for memory) and then scores a long 640x360 clip of the
same scene through :func:`pyvad.streaming.score_stream`, reading its current resident memory
(``/proc/self/statm``, Linux) every ``--every`` frames. The long clip joins synthetic
segments with different walkers, so the number of objects per window keeps changing, as on a
real camera. Streaming holds a bounded window of frames, so memory should stop growing once
the first windows are scored: the script reports the highest reading of each half of the
stream, and passes when the second half's is within 5 % of the first half's. (The process's
lifetime peak is not reported: it holds the fit's, and the parent's that wrote the clips.)

Usage::

    python benchmarks/stream_memory.py [--methods pkgnet cafe maskedae] [--segments 5]
        [--frames-per-segment 400] [--threads 2] [--output JSON]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

FRAME_SIZE = (360, 640)
FPS = 25.0
SCENE_SEED = 7
TOLERANCE = 0.05


def current_rss_mb() -> float:
    """Resident memory of this process now, in MiB (Linux)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * 4096 / 2**20


def write_clip(path: Path, segments: int, frames_per_segment: int) -> Path:
    """Synthetic segments of one scene written one after another into one file."""
    from pyvad.synthetic import make_videos
    from pyvad.video import VideoWriter

    with VideoWriter(path, fps=FPS) as writer:
        for segment in range(segments):
            video = make_videos(1, frames_per_segment, FRAME_SIZE, n_objects=3 + segment % 4,
                                scene_seed=SCENE_SEED, random_state=segment).videos[0]
            for frame in video:
                writer.write(frame)
    return path


def measure_one(method: str, train: Path, clip: Path, every: int, threads: int) -> dict[str, object]:
    """Fit ``method`` on ``train``, stream ``clip``; resident memory along the way (this process)."""
    import torch

    from pyvad.methods import get_method
    from pyvad.streaming import score_stream

    torch.set_num_threads(threads)
    detector = get_method(method)("fast", epochs=1, random_state=0).fit([str(train)])
    samples, start, n_frames = [], time.perf_counter(), 0
    for record in score_stream(detector, str(clip), smoothing="centred"):
        n_frames += 1
        if n_frames % every == 0:
            samples.append([n_frames, round(current_rss_mb(), 1)])
    seconds = time.perf_counter() - start
    half = n_frames / 2
    first = max(rss for frame, rss in samples if frame <= half)
    second = max(rss for frame, rss in samples if frame > half)
    return {"method": method, "frames": n_frames, "scoring_fps": round(n_frames / seconds, 1),
            "rss_first_half_mb": first, "rss_second_half_mb": second,
            "growth_percent": round(100 * (second - first) / first, 1), "bounded": second <= first * (1 + TOLERANCE),
            "samples": samples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["pkgnet", "cafe", "maskedae"])
    parser.add_argument("--segments", type=int, default=5, help="segments in the long clip (default: %(default)s)")
    parser.add_argument("--frames-per-segment", type=int, default=400)
    parser.add_argument("--every", type=int, default=50, help="frames between readings (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/stream_memory.json)")
    parser.add_argument("--single", nargs=3, metavar=("METHOD", "TRAIN", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single is not None:
        method, train, clip = args.single
        print(json.dumps(measure_one(method, Path(train), Path(clip), args.every, args.threads)))
        return 0
    runs = []
    with tempfile.TemporaryDirectory(prefix="pyvad_stream_memory_") as name:
        folder = Path(name)
        train = write_clip(folder / "train.mp4", 1, args.frames_per_segment)
        clip = write_clip(folder / "long.mp4", args.segments, args.frames_per_segment)
        for method in args.methods:
            completed = subprocess.run(
                [sys.executable, __file__, "--single", method, str(train), str(clip), "--every", str(args.every),
                 "--threads", str(args.threads)], check=True, capture_output=True, text=True,
            )
            runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            summary = {k: v for k, v in runs[-1].items() if k != "samples"}
            print(json.dumps(summary), flush=True)
    write_result("stream_memory", {"frame_size": list(FRAME_SIZE), "threads": args.threads, "runs": runs},
                 args.output)
    return 0 if all(run["bounded"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
