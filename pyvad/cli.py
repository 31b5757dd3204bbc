"""The ``pyvad`` command line: fit, score, evaluate, demo.

Every sub-command uses the same estimators as the Python API. Errors caused by
the user's input are printed as one line (``pyvad: error: ...``) with exit
status 2; unexpected failures keep their traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pyvad._version import __version__
from pyvad.exceptions import PyvadError

__all__ = ["main", "build_parser"]


def _print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def _write_json(path: str | Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def _frame_metrics(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> dict[str, float]:
    from sklearn.exceptions import UndefinedMetricWarning

    from pyvad.metrics import average_precision, eer, macro_auc, micro_auc

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        macro = macro_auc(labels, scores)
    skipped = sum(issubclass(w.category, UndefinedMetricWarning) for w in caught)
    if skipped:
        print(f"note: {skipped} of {len(labels)} videos have a single class (no AUC); macro AUC averages the others")
    return {
        "micro_auc": micro_auc(labels, scores),
        "macro_auc": macro,
        "eer": eer(labels, scores),
        "average_precision": average_precision(labels, scores),
    }


def _make_detector(method: str, preset: str | None, epochs: int | None, device: str | None):
    from pyvad.methods import get_method

    cls = get_method(method)
    params = cls().get_params(deep=False)
    kwargs: dict[str, object] = {}
    for name, value in (("preset", preset), ("epochs", epochs), ("device", device)):
        if value is None:
            continue
        if name not in params:
            raise ValueError(f"method {method!r} has no parameter {name!r} (--{name})")
        kwargs[name] = value
    return cls(**kwargs)


def _cmd_demo(args: argparse.Namespace) -> int:
    from sklearn.metrics import roc_auc_score

    from pyvad.methods import MotionBaselineDetector
    from pyvad.synthetic import make_train_test
    from pyvad.viz import plot_score_curves

    out = Path(args.output_dir)
    train, test = make_train_test(random_state=args.seed)
    print(f"Synthetic scene: {len(train.videos)} normal training videos, {len(test.videos)} test videos "
          "with injected anomalies (fast, wrong direction, odd shape, odd size).")
    start = time.perf_counter()
    det = MotionBaselineDetector().fit(train.videos)
    print(f"Fitted MotionBaselineDetector in {time.perf_counter() - start:.2f} s.")
    scores = det.score_frames(test.videos)
    rows = []
    for name, y, s in zip(test.names, test.frame_labels, scores):
        auc = roc_auc_score(y, s) if 0 < y.sum() < len(y) else float("nan")
        rows.append((name, len(y), int(y.sum()), f"{auc:.3f}"))
    _print_table(rows, ("video", "frames", "abnormal", "AUC"))
    metrics = _frame_metrics(test.frame_labels, scores)
    print(f"micro AUC {metrics['micro_auc']:.3f}   macro AUC {metrics['macro_auc']:.3f}")
    threshold = -det.offset_
    png = plot_score_curves(scores, out / "demo_scores.png", labels=test.frame_labels, names=test.names,
                            threshold=threshold, title="pyvad demo: MotionBaselineDetector")
    print(f"Score curves written to {png}")
    return 0


def _load_input_videos(paths: Sequence[str], dataset: str | None, root: str | None, split: str):
    from pyvad.datasets import load_dataset
    from pyvad.video import as_videos

    if dataset is not None:
        if root is None:
            raise ValueError("--dataset needs --root (the folder that holds the dataset)")
        train, test = load_dataset(dataset, root)
        return (train if split == "train" else test).videos
    if not paths:
        raise ValueError("give input videos (files or frame folders) or --dataset NAME --root DIR")
    return as_videos(list(paths))


def _cmd_fit(args: argparse.Namespace) -> int:
    det = _make_detector(args.method, args.preset, args.epochs, args.device)
    videos = _load_input_videos(args.inputs, args.dataset, args.root, "train")
    start = time.perf_counter()
    det.fit(videos)
    path = det.save(args.output)
    print(f"Fitted {type(det).__name__} on {len(videos)} videos in {time.perf_counter() - start:.1f} s; "
          f"saved to {path}")
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from pyvad.base import load
    from pyvad.video import as_videos

    det = load(args.model, device=args.device)
    video = as_videos(args.input)[0]
    scores = det.score_frames([video])[0]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "time_s", "score"])
        for i, s in enumerate(scores):
            writer.writerow([i, f"{i / video.fps:.4f}", f"{s:.6g}"])
    print(f"Scored {len(scores)} frames of {video.name!r}; wrote {out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pyvad.base import load
    from pyvad.datasets import load_dataset

    train, test = load_dataset(args.dataset, args.root)
    if test.frame_labels is None:
        raise ValueError(f"dataset {args.dataset!r} under {args.root!r} has no test labels to evaluate against")
    result: dict[str, object] = {"dataset": args.dataset, "pyvad": __version__}
    if args.model is not None:
        det = load(args.model, device=args.device)
        result["model"] = str(args.model)
    else:
        det = _make_detector(args.method, args.preset, args.epochs, args.device)
        start = time.perf_counter()
        det.fit(train.videos)
        result["fit_seconds"] = round(time.perf_counter() - start, 2)
    result["method"] = type(det).__name__
    result["params"] = {k: repr(v) for k, v in det.get_params(deep=False).items()}
    start = time.perf_counter()
    scores = det.score_frames(test.videos)
    seconds = time.perf_counter() - start
    result["scoring_fps"] = round(test.n_frames / seconds, 1)
    result.update(_frame_metrics(test.frame_labels, scores))
    _print_table([(k, f"{result[k]:.4f}") for k in ("micro_auc", "macro_auc", "eer", "average_precision")],
                 ("metric", "value"))
    print(f"scoring: {result['scoring_fps']} frames/s over {test.n_frames} frames")
    if args.json:
        _write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pyvad`` command."""
    parser = argparse.ArgumentParser(
        prog="pyvad", description="Video anomaly detection: fit on normal footage, score new footage."
    )
    parser.add_argument("--version", action="version", version=f"pyvad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser("demo", help="fit a detector on synthetic videos, print AUCs, plot scores",
                          description="Runs end to end on generated videos; nothing is downloaded.")
    demo.add_argument("--output-dir", default="pyvad_demo", help="where the score-curve PNG goes (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the synthetic scene (default: %(default)s)")
    demo.set_defaults(func=_cmd_demo)

    def add_method_options(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--method", required=required, default=None if required else "baseline",
                       help="detector to fit (see pyvad.methods.METHODS)" + ("" if required else "; default: %(default)s"))
        p.add_argument("--preset", help="preset of the method (e.g. ped2, fast)")
        p.add_argument("--epochs", type=int, help="override the preset's number of epochs")
        p.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps")

    fit = sub.add_parser("fit", help="fit a detector on normal videos and save it",
                         description="Fit on normal footage (files, frame folders, or a dataset's training split).")
    fit.add_argument("inputs", nargs="*", help="training videos: files or frame folders")
    add_method_options(fit, required=True)
    fit.add_argument("--dataset", help="use the training split of this dataset instead of INPUTS (needs --root)")
    fit.add_argument("--root", help="dataset folder")
    fit.add_argument("--output", required=True, help="model file to write (.pyvad)")
    fit.set_defaults(func=_cmd_fit)

    score = sub.add_parser("score", help="score every frame of a video with a saved model",
                           description="Writes a CSV with header frame,time_s,score (one row per frame).")
    score.add_argument("input", help="video file or frame folder")
    score.add_argument("--model", required=True, help="model file written by `pyvad fit` or det.save()")
    score.add_argument("--output", required=True, help="CSV file to write")
    score.add_argument("--device", help="override the model's device")
    score.set_defaults(func=_cmd_score)

    evaluate = sub.add_parser("evaluate", help="frame-level AUC/EER/AP on a benchmark's test split",
                              description="Evaluate a saved model, or fit --method on the training split first.")
    evaluate.add_argument("--dataset", required=True, help="ped2, avenue, shanghaitech, ucsd_ped1, ubnormal, folder")
    evaluate.add_argument("--root", required=True, help="dataset folder")
    evaluate.add_argument("--model", help="saved model; without it, --method is fitted on the training split")
    add_method_options(evaluate, required=False)
    evaluate.add_argument("--json", help="also write the results to this JSON file")
    evaluate.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyvad`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (PyvadError, ValueError, OSError) as exc:
        print(f"pyvad: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyvad: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
