"""Do the detectors' Ped2 test scores follow how crowded a frame is? A description, nothing chosen.

    python benchmarks/crowding_vs_scores.py [--preset fast] [--output JSON]

Reads the test scores ``run_all.py`` stored for every method (``results/run_all/*.npz``) and the
VEC authors' boxes (``boxes_vec/testing.npz``), and prints, per method, the Spearman rank
correlation between a frame's score and its number of boxes, over the **normal** test frames
(the labels only split the frames; no setting is chosen from this), and each method's micro
AUC on the crowded and on the sparse half of the frames (split at the median box count).
A detector whose normal-frame scores rise with crowding raises false alarms on busy footage:
``maskedae_heldout_statistics.py --ensemble-folds`` found AED-MAE fitted without Ped2's
crowded training videos scoring them far above its training frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import default_ped2_root, write_result
from ensemble_swap_member import stacked
from run_all import RUN_DIR, run_name
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from pyvad.datasets import load_dataset, load_vec_boxes

METHODS = ("baseline", "cafe", "pkgnet", "maskedae", "ensemble", "ensemble_train")


def boxes_per_frame(root: Path, videos: list) -> list[np.ndarray] | None:
    """Number of the VEC authors' boxes in every frame of each Ped2 video (matched by the videos'
    names), or None when ``root/boxes_vec`` does not exist."""
    if not (Path(root) / "boxes_vec").is_dir():
        return None
    boxes = load_vec_boxes("ped2", root)
    clips = [str(clip) for clip in boxes["clips"]]
    video, frame = np.asarray(boxes["video"]), np.asarray(boxes["frame"])
    counts = []
    for item in videos:
        index = clips.index(item.name)
        counts.append(np.bincount(frame[video == index], minlength=len(item))[:len(item)])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast", help="run_all.py preset of the method rows (baseline: default)")
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="JSON path (default: benchmarks/results/crowding_vs_scores.json)")
    args = parser.parse_args()

    test = load_dataset("ped2", Path(args.root))[1]
    names = list(test.names)
    labels = np.concatenate(test.frame_labels).astype(bool)
    counts = boxes_per_frame(Path(args.root), test.videos)
    if counts is None:
        raise SystemExit(f"{args.root}/boxes_vec not found: the VEC boxes are needed to count objects per frame")
    crowd = np.concatenate(counts)
    crowded = crowd > np.median(crowd)
    result = {"median_boxes_per_frame": float(np.median(crowd)),
              "normal_frames": int((~labels).sum()), "abnormal_frames": int(labels.sum()), "methods": {}}
    print(f"boxes per test frame: median {np.median(crowd):.0f}; normal frames {(~labels).sum()}, abnormal {labels.sum()}")
    for method in METHODS:
        path = RUN_DIR / f"{run_name('ped2', method, 'default' if method == 'baseline' else args.preset)}.npz"
        if not path.is_file():
            continue
        scores = stacked(path, names)
        row = {"spearman_normal_frames": float(spearmanr(scores[~labels], crowd[~labels]).statistic),
               "micro_auc_crowded_half": float(roc_auc_score(labels[crowded], scores[crowded])),
               "micro_auc_sparse_half": float(roc_auc_score(labels[~crowded], scores[~crowded]))}
        result["methods"][method] = row
        print(f"{method:15s} Spearman(score, boxes | normal frames) {row['spearman_normal_frames']:+.3f}; micro AUC "
              f"crowded half {row['micro_auc_crowded_half']:.3f}, sparse half {row['micro_auc_sparse_half']:.3f}")
    write_result("crowding_vs_scores", result, args.output)


if __name__ == "__main__":
    main()
