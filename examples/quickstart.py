"""Quick start: fit a detector on synthetic normal videos and score videos with anomalies.

    python examples/quickstart.py [--output-dir DIR]

Runs in seconds on a CPU; nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sklearn.metrics import roc_auc_score

import pyvad
from pyvad.metrics import macro_auc, micro_auc
from pyvad.synthetic import make_train_test
from pyvad.viz import plot_score_curves


def main(output_dir: Path) -> float:
    train, test = make_train_test(n_train=4, n_test=4, random_state=0)

    det = pyvad.MotionBaselineDetector(contamination=0.02).fit(train.videos)
    scores = det.score_frames(test.videos)  # one array per video, higher = more abnormal
    print(f"micro AUC {micro_auc(test.frame_labels, scores):.3f}  macro AUC {macro_auc(test.frame_labels, scores):.3f}")

    # The scikit-learn outlier contract: lower score_samples = more abnormal.
    auc = roc_auc_score(test.frame_labels_flat, -det.score_samples(test.videos))
    flagged = (det.predict(test.videos) == -1).mean()
    print(f"sklearn roc_auc_score {auc:.3f}; {flagged:.0%} of test frames flagged abnormal")

    model_path = det.save(output_dir / "baseline.pyvad")
    reloaded = pyvad.load(model_path)
    assert (reloaded.score_samples(test.videos) == det.score_samples(test.videos)).all()
    png = plot_score_curves(scores, output_dir / "quickstart_scores.png", labels=test.frame_labels,
                            names=test.names, threshold=-det.offset_)
    print(f"model saved to {model_path}; score curves in {png}")
    return auc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=Path("pyvad_quickstart"))
    main(parser.parse_args().output_dir)
