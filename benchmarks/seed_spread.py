"""Seed-to-seed spread of the fast presets on a data set: how far apart are two single runs?

    python benchmarks/seed_spread.py [--methods pkgnet,maskedae,cafe] [--seeds 0 1 2] [--threads 2] [--params JSON]

Fits each method once per seed (same preset, data, foreground and thread count as
``run_all.py --fast``: its ``build_detector``), scores the test videos and prints micro and
macro AUC per seed with their mean and standard deviation, fit time and scoring frames/s
(extraction of the test videos included). ``--params`` overrides detector
parameters of every method (e.g. ``'{"epochs": 15}'``). The test labels compute the
metrics and nothing else; no setting is chosen from this output. JSON:
``benchmarks/results/seed_spread_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import default_ped2_root, write_result
from run_all import ENSEMBLE_MEMBERS, build_detector, evaluate_scores, vec_boxes

from pyvad.datasets import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ped2")
    parser.add_argument("--root", default=str(default_ped2_root()))
    parser.add_argument("--methods", default=",".join(ENSEMBLE_MEMBERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--params", default="{}", help="detector parameters as JSON, set on every method")
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/seed_spread_<dataset>.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    params = json.loads(args.params)
    root = Path(args.root)
    train, test = load_dataset(args.dataset, root)
    boxes = vec_boxes(args.dataset, root)
    results: dict[str, dict] = {}
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        runs = []
        for seed in args.seeds:
            detector = build_detector(method, args.preset, boxes, seed).set_params(**params)
            start = time.perf_counter()
            detector.fit(train.videos)
            fit_seconds = time.perf_counter() - start
            start = time.perf_counter()
            scores = detector.score_frames(test.videos)
            scoring_fps = sum(len(video) for video in scores) / (time.perf_counter() - start)
            metrics = evaluate_scores(test, scores)
            runs.append({"seed": seed, "micro_auc": metrics["micro_auc"], "macro_auc": metrics["macro_auc"],
                         "fit_seconds": fit_seconds, "scoring_fps": scoring_fps})
            print(f"{method:9s} seed {seed}: micro {metrics['micro_auc']:.4f}  macro {metrics['macro_auc']:.4f}  "
                  f"fit {fit_seconds:.0f} s  scoring {scoring_fps:.1f} frames/s (with extraction)", flush=True)
        summary = {key: {"mean": float(np.mean([r[key] for r in runs])), "std": float(np.std([r[key] for r in runs], ddof=1))}
                   for key in ("micro_auc", "macro_auc")} if len(runs) > 1 else {}
        results[method] = {"runs": runs, **summary}
        if summary:
            print(f"{method:9s} micro {summary['micro_auc']['mean']:.4f} ± {summary['micro_auc']['std']:.4f}  "
                  f"macro {summary['macro_auc']['mean']:.4f} ± {summary['macro_auc']['std']:.4f} (mean ± sd, "
                  f"{len(runs)} seeds)", flush=True)
    write_result(f"seed_spread_{args.dataset}", {"preset": args.preset, "params": params, "seeds": args.seeds, "threads": args.threads,
                                                  "foreground": "VEC boxes" if boxes else "detector default",
                                                  "methods": results}, args.output)


if __name__ == "__main__":
    main()
