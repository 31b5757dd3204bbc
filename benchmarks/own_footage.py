"""Benchmark: the command line on camera-like footage, as a user with their own videos runs it.

Writes synthetic 640x360 colour clips at 25 frames/s (``pyvad.synthetic``: walking figures on
a textured background with sensor noise; each test clip holds one anomaly: a fast mover, a
walker going the wrong way, an odd shape or an odd size), then for each method runs
``pyvad fit`` on the training clips and ``pyvad score`` on every test clip, each command in a
fresh process. It reports micro / macro AUC of the scores the CSV files hold against the
synthetic frame labels, the fit's wall time, scoring frames/s, and every process's peak RSS.

The clips are synthetic, so the AUCs say whether a method runs and ranks sensibly at camera
resolution, not how it does on real footage. Methods run with their ``fast`` preset (the
baseline has none).

Usage::

    python benchmarks/own_footage.py [--methods baseline maskedae pkgnet cafe] [--train 4]
        [--test 4] [--frames 400] [--threads 2] [--seed N] [--output JSON]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, write_result

FRAME_SIZE = (360, 640)
FPS = 25.0


def write_clips(folder: Path, n_train: int, n_test: int, n_frames: int) -> None:
    """Training and test clips as .mp4 files, and the test clips' frame labels as labels.json."""
    from pyvad.synthetic import make_train_test
    from pyvad.video import write_video

    train, test = make_train_test(n_train=n_train, n_test=n_test, n_frames=n_frames, frame_size=FRAME_SIZE,
                                  n_objects=5, random_state=1)
    for i, video in enumerate(train.videos):
        write_video(folder / f"train_{i}.mp4", video, fps=FPS)
    for i, video in enumerate(test.videos):
        write_video(folder / f"test_{i}.mp4", video, fps=FPS)
    (folder / "labels.json").write_text(json.dumps([np.asarray(labels).tolist() for labels in test.frame_labels]))


def clips_in_subprocess(folder: Path, n_train: int, n_test: int, n_frames: int) -> tuple[list[Path], list[Path], list[np.ndarray]]:
    """:func:`write_clips` in a fresh process: a peak RSS is inherited by child processes, and
    the clips are made in memory, so writing them here would show in every measured command's."""
    subprocess.run([sys.executable, __file__, "--write", str(folder), str(n_train), str(n_test), str(n_frames)],
                   check=True)
    labels = [np.asarray(v) for v in json.loads((folder / "labels.json").read_text())]
    return ([folder / f"train_{i}.mp4" for i in range(n_train)], [folder / f"test_{i}.mp4" for i in range(n_test)],
            labels)


def run_cli(args: list[str], threads: int) -> dict[str, float]:
    """``pyvad ARGS`` in a fresh process; its wall time and peak RSS."""
    completed = subprocess.run([sys.executable, __file__, "--child", str(threads), "--", *args],
                               check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child(threads: int, args: list[str]) -> int:
    """Run the command line in this process and print its wall time and peak RSS as JSON."""
    import contextlib
    import io

    import torch

    from pyvad.cli import main

    torch.set_num_threads(threads)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(args)
    if status:
        raise SystemExit(status)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}))
    return 0


def read_scores(path: Path) -> np.ndarray:
    with open(path, newline="") as handle:
        return np.array([float(row["score"]) for row in csv.DictReader(handle)])


def measure(method: str, train: list[Path], test: list[Path], labels: list[np.ndarray], folder: Path,
            threads: int, seed: int | None) -> dict[str, object]:
    """Fit ``method`` on ``train`` and score every ``test`` clip with the command line."""
    from pyvad.metrics import macro_auc, micro_auc

    model = folder / f"{method}.pyvad"
    preset = [] if method == "baseline" else ["--preset", "fast", *([] if seed is None else ["--seed", str(seed)])]
    fit = run_cli(["fit", "--method", method, *preset, *map(str, train), "--output", str(model)], threads)
    scores, runs = [], []
    for clip in test:
        output = folder / f"{method}_{clip.stem}.csv"
        runs.append(run_cli(["score", str(clip), "--model", str(model), "--output", str(output)], threads))
        scores.append(read_scores(output))
    n_frames = sum(len(s) for s in scores)
    return {
        "method": method, "preset": "fast" if preset else None, "seed": seed if preset else None,
        "micro_auc": round(micro_auc(labels, scores), 4), "macro_auc": round(macro_auc(labels, scores), 4),
        "fit_seconds": fit["seconds"], "fit_peak_rss_mb": fit["peak_rss_mb"],
        "scoring_fps_with_startup": round(n_frames / sum(r["seconds"] for r in runs), 1),
        "scoring_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"]:
        return child(int(argv[1]), argv[3:])
    if argv[:1] == ["--write"]:
        write_clips(Path(argv[1]), *map(int, argv[2:5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["baseline", "maskedae", "pkgnet", "cafe"])
    parser.add_argument("--train", type=int, default=4, help="training clips (default: %(default)s)")
    parser.add_argument("--test", type=int, default=4, help="test clips (default: %(default)s)")
    parser.add_argument("--frames", type=int, default=400, help="frames per clip (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, help="pyvad fit --seed for the deep methods (default: unseeded, "
                        "like a fit without it; two runs then differ)")
    parser.add_argument("--output", type=Path, help="JSON file (default: benchmarks/results/own_footage.json)")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="pyvad_footage_") as name:
        folder = Path(name)
        train, test, labels = clips_in_subprocess(folder, args.train, args.test, args.frames)
        for method in args.methods:
            runs.append(measure(method, train, test, labels, folder, args.threads, args.seed))
            print(json.dumps(runs[-1]), flush=True)
    payload = {"clips": {"frame_size": list(FRAME_SIZE), "fps": FPS, "train": args.train, "test": args.test,
                         "frames_per_clip": args.frames},
               "threads": args.threads, "runs": runs}
    write_result("own_footage", payload, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
