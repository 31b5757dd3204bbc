"""CAFEDetector on UCSD Ped2: frame AUCs, EER, RBDC/TBDC, fit time, scoring speed.

    python benchmarks/cafe_ped2.py [--preset fast] [--foreground motion|vec] [--root PATH]
                                   [--epochs N] [--max-train-events N] [--no-maps] [--output JSON]

``--foreground motion`` (default) lets the detector extract its own events with the
weight-free ``MotionForeground``; ``vec`` uses the VEC authors' released Ped2 boxes
(``boxes_vec/``) through ``PrecomputedBoxes``, as the paper's pipeline does. Trains on
the 16 normal training videos only; test labels are used for the metrics and nothing
else. Scoring time includes extraction.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

from _common import default_ped2_root, peak_rss_mb, write_result
from sklearn.exceptions import UndefinedMetricWarning

from pyvad.datasets import load_dataset
from pyvad.foreground import PrecomputedBoxes
from pyvad.methods.cafe import CAFE_PRESETS, CAFEDetector
from pyvad.metrics import evaluate


def _vec_events(root: Path, split: str, videos: list) -> object:
    """Events of ``videos`` from the VEC authors' boxes of ``split`` (offsets -1, 0, 1)."""
    extractor = PrecomputedBoxes(root / "boxes_vec" / f"{split}.npz", offsets=(-1, 0, 1))
    return extractor.fit().transform(videos)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--preset", default="fast", choices=["fast", "ped2"])
    parser.add_argument("--foreground", default="motion", choices=["motion", "vec"])
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (ca_start_epoch scales along)")
    parser.add_argument("--max-train-events", type=int, help="override the preset's training subset")
    parser.add_argument("--no-maps", action="store_true", help="skip RBDC/TBDC")
    parser.add_argument("--verbose", type=int, default=2, help="trainer progress (2: always, also into logs)")
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/cafe_ped2_<preset>_<fg>.json)")
    args = parser.parse_args()

    root = Path(args.root)
    train, test = load_dataset("ped2", root)
    overrides = {}
    if args.epochs is not None:
        preset = CAFE_PRESETS[args.preset]
        overrides["epochs"] = args.epochs
        overrides["ca_start_epoch"] = round(args.epochs * preset["ca_start_epoch"] / preset["epochs"])
    if args.max_train_events is not None:
        overrides["max_train_events"] = args.max_train_events
    det = CAFEDetector(args.preset, random_state=0, verbose=args.verbose, **overrides)
    load_before = os.getloadavg()

    start = time.perf_counter()
    det.fit(_vec_events(root, "training", train.videos) if args.foreground == "vec" else train.videos)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    test_input = _vec_events(root, "testing", test.videos) if args.foreground == "vec" else test.videos
    table = det.transform(test_input)
    scores = det.fusion_.score_frames(table)
    score_s = time.perf_counter() - start
    load_after = os.getloadavg()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # 4 Ped2 test videos are all-abnormal
        result = {
            "method": "CAFEDetector",
            "preset": args.preset,
            "foreground": "MotionForeground(ped2)" if args.foreground == "motion" else "VEC boxes (PrecomputedBoxes)",
            "teacher": f"{det.config_['teacher']} weights={det.config_['teacher_weights']} "
                       f"input={det.config_['teacher_input_size'] or 32}px taps={list(det.config_['teacher_taps'])}",
            "config": {k: repr(v) for k, v in det.config_.items()},
            "train_events": det.n_train_events_,
            "test_events": len(table),
            **evaluate(test.frame_labels, scores),
            "fit_seconds": fit_s,
            "scoring_fps": test.n_frames / score_s,
            "peak_rss_mb": peak_rss_mb(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "history_last_epoch": det.training_history_[-1],
        }
        print({k: result[k] for k in ("micro_auc", "macro_auc", "eer", "fit_seconds", "scoring_fps")}, flush=True)
        if not args.no_maps:
            # one threshold sweep over the maps gives both region and track criteria
            regions = evaluate(test.frame_labels, scores, masks_true=test.masks, maps_pred=det.score_maps(table))
            result.update({key: regions[key] for key in ("rbdc", "tbdc")})
    for key in ("micro_auc", "macro_auc", "eer", "rbdc", "tbdc", "fit_seconds", "scoring_fps", "peak_rss_mb"):
        if key in result:
            print(f"{key:18s} {result[key]:.4f}")
    print("teacher", result["teacher"], "| load", load_before, "->", load_after)
    write_result(f"cafe_ped2_{args.preset}_{args.foreground}", result, args.output)


if __name__ == "__main__":
    main()
