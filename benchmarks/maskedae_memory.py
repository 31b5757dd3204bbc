"""Benchmark: AED-MAE's scoring memory follows the longest video, not the size of the test set.

For 1, 2 and 4 videos (``--videos``) of ``--frames`` frames at Avenue's 360x640, a fresh
Python process writes the videos to a temporary folder (frames are then read lazily), loads a
``MaskedAEDetector("avenue", offsets=(-3, 0, 3))`` (the Avenue setting with the released
code's three stacked frames: 1.8 MB of input a frame) and scores all videos with one
``score_frames`` call; it reports its peak RSS before and after scoring. The detector's
weights come from a one-epoch fit on 8 random frames (memory does not depend on them) in a
process of its own: a process's peak RSS survives ``fork`` and ``exec``, so the fit's peak
would otherwise hide scoring's. Scoring reads, resizes and scores one video at a time, so
the growth should not depend on the number of videos.

Usage::

    python benchmarks/maskedae_memory.py [--videos 1 2 4] [--frames 300] [--threads 2] [--output JSON]
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
from _common import peak_rss_mb, write_result
from memory import write_scene

FRAME_SIZE = (360, 640)


def measure_one(model: Path, n_videos: int, n_frames: int, threads: int) -> dict[str, float]:
    """Score ``n_videos`` files of ``n_frames`` frames in this process; timings and peak RSS."""
    import torch

    import pyvad
    from pyvad.video import Video

    torch.set_num_threads(threads)
    detector = pyvad.load(model)
    with tempfile.TemporaryDirectory(prefix="pyvad_mae_memory_") as folder:
        videos = [Video(write_scene(Path(folder) / f"{i}.mp4", n_frames, seed=i, frame_size=FRAME_SIZE))
                  for i in range(n_videos)]
        before = peak_rss_mb()
        start = time.perf_counter()
        scores = detector.score_frames(videos)
        seconds = time.perf_counter() - start
    if [len(s) for s in scores] != [n_frames] * n_videos:
        raise RuntimeError(f"scored {[len(s) for s in scores]} frames, expected {n_frames} per video")
    after = peak_rss_mb()
    return {"videos": n_videos, "frames_per_video": n_frames, "peak_rss_before_scoring_mb": round(before, 1),
            "peak_rss_mb": round(after, 1), "scoring_growth_mb": round(after - before, 1),
            "scoring_fps": round(n_videos * n_frames / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--frames", type=int, default=300, help="frames per video (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/maskedae_memory.json)")
    parser.add_argument("--single", nargs=2, metavar=("MODEL", "VIDEOS"), help=argparse.SUPPRESS)
    parser.add_argument("--build", type=Path, metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build is not None:
        from maskedae_speed import build

        build("avenue", (-3, 0, 3), FRAME_SIZE, argparse.Namespace(amp=None, compile=False, device="cpu", batch=None)).save(args.build)
        return 0
    if args.single is not None:
        print(json.dumps(measure_one(Path(args.single[0]), int(args.single[1]), args.frames, args.threads)))
        return 0
    runs = []
    with tempfile.TemporaryDirectory(prefix="pyvad_mae_model_") as folder:
        model = Path(folder) / "avenue_stacked.pyvad"
        subprocess.run([sys.executable, __file__, "--build", str(model)], check=True, capture_output=True)
        for n_videos in args.videos:
            completed = subprocess.run(
                [sys.executable, __file__, "--single", str(model), str(n_videos), "--frames", str(args.frames),
                 "--threads", str(args.threads)], check=True, capture_output=True, text=True,
            )
            runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), flush=True)
    payload = {"detector": 'MaskedAEDetector("avenue", offsets=(-3, 0, 3)), random weights',
               "frame_size": list(FRAME_SIZE), "threads": args.threads, "runs": runs}
    write_result("maskedae_memory", payload, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
