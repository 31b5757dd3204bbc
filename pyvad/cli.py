"""The ``pyvad`` command line: fit, score, evaluate, demo.

Every sub-command uses the same estimators as the Python API. Errors caused by
the user's input are printed as one line (``pyvad: error: ...``) with exit
status 2; unexpected failures keep their traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np

from pyvad._version import __version__
from pyvad.exceptions import PyvadError

__all__ = ["main", "build_parser"]


def _print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def _frame_metrics(labels: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> dict[str, float]:
    from sklearn.exceptions import UndefinedMetricWarning

    from pyvad.metrics import evaluate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        metrics = evaluate(labels, scores)
    skipped = sum(issubclass(w.category, UndefinedMetricWarning) for w in caught)
    if skipped:
        print(f"note: {skipped} of {len(labels)} videos have a single class (no AUC); macro AUC averages the others")
    return metrics


# (parameter, command-line flag, attribute of the parsed arguments) of the method options.
#: What ``evaluate`` fits when neither --model nor --method is given.
_DEFAULT_METHOD = "baseline"
_METHOD_OPTIONS = (("preset", "--preset", "preset"), ("epochs", "--epochs", "epochs"), ("device", "--device", "device"),
                   ("amp", "--amp", "amp"), ("random_state", "--seed", "seed"))


def _parse_assignment(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` of ``--set``: the value as JSON (numbers, true, null, lists, objects), else as text."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--set expects NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


# Method options the ensemble takes itself; its members' other options go through --set.
_ENSEMBLE_OPTIONS = ("preset", "device", "random_state")


def _make_detector(args: argparse.Namespace):
    """The ``--method`` detector with the method options and ``--set`` values given; refuses those it lacks.

    The method options are passed to the constructor and the ``--set`` values to
    ``set_params``, so ``--set`` also reaches a component's parameter (``extractor__...``,
    or ``cafe__epochs`` of an ensemble member).
    """
    given = [(name, flag, getattr(args, attribute)) for name, flag, attribute in _METHOD_OPTIONS
             if getattr(args, attribute) is not None]
    settings = [(name, "--set", value) for name, value in map(_parse_assignment, args.set)]
    flags: dict[str, str] = {}
    for name, flag, _ in given + settings:
        if name in flags:
            raise ValueError(f"parameter {name!r} of method {args.method!r} is given twice ({flags[name]} and {flag})")
        flags[name] = flag
    det = _construct(args.method, given)
    params = det.get_params(deep=True)
    for name, flag, _ in settings:
        if name not in params:
            raise ValueError(f"method {args.method!r} has no parameter {name!r} ({flag}); "
                             f"its parameters: {_describe_parameters(det)}")
    return det.set_params(**{name: value for name, _, value in settings})


def _construct(method: str, given: Sequence[tuple[str, str, object]]):
    """``method`` built with the method options ``given`` (``"ensemble"``: the paper detectors together)."""
    if method == "ensemble":
        from pyvad.ensemble import make_ensemble

        accepted, build = _ENSEMBLE_OPTIONS, make_ensemble
    else:
        from pyvad.methods import get_method

        build = get_method(method)
        accepted = tuple(build().get_params(deep=False))
    for name, flag, _ in given:
        if name not in accepted:
            hint = f"; set it per member, e.g. --set cafe__{name}=..." if method == "ensemble" else ""
            raise ValueError(f"method {method!r} has no parameter {name!r} ({flag}){hint}; "
                             f"its parameters: {', '.join(sorted(accepted))}")
    return build(**{name: value for name, _, value in given})


def _describe_parameters(det) -> str:
    """The detector's own parameter names, and a note on its components' ``NAME__PARAM`` ones."""
    own = det.get_params(deep=False)
    nested = sorted({name.split("__")[0] for name in det.get_params(deep=True) if "__" in name})
    text = ", ".join(sorted(own))
    return text + (f"; and NAME__PARAM of its components {', '.join(nested)}" if nested else "")


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


# Suffixes of the files a folder of clips holds: what pyvad writes, and other formats OpenCV reads.
_CLIP_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv")


def _expand_clip_folders(paths: Sequence[str]) -> list[str]:
    """Each folder that holds video files and no frame images stands for its videos, in name order
    (numbers by value: ``clip2`` before ``clip10``; hidden files skipped, as frame folders skip them)."""
    from pyvad.video import IMAGE_SUFFIXES, natural_key

    expanded: list[str] = []
    for text in paths:
        path = Path(text)
        files = (sorted((p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")),
                        key=lambda p: natural_key(p.name)) if path.is_dir() else [])
        clips = [str(p) for p in files if p.suffix.lower() in _CLIP_SUFFIXES]
        if clips and not any(p.suffix.lower() in IMAGE_SUFFIXES for p in files):
            expanded += clips
        else:
            expanded.append(text)
    return expanded


def _load_input_videos(paths: Sequence[str], dataset: str | None, root: str | None, split: str):
    from pyvad.datasets import load_dataset
    from pyvad.video import as_videos

    if dataset is not None:
        if root is None:
            raise ValueError("--dataset needs --root (the folder that holds the dataset)")
        if paths:
            raise ValueError(f"give input videos or --dataset, not both (got {len(paths)} inputs and --dataset {dataset})")
        train, test = load_dataset(dataset, root)
        return (train if split == "train" else test).videos
    if root is not None:
        raise ValueError("--root is the folder of a --dataset; without --dataset give the videos themselves")
    if not paths:
        raise ValueError("give input videos (files, frame folders or folders of video files) "
                         "or --dataset NAME --root DIR")
    return as_videos(_expand_clip_folders(paths))


def _cmd_fit(args: argparse.Namespace) -> int:
    if Path(args.output).is_dir():  # checked before a fit that may take hours
        raise ValueError(f"--output {args.output!r} is a folder; give the model file to write, "
                         f"e.g. {Path(args.output) / 'model.pyvad'}")
    det = _make_detector(args)
    videos = _load_input_videos(args.inputs, args.dataset, args.root, "train")
    start = time.perf_counter()
    det.fit(videos)
    # Under torchrun every process fits (training is data-parallel); only rank 0 writes.
    if int(os.environ.get("RANK", "0")) == 0:
        path = det.save(args.output)
        print(f"Fitted {type(det).__name__} on {len(videos)} videos in {time.perf_counter() - start:.1f} s; "
              f"saved to {path}")
    return 0


def _check_distinct_outputs(outputs: dict[str, str | Path | None]) -> None:
    """Refuse two outputs of one command that name the same file (one would overwrite the other)."""
    seen: dict[Path, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        resolved = Path(path).resolve()
        if resolved in seen:
            raise ValueError(f"{seen[resolved]} and {flag} both name {path}; give them different files")
        seen[resolved] = flag


def _parse_source(text: str) -> int | str:
    """A camera index for an all-digit argument, else the path or URL as given."""
    return int(text) if text.isdigit() else text


def _source_stem(source: int | str) -> str:
    """A file-name stem for the outputs of ``source``."""
    if isinstance(source, int):
        return f"camera{source}"
    if "://" in source:
        return "stream"
    return Path(source).stem or Path(source).resolve().name or "video"


def _overlay_fps(source: int | str, fps: float | None) -> float:
    """Frame rate of the annotated video: --fps, the recorded source's, else the default."""
    from pyvad.streaming import is_live_source
    from pyvad.video import DEFAULT_FPS, Video

    if fps is not None:
        return fps
    return DEFAULT_FPS if is_live_source(source) else Video(source).fps


def _map_range(det, threshold: float) -> tuple[float, float]:
    """Heat-map colour range: from the median training score (clear) to past the threshold (red)."""
    training = getattr(det, "training_frame_scores_", None)
    low = float(np.median(np.concatenate(training))) if training else threshold - 1.0
    low = min(low, threshold - 1e-6)
    return low, threshold + (threshold - low)


class _Overlay:
    """Writes every scored frame with its heat map and a live score curve to a video."""

    def __init__(self, path: str, fps: float, threshold: float, map_range: tuple[float, float],
                 history: int = 200) -> None:
        from collections import deque

        from pyvad.video import VideoWriter

        self.writer = VideoWriter(path, fps=fps)
        self.threshold, self.map_range = threshold, map_range
        self.recent: deque[float] = deque(maxlen=history)

    def write(self, record) -> None:
        from pyvad.viz import annotate_frame

        self.recent.append(record.score)
        self.writer.write(annotate_frame(record.frame, list(self.recent), threshold=self.threshold,
                                         heatmap=record.map, map_range=self.map_range))

    def close(self) -> None:
        self.writer.close()


def _alert_line(alert) -> str:
    if alert.kind == "start":
        return f"alert: abnormal from frame {alert.start} ({alert.start_time:.2f} s)"
    return (f"alert: abnormal frames {alert.start}-{alert.end} ({alert.start_time:.2f}-{alert.end_time:.2f} s), "
            f"peak score {alert.peak_score:.3g}")


def _interval_record(alert) -> dict[str, float]:
    from pyvad.interop import interval_record

    return interval_record(alert.start, alert.end, alert.start_time, alert.end_time, alert.peak_score)


def _cmd_score(args: argparse.Namespace) -> int:
    from array import array

    from pyvad.base import load
    from pyvad.interop import ScoreCsvWriter, write_json
    from pyvad.streaming import AlertTracker, is_live_source, resolve_threshold

    source = _parse_source(args.input)
    csv_path = Path(args.output or f"{_source_stem(source)}_scores.csv")
    json_path = Path(args.json or csv_path.with_suffix(".json"))
    _check_distinct_outputs({"--output (CSV)": csv_path, "--json": json_path, "--overlay": args.overlay})
    det = load(args.model, device=args.device, trusted_classes=args.trust)
    threshold = resolve_threshold(det, threshold=args.threshold, quantile=args.quantile)
    smoothing = args.smoothing if args.smoothing != "auto" else ("causal" if is_live_source(source) else "centred")
    with_maps = args.overlay is not None and hasattr(det, "score_maps")
    stream = det.score_stream(source, hop=args.hop, smoothing=smoothing, threshold=threshold, with_maps=with_maps,
                              fps=args.fps, max_frames=args.max_frames)
    overlay = (_Overlay(args.overlay, _overlay_fps(source, args.fps), threshold, _map_range(det, threshold))
               if args.overlay else None)
    tracker, intervals, scores = AlertTracker(args.min_alert_frames), [], array("d")
    start = time.perf_counter()
    try:
        with ScoreCsvWriter(csv_path, atomic=not is_live_source(source)) as writer:  # a camera's CSV fills as it goes
            for record in stream:
                writer.write(record.index, record.timestamp, record.score)
                scores.append(record.score)
                for alert in tracker.update(record.index, record.timestamp, record.score, record.abnormal):
                    print(_alert_line(alert), flush=True)
                    if alert.kind == "end":
                        intervals.append(_interval_record(alert))
                if overlay is not None:
                    overlay.write(record)
    except KeyboardInterrupt:
        print("stopped by the user; writing what was scored", file=sys.stderr)
    finally:
        if overlay is not None:
            overlay.close()
    for alert in tracker.close():
        print(_alert_line(alert))
        intervals.append(_interval_record(alert))
    seconds = time.perf_counter() - start
    fps = len(scores) / seconds if seconds > 0 else float("nan")
    write_json(json_path, {
        "input": str(args.input), "model": str(args.model), "method": type(det).__name__, "pyvad": __version__,
        "smoothing": smoothing, "threshold": threshold, "frames": len(scores), "seconds": round(seconds, 3),
        "frames_per_second": round(fps, 2), "abnormal_intervals": intervals, "scores": list(scores),
    })
    print(f"Scored {len(scores)} frames in {seconds:.1f} s ({fps:.1f} frames/s); "
          f"{len(intervals)} abnormal intervals above threshold {threshold:.4g}")
    print(f"wrote {csv_path} and {json_path}" + (f"; annotated video {args.overlay}" if overlay else ""))
    return 0


def _region_metrics(det, test, scores: Sequence[np.ndarray]) -> dict[str, float]:
    """RBDC and TBDC over the test videos that have pixel masks."""
    from pyvad.metrics import evaluate

    keep = [i for i, mask in enumerate(test.masks) if mask is not None]
    maps = det.score_maps([test.videos[i] for i in keep])
    result = evaluate([test.frame_labels[i] for i in keep], [scores[i] for i in keep],
                      masks_true=[test.masks[i] for i in keep], maps_pred=maps)
    return {"rbdc": result["rbdc"], "tbdc": result["tbdc"]}


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from pyvad.base import load
    from pyvad.datasets import load_dataset
    from pyvad.interop import write_json

    train, test = load_dataset(args.dataset, args.root)
    if test.frame_labels is None:
        raise ValueError(f"dataset {args.dataset!r} under {args.root!r} has no test labels to evaluate against")
    result: dict[str, object] = {"dataset": args.dataset, "pyvad": __version__}
    if args.model is not None:
        unused = [flag for flag, value in (("--method", args.method), ("--preset", args.preset),
                                           ("--epochs", args.epochs), ("--amp", args.amp), ("--seed", args.seed),
                                           ("--set", args.set or None)) if value is not None]
        if unused:
            raise ValueError(f"{', '.join(unused)} configure the detector that evaluate fits without --model; "
                             f"the model {args.model} is evaluated as saved (drop {', '.join(unused)} or --model)")
        det = load(args.model, device=args.device, trusted_classes=args.trust)
        result["model"] = str(args.model)
    else:
        args.method = args.method or _DEFAULT_METHOD
        det = _make_detector(args)
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
    metrics = ["micro_auc", "macro_auc", "eer", "average_precision"]
    has_masks = test.masks is not None and any(mask is not None for mask in test.masks)
    if hasattr(det, "score_maps") and has_masks and not args.no_regions:
        result.update(_region_metrics(det, test, scores))
        metrics += ["rbdc", "tbdc"]
    _print_table([(k, f"{result[k]:.4f}") for k in metrics], ("metric", "value"))
    print(f"scoring: {result['scoring_fps']} frames/s over {test.n_frames} frames")
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other pyvad error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"pyvad: error: {message} (see `{self.prog} --help`)\n")


_FIT_EXAMPLES = """examples:
  pyvad fit --method baseline train/01 train/02 --output baseline.pyvad
  pyvad fit --method cafe --preset ped2 --dataset ped2 --root data/ped2 --output cafe.pyvad --device cuda
  pyvad fit --method maskedae --preset fast clips/ --set smoothing_sigma=13.2 --set smoothing_window=45 --output m.pyvad
  pyvad fit --method ensemble --preset fast clips/ --seed 0 --set cafe__epochs=4 --output ensemble.pyvad
"""

_SCORE_EXAMPLES = """examples:
  pyvad score street.mp4 --model m.pyvad --overlay street_annotated.mp4
  pyvad score frames/ --model m.pyvad --output scores.csv --quantile 0.995
  pyvad score 0 --model m.pyvad --max-frames 3000          # webcam 0
  pyvad score rtsp://camera.local/stream --model m.pyvad --hop 4

outputs: a CSV with header frame,time_s,score (one row per frame) and a JSON file with the
threshold, the abnormal intervals (alerts) and the scores; with --overlay, a video of the
frames with the model's heat map (where it has score_maps) and a live score curve.
"""

_EVALUATE_EXAMPLES = """examples:
  pyvad evaluate --model cafe.pyvad --dataset ped2 --root data/ped2 --json cafe_ped2.json
  pyvad evaluate --method baseline --dataset folder --root my_data

Frame metrics: micro AUC (all test frames concatenated), macro AUC (mean of per-video AUCs),
EER and average precision. RBDC/TBDC are added when the model has score_maps and the
dataset has pixel masks. No test statistic is used to normalise scores.
"""


def _add_method_options(parser: argparse.ArgumentParser, required: bool) -> None:
    default = "" if required else f"; default: {_DEFAULT_METHOD}"
    parser.add_argument("--method", required=required,
                        help="detector to fit: a key of pyvad.methods.METHODS, or ensemble (CAFE, PKG-Net and "
                             f"AED-MAE as one DetectorEnsemble; members' parameters as --set cafe__epochs=N){default}")
    parser.add_argument("--preset", help="preset of the method (e.g. ped2, avenue, fast)")
    parser.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:1 or mps (methods with a device parameter)")
    parser.add_argument("--amp", choices=["fp32", "bf16", "fp16", "auto"],  # pyvad.training.AMP_CHOICES (no torch at start-up)
                        help="precision of training and scoring (bf16: CUDA and CPU; fp16: CUDA; auto: bf16 where "
                             "the hardware computes it, else fp32; default: the preset's)")
    parser.add_argument("--seed", type=int,
                        help="random_state of the method: the same seed gives the same model on the same machine")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="any other parameter of the method (repeatable); VALUE is read as JSON when it "
                             "parses (3, 0.5, true, [-3, 0, 3], {...}), else as text: --set test_mask=per_frame")


def _add_demo_parser(sub) -> None:
    demo = sub.add_parser("demo", help="fit a detector on synthetic videos, print AUCs, plot scores",
                          description="Runs end to end on generated videos; nothing is downloaded.")
    demo.add_argument("--output-dir", default="pyvad_demo", help="where the score-curve PNG goes (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the synthetic scene (default: %(default)s)")
    demo.set_defaults(func=_cmd_demo)


def _add_fit_parser(sub) -> None:
    fit = sub.add_parser("fit", help="fit a detector on normal videos and save it", epilog=_FIT_EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Fit on normal footage (files, frame folders, or a dataset's training split).")
    fit.add_argument("inputs", nargs="*",
                     help="training videos: video files, frame folders, or folders of video files (each file a video)")
    _add_method_options(fit, required=True)
    fit.add_argument("--dataset", help="use the training split of this dataset instead of INPUTS (needs --root)")
    fit.add_argument("--root", help="dataset folder")
    fit.add_argument("--output", required=True, help="model file to write (.pyvad)")
    fit.set_defaults(func=_cmd_fit)


def _add_trust_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust", action="append", default=[], metavar="MODULE:CLASS",
                        help="allow the model file to instantiate this class from outside pyvad and its installed "
                             "plugins (repeatable); only for model files you trust")


def _add_score_parser(sub) -> None:
    score = sub.add_parser("score", help="score every frame of a video, folder, camera or stream with a saved model",
                           epilog=_SCORE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Score footage frame by frame in bounded memory (see pyvad.streaming).")
    score.add_argument("input", help="video file, frame folder, camera index (0, 1 ...) or rtsp:// / http:// URL")
    score.add_argument("--model", required=True, help="model file written by `pyvad fit` or det.save()")
    score.add_argument("--output", help="CSV file to write (default: <input name>_scores.csv)")
    score.add_argument("--json", help="JSON summary to write (default: the CSV path with .json)")
    score.add_argument("--overlay", help="also write an annotated video (.mp4, .avi) with heat map and score curve")
    score.add_argument("--device", help="override the model's device")
    _add_trust_option(score)
    threshold = score.add_mutually_exclusive_group()
    threshold.add_argument("--threshold", type=float,
                           help="score above which a frame is abnormal (default: the model's contamination threshold)")
    threshold.add_argument("--quantile", type=float,
                           help="threshold at this quantile of the training-frame scores, e.g. 0.995")
    score.add_argument("--min-alert-frames", type=int, default=1,
                       help="consecutive abnormal frames before an alert starts (default: %(default)s)")
    score.add_argument("--smoothing", choices=("auto", "centred", "causal"), default="auto",
                       help="centred = identical to offline scoring; causal = no look-ahead, lower latency "
                            "(default auto: centred for files and folders, causal for cameras and URLs)")
    score.add_argument("--hop", type=int, default=16,
                       help="frames scored per window: lower = less latency, more work (default: %(default)s)")
    score.add_argument("--fps", type=float, help="frame rate, overriding the source's (timestamps, overlay)")
    score.add_argument("--max-frames", type=int, help="stop after this many frames (cameras never end)")
    score.set_defaults(func=_cmd_score)


def _add_evaluate_parser(sub) -> None:
    evaluate = sub.add_parser("evaluate", help="frame AUC/EER/AP (and RBDC/TBDC) on a benchmark's test split",
                              epilog=_EVALUATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                              description="Evaluate a saved model, or fit --method on the training split first.")
    evaluate.add_argument("--dataset", required=True, help="ped2, avenue, shanghaitech, ucsd_ped1, ubnormal, folder")
    evaluate.add_argument("--root", required=True, help="dataset folder")
    evaluate.add_argument("--model", help="saved model; without it, --method is fitted on the training split")
    _add_trust_option(evaluate)
    _add_method_options(evaluate, required=False)
    evaluate.add_argument("--no-regions", action="store_true",
                          help="skip RBDC/TBDC even when the model has score_maps and the dataset has masks")
    evaluate.add_argument("--json", help="also write the results to this JSON file")
    evaluate.set_defaults(func=_cmd_evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pyvad`` command.

    Returns
    -------
    argparse.ArgumentParser
        With the sub-commands ``fit``, ``score``, ``evaluate`` and ``demo``.
    """
    parser = _Parser(
        prog="pyvad", description="Video anomaly detection: fit on normal footage, score new footage."
    )
    parser.add_argument("--version", action="version", version=f"pyvad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_demo_parser(sub)
    _add_fit_parser(sub)
    _add_score_parser(sub)
    _add_evaluate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyvad`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a usage or input error (printed as one line
        ``pyvad: error: ...``), 130 when interrupted.
    """
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
