"""MaskedAEDetector (AED-MAE) on UCSD Ped2: frame-level AUC, fit time, scoring speed.

    python benchmarks/maskedae_ped2.py [--preset fast] [--epochs N] [--save MODEL] [--root PATH] [--output JSON]
    python benchmarks/maskedae_ped2.py --model MODEL.pyvad --output JSON   # a saved detector, not fitted here
    python benchmarks/maskedae_ped2.py --model MODEL.pyvad --test-mask per_frame   # score it with other test masks

Trains on the 16 normal training videos only (no checkpoint selection: the last epoch
is kept); the test labels are used for the AUCs and nothing else. ``--test-mask`` rescores the
detector with another test-time masking; the fusion statistics are then recomputed on the
training videos under that masking. Scoring speed covers
the whole path from decoded frames: resizing, the network and fusion.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from _common import default_ped2_root, peak_rss_mb, write_result
from sklearn.exceptions import UndefinedMetricWarning

import pyvad
from pyvad.datasets import load_dataset
from pyvad.methods.maskedae import MaskedAEDetector
from pyvad.metrics import evaluate, macro_auc, micro_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--preset", default="fast", help="detector preset (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="teacher epochs (student: 40%%); default: the preset's")
    parser.add_argument("--offsets", type=int, nargs="+", help="stacked frames, e.g. -3 0 3")
    parser.add_argument("--mask-scope", choices=["stack", "reference"],
                        help="what a masked token hides in training and scoring; default: the preset's")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="also save the fitted detector to this .pyvad file")
    parser.add_argument("--model", help="evaluate this saved detector (e.g. fitted on a GPU) instead of fitting one")
    parser.add_argument("--test-mask", choices=["fixed", "complementary", "per_frame", "none"],
                        help="score with this test-time masking instead of the detector's own")
    parser.add_argument("--normalize-cells", choices=["yes", "no"],
                        help="score with or without per-cell normalisation instead of the detector's own")
    parser.add_argument("--scores", help="also write the test videos' frame scores to this .npz file (one array per video)")
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/maskedae_ped2_<preset>.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train, test = load_dataset("ped2", args.root)
    if args.model:
        det, fit_s = pyvad.load(args.model), None
    else:
        det = MaskedAEDetector(preset=args.preset, epochs=args.epochs, offsets=args.offsets,
                               mask_scope=args.mask_scope, random_state=args.seed, verbose=2)
        start = time.perf_counter()
        det.fit(train.videos)
        fit_s = time.perf_counter() - start
    if args.save:
        det.save(args.save)
    if args.test_mask or args.normalize_cells:  # training statistics under the new scoring
        if args.test_mask:
            det.config_["test_mask"] = args.test_mask
            det.test_keep_ = det._test_keep()
        if args.normalize_cells:
            det.config_["normalize_cells"] = args.normalize_cells == "yes"
        det._fit_scoring(det._events(train.videos, training=False))
    start = time.perf_counter()
    scores = det.score_frames(test.videos)
    score_s = time.perf_counter() - start
    if args.scores:
        np.savez_compressed(args.scores, **{video: s for video, s in zip(test.names, scores)})
    table = det.transform(test.videos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # 4 Ped2 test videos are all-abnormal
        per_component = {}
        for name in table.components:
            frames = [table[name][table.video_ids == v] for v in range(table.n_videos)]
            per_component[name] = {"micro_auc": micro_auc(test.frame_labels, frames),
                                   "macro_auc": macro_auc(test.frame_labels, frames)}
        result = {
            "method": "MaskedAEDetector",
            "teacher": "none (trained from scratch; synthetic anomalies: procedural shapes/textures/cut-outs)",
            "params": {k: repr(v) for k, v in det.get_params(deep=False).items()},
            "config": {k: repr(v) for k, v in det.config_.items()},
            "train_frames": train.n_frames,
            "test_frames": test.n_frames,
            **evaluate(test.frame_labels, scores),
            "components_unsmoothed": per_component,
            "fit_seconds": fit_s,
            "scoring_fps": test.n_frames / score_s,
            "peak_rss_mb": peak_rss_mb(),
            "history": det.history_,
        }
    for key in ("micro_auc", "macro_auc", "eer", "average_precision", "fit_seconds", "scoring_fps", "peak_rss_mb"):
        print(f"{key:18s} {result[key] if result[key] is None else format(result[key], '.4f')}")
    for name, values in per_component.items():
        print(f"{name:18s} micro {values['micro_auc']:.4f} macro {values['macro_auc']:.4f}")
    write_result(f"maskedae_ped2_{args.preset}", result, args.output)


if __name__ == "__main__":
    main()
