"""MotionBaselineDetector on UCSD Ped2: frame-level AUC, fit time, scoring speed.

    python benchmarks/baseline_ped2.py [--root PATH] [--output JSON]

Trains on the 16 normal training videos only; the test labels are used for the
AUCs and nothing else.
"""

from __future__ import annotations

import argparse
import time
import warnings

from _common import default_ped2_root, peak_rss_mb, write_result
from sklearn.exceptions import UndefinedMetricWarning

from pyvad.datasets import load_dataset
from pyvad.methods import MotionBaselineDetector
from pyvad.metrics import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/baseline_ped2.json)")
    args = parser.parse_args()

    train, test = load_dataset("ped2", args.root)
    det = MotionBaselineDetector()
    start = time.perf_counter()
    det.fit(train.videos)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = det.score_frames(test.videos)
    score_s = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # 4 Ped2 test videos are all-abnormal
        result = {
            "method": "MotionBaselineDetector",
            "params": {k: repr(v) for k, v in det.get_params(deep=False).items()},
            "train_frames": train.n_frames,
            "test_frames": test.n_frames,
            **evaluate(test.frame_labels, scores),
            "fit_seconds": fit_s,
            "scoring_fps": test.n_frames / score_s,
            "peak_rss_mb": peak_rss_mb(),
        }
    for key in ("micro_auc", "macro_auc", "eer", "average_precision", "fit_seconds", "scoring_fps", "peak_rss_mb"):
        print(f"{key:18s} {result[key]:.4f}")
    write_result("baseline_ped2", result, args.output)


if __name__ == "__main__":
    main()
