"""UCSD Ped2 end to end with the weight-free baseline.

    python examples/ped2_baseline.py --root path/to/ped2

Ped2 (Mahadevan et al., CVPR 2010) is not downloaded by pyvad; see
http://www.svcl.ucsd.edu/projects/anomaly/dataset.htm and the expected layouts in
`pyvad.datasets`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyvad.datasets import load_dataset
from pyvad.methods import MotionBaselineDetector
from pyvad.metrics import evaluate


def main(root: Path, max_videos: int | None = None) -> dict[str, float]:
    train, test = load_dataset("ped2", root)
    train_videos = train.videos[:max_videos]
    test_videos, test_labels = test.videos[:max_videos], test.frame_labels[:max_videos]
    det = MotionBaselineDetector().fit(train_videos)       # normal training videos only
    results = evaluate(test_labels, det.score_frames(test_videos))
    for name, value in results.items():
        print(f"{name:18s} {value:.4f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="Ped2 folder")
    parser.add_argument("--max-videos", type=int, help="use only the first N train/test videos (quick look)")
    args = parser.parse_args()
    main(args.root, args.max_videos)
