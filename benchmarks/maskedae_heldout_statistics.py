"""AED-MAE with its scoring statistics learned on held-out normal videos, on the label-free proxy.

    python benchmarks/maskedae_heldout_statistics.py [--preset fast] [--held-out 4] [--threads N] [--output JSON]
    python benchmarks/maskedae_heldout_statistics.py --ensemble-folds [--preset fast]

``MaskedAEDetector`` learns two things from its training frames after the network is trained:
per-cell statistics of the filtered maps (``normalize_cells``) and the fusion's z-score
statistics of its components. Both are in-sample. ``DetectorEnsemble``'s cross-fit run showed
that on training videos the detector did not see, its frame scores spread 3.7 times as wide as
on its own training frames (CAFE and PKG-Net: 1.0-1.15), so in-sample statistics may misjudge
new normal footage.

This fits one network on the proxy's training videos minus the last ``--held-out`` of them
(see ``heldout_proxy.py``; Ped2's test split is never read), then scores the proxy's clips with
injected anomalies three ways, the network unchanged: statistics from the network's own
training videos (as fitted), from the held-out normal videos only, and from both. Prints the
proxy AUCs (all / appearance / speed, macro) of each and the spread ratio behind them.

``--ensemble-folds`` instead repeats ``DetectorEnsemble``'s 2-fold cross-fit of this member on
all 16 Ped2 training videos (fit on videos 1-8, score 9-16, and the reverse) and prints each
fold model's frame-score mean and standard deviation on its own and on its held-out videos,
and the pooled held-out ones the ensemble uses (whether the wide pooled spread is within each
model or between the two fold models), and per held-out video its mean, SD, mean raw teacher
error and how crowded it is (VEC boxes per frame, when ``boxes_vec`` exists). No labels are read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import mean_std, write_result
from crowding_vs_scores import boxes_per_frame
from heldout_proxy import proxy_arguments, proxy_aucs, proxy_split
from sklearn.model_selection import KFold

from pyvad.datasets import load_dataset
from pyvad.methods.maskedae import MaskedAEDetector


def spread(det: MaskedAEDetector, videos: list) -> list[float]:
    """Mean and standard deviation of the detector's frame scores of ``videos``."""
    return mean_std(det.score_frames(videos))


def ensemble_folds(args) -> dict:
    """Each fold model's score spread on its own and on its held-out videos, and the pooled held-out spread."""
    train, _ = load_dataset("ped2", args.root)
    counts = boxes_per_frame(Path(args.root), train.videos) or []  # how crowded each video is
    crowding = {video.name: float(count.mean()) for video, count in zip(train.videos, counts)}
    folds, pooled = [], []
    for fit_rows, held_rows in KFold(2).split(train.videos):
        own, held = [train.videos[i] for i in fit_rows], [train.videos[i] for i in held_rows]
        det = MaskedAEDetector(args.preset, random_state=args.seed, **json.loads(args.params)).fit(own)
        scores = det.score_frames(held)
        pooled += scores
        table = det.transform(held)
        per_video = {video.name: {"mean": float(video_scores.mean()), "std": float(video_scores.std()),
                                  "teacher_error_mean": float(table["teacher_error"][table.video_ids == v].mean()),
                                  "vec_objects_per_frame": crowding.get(video.name)}
                     for v, (video, video_scores) in enumerate(zip(held, scores))}
        folds.append({"fit_videos": fit_rows.tolist(), "own_mean_std": spread(det, own),
                      "held_out_mean_std": spread(det, held), "held_out_videos": per_video})
        print(f"fold fitted on videos {fit_rows[0] + 1}-{fit_rows[-1] + 1}: own mean {folds[-1]['own_mean_std'][0]:+.2f}, "
              f"SD {folds[-1]['own_mean_std'][1]:.2f}; held-out mean {folds[-1]['held_out_mean_std'][0]:+.2f}, "
              f"SD {folds[-1]['held_out_mean_std'][1]:.2f}")
        for name, row in per_video.items():
            crowd = row["vec_objects_per_frame"]
            print(f"    held-out {name}: mean {row['mean']:+.2f}, SD {row['std']:.2f}, teacher_error "
                  f"{row['teacher_error_mean']:.2f}, objects per frame {'n/a' if crowd is None else f'{crowd:.1f}'}")
    pooled = np.concatenate(pooled)
    print(f"pooled held-out: mean {pooled.mean():+.2f}, SD {pooled.std():.2f}")
    return {"params": json.loads(args.params), "folds": folds,
            "pooled_held_out_mean_std": [float(pooled.mean()), float(pooled.std())]}


def proxy_statistics(args) -> dict:
    """Proxy AUCs of one network scored with statistics from its own, held-out, or all normal videos."""
    fit_videos, videos, kinds = proxy_split(args.root, args.seed, args.proxy)
    own, held = fit_videos[:-args.held_out], fit_videos[-args.held_out:]
    det = MaskedAEDetector(args.preset, random_state=args.seed, **json.loads(args.params))
    start = time.perf_counter()
    det.fit(own)
    result = {"network_videos": len(own), "statistics_videos_held_out": len(held),
              "fit_seconds": time.perf_counter() - start, "params": json.loads(args.params)}
    for name, statistics_videos in (("own", own), ("held_out", held), ("own_and_held_out", own + held)):
        if name != "own":
            det._fit_scoring(det._events(statistics_videos, training=False))
        result[name] = {"proxy": proxy_aucs(kinds, det.score_frames(videos)),
                        "held_out_mean_std": spread(det, held), "own_mean_std": spread(det, own)}
        mean, std = result[name]["held_out_mean_std"]
        own_mean, own_std = result[name]["own_mean_std"]
        print(f"statistics from {name:17s}", "  ".join(f"{k} {v:.3f}" for k, v in result[name]["proxy"].items()),
              f"| held-out normal videos: mean {mean:+.2f}, SD {std:.2f}; own: mean {own_mean:+.2f}, SD {own_std:.2f}")
    return result


def main() -> None:
    parser = proxy_arguments(__doc__.splitlines()[0], "maskedae_heldout_statistics")
    parser.add_argument("--held-out", type=int, default=4, help="normal videos kept out of the network's fit")
    parser.add_argument("--params", default="{}", help="extra MaskedAEDetector parameters as JSON")
    parser.add_argument("--ensemble-folds", action="store_true", help="the ensemble's 2-fold cross-fit of this member instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ensemble_folds:
        write_result("maskedae_ensemble_folds", ensemble_folds(args), args.output)
    else:
        write_result("maskedae_heldout_statistics", proxy_statistics(args), args.output)


if __name__ == "__main__":
    main()
