"""Choose between detector settings by leave-one-video-out cross-validation over labelled videos.

    python benchmarks/select_by_video_cv.py stack=results/maskedae_ped2_fast_stack_seed{seed}.npz \
        reference=results/maskedae_ped2_fast_reference_seed{seed}.npz --seeds 0 1 2 \
        [--dataset avenue --root PATH] [--output JSON]

Every candidate is a setting whose test frame scores were written to ``.npz`` files (one array
per video, e.g. by ``maskedae_ped2.py --scores``); ``{seed}`` in a path is replaced by each
seed. For every held-out video, the candidate with the highest micro AUC over the *other*
labelled videos is chosen (ties go to the first candidate listed, the default), and the held-out
video keeps that candidate's scores. The assembled scores give the cross-validated micro and
macro AUC of "pick the setting on labelled videos": no video is scored by a choice its own
labels made. The candidate chosen on all videos is what such a selection would make the default.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from _common import default_ped2_root, write_result
from sklearn.exceptions import UndefinedMetricWarning

from pyvad.datasets import load_dataset
from pyvad.metrics import macro_auc, micro_auc


def best_candidate(labels: list[np.ndarray], scores: dict[str, list[np.ndarray]], videos: list[int]) -> str:
    """The candidate with the highest micro AUC over ``videos`` (the first listed on a tie)."""
    aucs = {name: micro_auc([labels[v] for v in videos], [per_video[v] for v in videos])
            for name, per_video in scores.items()}
    return max(aucs, key=lambda name: aucs[name])  # max keeps the first of equal values


def leave_one_video_out(labels: list[np.ndarray], scores: dict[str, list[np.ndarray]]) -> dict:
    """Per held-out video, the candidate chosen on the others; the assembled scores' AUCs."""
    n_videos = len(labels)
    chosen = [best_candidate(labels, scores, [v for v in range(n_videos) if v != held]) for held in range(n_videos)]
    assembled = [scores[name][v] for v, name in enumerate(chosen)]
    return {
        "chosen_per_video": chosen,
        "cv_micro_auc": micro_auc(labels, assembled),
        "cv_macro_auc": macro_auc(labels, assembled),
        "chosen_on_all_videos": best_candidate(labels, scores, list(range(n_videos))),
        "candidates": {name: {"micro_auc": micro_auc(labels, s), "macro_auc": macro_auc(labels, s)}
                       for name, s in scores.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="NAME=PATH.npz, PATH may contain {seed}; the first is the default")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dataset", default="ped2", help="data set whose test labels are used (default: %(default)s)")
    parser.add_argument("--root", help="its folder (default for ped2: %s)" % default_ped2_root())
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/select_by_video_cv.json)")
    args = parser.parse_args()
    candidates = dict(item.split("=", 1) for item in args.candidates)

    if args.root is None and args.dataset != "ped2":
        parser.error(f"--root is needed for {args.dataset}")
    _, test = load_dataset(args.dataset, args.root or default_ped2_root())
    labels = test.frame_labels
    runs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # single-class test videos (Ped2 has four)
        for seed in args.seeds:
            scores = {}
            for name, pattern in candidates.items():
                stored = np.load(pattern.format(seed=seed))
                scores[name] = [stored[video] for video in test.names]
            runs[seed] = result = leave_one_video_out(labels, scores)
            counts = {name: result["chosen_per_video"].count(name) for name in candidates}
            own = "  ".join(f"{name} {v['micro_auc']:.4f} / {v['macro_auc']:.4f}" for name, v in result["candidates"].items())
            print(f"seed {seed}: chosen {counts}, cross-validated {result['cv_micro_auc']:.4f} / "
                  f"{result['cv_macro_auc']:.4f}; on all videos {result['chosen_on_all_videos']}; alone: {own}")
    write_result("select_by_video_cv", {"dataset": args.dataset, "candidates": candidates, "runs": runs}, args.output)


if __name__ == "__main__":
    main()
