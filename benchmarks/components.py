"""Ped2 AUC of each score component of a fitted detector, fused alone the way the detector fuses.

    python benchmarks/components.py MODEL [--root PED2] [--threads 2] [--output JSON]

Loads a saved CAFE, PKG-Net or AED-MAE model (for example one of ``run_all.py``'s models),
computes its score table on the training and the test videos once, and then, for each
component, refits a copy of the detector's own fusion (same normalisation, frame
aggregation and smoothing, training statistics) with that component alone. The ``fused``
row refits the whole fusion and so reproduces the detector's own frame scores. This is the
paper ablation "which term carries the score", measured on one model: the test labels
only compute the AUCs.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
from _common import default_ped2_root, peak_rss_mb, write_result
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning

import pyvad
from pyvad.datasets import load_dataset
from pyvad.fusion import FusedDetectorMixin
from pyvad.metrics import macro_auc, micro_auc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved detector (.pyvad) with a score fusion")
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/components_<model>.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    detector = pyvad.load(args.model)
    if not isinstance(detector, FusedDetectorMixin):
        parser.error(f"{args.model} holds a {type(detector).__name__}, which has no score fusion to take apart")
    train, test = load_dataset("ped2", args.root)
    start = time.perf_counter()
    train_table, test_table = detector.transform(train.videos), detector.transform(test.videos)
    table_seconds = time.perf_counter() - start

    weights = dict(zip(detector.fusion_.components_, detector.fusion_.weights_.tolist()))
    rows = {}
    for name in [None, *detector.fusion_.components_]:
        fusion = clone(detector.fusion_)
        if name is not None:
            fusion.set_params(weights={name: 1.0})
        scores = fusion.fit(train_table).score_frames(test_table)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)  # Ped2 has all-abnormal test videos
            rows[name or "fused"] = {"micro_auc": micro_auc(test.frame_labels, scores),
                                     "macro_auc": macro_auc(test.frame_labels, scores)}
        row = rows[name or "fused"]
        weight = "" if name is None else f"  (weight {weights[name]:g} in the detector)"
        print(f"{name or 'fused':14s} micro {row['micro_auc']:.4f} macro {row['macro_auc']:.4f}{weight}")
    result = {
        "model": str(args.model),
        "detector": type(detector).__name__,
        "fusion": repr(detector.fusion_),
        "weights": weights,
        "components": rows,
        "score_table_seconds": table_seconds,
        "peak_rss_mb": peak_rss_mb(),
    }
    write_result(f"components_{Path(args.model).stem}", result, args.output)


if __name__ == "__main__":
    main()
