"""Reproduce the results table: every method and the ensemble on every dataset on disk.

    python benchmarks/run_all.py --fast                 # Ped2 (../shared/data/ped2), fast presets
    python benchmarks/run_all.py                        # fast and paper presets (paper ones need a GPU)
    python benchmarks/run_all.py --avenue PATH --shanghaitech PATH --ubnormal PATH
    python benchmarks/run_all.py --report-only          # rebuild tables and plots from the JSON

    # fit on a GPU machine that holds only the training videos, evaluate elsewhere:
    python benchmarks/run_all.py --paper-only --fit-only --methods cafe,pkgnet,maskedae   # on the GPU
    # copy benchmarks/results/run_all/models/ (models and *.fit.json) back, then
    python benchmarks/run_all.py --paper-only --use-fitted --methods cafe,pkgnet,maskedae,ensemble

Each (dataset, method, preset) runs in its own process (so its peak memory is its own and a
crash does not stop the others) and writes ``benchmarks/results/run_all/<dataset>_<method>_<preset>.json``
plus its per-video test scores (``.npz``, for the plots). Then the summary is regenerated from
all JSON files on disk: the section of ``benchmarks/RESULTS.md`` between the ``run_all`` markers,
the results table of ``README.md``, and ``benchmarks/plots/<dataset>_{scores,roc}.png``.

Protocol: every detector trains on the normal training videos only; test labels compute the
metrics and nothing else. The ensembles use equal weights on members z-scored with their
scores of held-out training videos (``ensemble``, ``DetectorEnsemble``'s default: 2-fold
cross-fitting) or of their own training videos (``ensemble_train``): no labels. The
``ensemble_cv`` row uses labels (nested leave-videos-out weights).
Object-level methods use the VEC authors' released boxes when ``<root>/boxes_vec`` exists
(the papers' kind of object detector), else the weight-free ``MotionForeground``. Fit time
includes extraction of the training videos; scoring frames/s includes extraction of the test
videos; RBDC/TBDC need pixel masks and are computed afterwards (not timed).

The method rows save their fitted models (``run_all/models/<run>.pyvad``, not committed); the
ensemble rows of the same invocation load those members frozen instead of fitting them again,
and report as fit time their own plus the members' fit times. ``ensemble`` still fits fresh
clones of every member on the folds of training videos for its held-out statistics.

``--fit-only`` fits and saves the method rows' models with a ``<run>.fit.json`` record (fit time,
the machine, and frames/s of scoring the training videos there) and needs only the training
videos; ``--use-fitted`` then loads those models instead of fitting, and its JSON reports the
recorded fit time and machine beside the scoring machine (``fitted_on``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS_DIR, default_ped2_root, machine, machine_name, mean_std, peak_rss_mb, write_result

RUN_DIR = RESULTS_DIR / "run_all"
MODEL_DIR = RUN_DIR / "models"
DATASETS = ("ped2", "avenue", "shanghaitech", "ubnormal")
METHODS = ("baseline", "cafe", "pkgnet", "maskedae", "ensemble", "ensemble_train")
ENSEMBLE_MEMBERS = ("cafe", "pkgnet", "maskedae")
OBJECT_METHODS = ("cafe", "pkgnet", "ensemble", "ensemble_train")  # methods (or members) that crop object boxes
# Presets that exist per method ("fast" everywhere, the paper's per data set otherwise).
PAPER_PRESETS = {
    "cafe": ("ped2", "avenue", "shanghaitech"),
    "pkgnet": ("ped2", "avenue", "shanghaitech"),
    "maskedae": ("ped2", "avenue", "shanghaitech", "ubnormal"),
}


def run_name(dataset: str, method: str, preset: str) -> str:
    return f"{dataset}_{method}_{preset}"


def paper_preset(method: str, dataset: str) -> str | None:
    """The method's preset with the paper's settings for ``dataset``, if there is one."""
    if method.startswith("ensemble"):
        return dataset if all(dataset in PAPER_PRESETS[m] for m in ENSEMBLE_MEMBERS) else None
    return dataset if dataset in PAPER_PRESETS.get(method, ()) else None


def planned_runs(datasets: list[str], methods: list[str], fast: bool = True, paper: bool = True) -> list[tuple[str, str, str]]:
    """(dataset, method, preset) to run: the fast preset and/or the paper's where the method has one."""
    runs = []
    for dataset in datasets:
        for method in methods:
            if method == "baseline":
                runs.append((dataset, method, "default"))
                continue
            if fast:
                runs.append((dataset, method, "fast"))
            preset = paper_preset(method, dataset)
            if paper and preset is not None:
                runs.append((dataset, method, preset))
    return runs


# ----------------------------------------------------------------------------- one run (child process)


def vec_boxes(dataset: str, root: Path) -> dict[str, Any] | None:
    """The VEC authors' boxes of both splits, when ``<root>/boxes_vec`` exists."""
    from pyvad.datasets import load_vec_boxes

    return load_vec_boxes(dataset, root) if (root / "boxes_vec").is_dir() else None


def build_detector(method: str, preset: str, boxes: dict[str, Any] | None, seed: int,
                   fitted_members: dict[str, Any] | None = None) -> Any:
    """The detector of one run; object-level methods crop ``boxes`` when given (else their default foreground).

    Ensemble members found in ``fitted_members`` are used as fitted (frozen); the others are built here.
    """
    from pyvad import CAFEDetector, MaskedAEDetector, MotionBaselineDetector, PKGNetDetector
    from pyvad.foreground import PrecomputedBoxes
    from pyvad.methods.pkgnet import OFFSETS

    if method == "baseline":
        return MotionBaselineDetector()
    if method == "cafe":
        extractor = PrecomputedBoxes(boxes, match="name", offsets=(-1, 0, 1)) if boxes else None
        return CAFEDetector(preset, extractor=extractor, random_state=seed)
    if method == "pkgnet":
        extractor = PrecomputedBoxes(boxes, match="name", offsets=OFFSETS, patch_size=32) if boxes else None
        return PKGNetDetector(preset, extractor=extractor, random_state=seed)
    if method == "maskedae":
        return MaskedAEDetector(preset, random_state=seed)
    if method in ("ensemble", "ensemble_train"):
        from sklearn.frozen import FrozenEstimator

        from pyvad.ensemble import DetectorEnsemble

        fitted_members = fitted_members or {}
        members = [(name, FrozenEstimator(fitted_members[name]) if name in fitted_members
                    else build_detector(name, preset, boxes, seed)) for name in ENSEMBLE_MEMBERS]
        return DetectorEnsemble(members, **({"statistics": "training"} if method == "ensemble_train" else {}))
    raise ValueError(f"unknown method {method!r}")


def describe_weights(detector: Any) -> str:
    """Teacher / weights actually used (offline substitutes named), from the fitted config."""
    if hasattr(detector, "detectors"):
        return "; ".join(f"{name}: {describe_weights(getattr(member, 'estimator', member))}"
                         for name, member in detector.detectors_.items())
    config = getattr(detector, "config_", {})
    if "teacher" in config:
        return f"{config['teacher']} ({config.get('teacher_weights')})"
    return "none (trained from scratch)" if config else "none (weight-free)"


def score_test(detector: Any, videos: list, with_maps: bool) -> tuple[list[np.ndarray], float, Any, Any]:
    """Frame scores of the test videos, their wall time, pixel maps when asked (not timed) and,
    for the ensemble, its members' scores (from the same pass)."""
    from pyvad.fusion import FusedDetectorMixin

    start = time.perf_counter()
    table = members = None
    if isinstance(detector, FusedDetectorMixin):
        table = detector.transform(videos)
        scores = detector.fusion_.score_frames(table)
    elif hasattr(detector, "member_scores"):
        members = detector.member_scores(videos)
        scores = detector.combine(members)
    else:
        scores = detector.score_frames(videos)
    seconds = time.perf_counter() - start
    maps = None
    if with_maps and hasattr(detector, "score_maps"):
        maps = detector.score_maps(table if table is not None and table.level == "event" else videos)
    return scores, seconds, maps, members


def evaluate_scores(test: Any, scores: list[np.ndarray], maps: Any = None) -> dict[str, float]:
    """Frame metrics, plus RBDC/TBDC when pixel maps are given."""
    from sklearn.exceptions import UndefinedMetricWarning

    from pyvad.metrics import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # Ped2 has all-abnormal test videos
        if maps is None:
            return evaluate(test.frame_labels, scores)
        return evaluate(test.frame_labels, scores, masks_true=test.masks, maps_pred=maps)


def write_run(name: str, test: Any, scores: list[np.ndarray], result: dict[str, Any]) -> Path:
    """A run's JSON and its per-video test scores (``.npz``, for the plots)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(RUN_DIR / f"{name}.npz", **{video: s for video, s in zip(test.names, scores)})
    return write_result(name, result, RUN_DIR / f"{name}.json")


def member_statistics(ensemble: Any) -> dict[str, Any]:
    """The statistics an ensemble used, its members' z-score mean and scale, and (label-free
    diagnostic) the same of each member's scores of its own training frames."""
    own = {name: mean_std(member.training_frame_scores_)
           for name, member in ensemble.detectors_.items() if getattr(member, "training_frame_scores_", None) is not None}
    used = {name: [float(mean), float(scale)] for name, mean, scale in zip(ensemble.detectors_, ensemble.mean_, ensemble.scale_)}
    return {"statistics": ensemble.statistics_, "member_mean_scale": used, "member_own_training_mean_std": own}


def cross_validated_row(detector: Any, members: dict, test: Any, base: dict[str, Any]) -> None:
    """The label-using ensemble row: weights chosen by nested leave-videos-out CV on the test videos."""
    from pyvad.ensemble import cross_validated_weights

    result = cross_validated_weights(detector, members, test.frame_labels)
    row = {**base, "method": "ensemble_cv", **evaluate_scores(test, result.frame_scores),
           "fold_weights": result.fold_weights, "fold_videos": [v.tolist() for v in result.fold_videos],
           "protocol": "weights chosen per outer fold (4 folds of test videos) by GridSearchCV over the other "
                       "videos (3 inner folds); every video scored with weights not tuned on its labels"}
    write_run(run_name(base["dataset"], "ensemble_cv", base["preset"]), test, result.frame_scores, row)


def model_path(dataset: str, method: str, preset: str) -> Path:
    return MODEL_DIR / f"{run_name(dataset, method, preset)}.pyvad"


def fit_record_path(dataset: str, method: str, preset: str) -> Path:
    return MODEL_DIR / f"{run_name(dataset, method, preset)}.fit.json"


def fit_timed(detector: Any, videos: list) -> float:
    """Fit ``detector`` on ``videos``; the wall time in seconds."""
    start = time.perf_counter()
    detector.fit(videos)
    return time.perf_counter() - start


def save_model(detector: Any, dataset: str, method: str, preset: str) -> None:
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    detector.save(model_path(dataset, method, preset))


def training_split(dataset: str, root: Path) -> Any:
    """The training videos, named as :func:`pyvad.datasets.load_dataset` names them. For the
    frame-folder benchmarks (Ped2, Avenue, ShanghaiTech) the test split need not be on disk."""
    from pyvad.datasets import _benchmark_train_sources, _train_split, load_dataset

    if dataset in ("ped2", "avenue", "shanghaitech") and (root / "training").is_dir():
        return _train_split(dataset, _benchmark_train_sources(dataset, root))
    return load_dataset(dataset, root)[0]


def with_checkpoints(detector: Any, directory: Path) -> None:
    """Have ``detector`` write its training checkpoints under ``directory`` and resume from them.

    A fit cut short (a GPU lease ending) then continues where it stopped when run again, on
    any device. PKG-Net takes the Trainer's arguments as parameters, the others through
    ``trainer_params``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    settings = {"checkpoint_dir": str(directory), "resume": True}
    params = detector.get_params(deep=False)
    if "checkpoint_dir" in params:
        detector.set_params(**settings)
    else:
        detector.set_params(trainer_params={**(params.get("trainer_params") or {}), **settings})


def fit_and_save(dataset: str, method: str, preset: str, root: Path, seed: int, threads: int | None,
                 checkpoint_dir: Path | None = None) -> Path:
    """Fit one method row on the training videos, save it, and record the fit (``--fit-only``).

    The record also times scoring the training videos on this machine (extraction included):
    the only scoring speed measurable where the test videos are absent. With ``checkpoint_dir``
    the fit checkpoints every epoch into ``checkpoint_dir/<run>`` and resumes from there.
    """
    import torch

    from pyvad.training import resolve_device

    if threads:
        torch.set_num_threads(threads)
    train = training_split(dataset, root)
    detector = build_detector(method, preset, vec_boxes(dataset, root), seed)
    if "verbose" in detector.get_params(deep=False):
        detector.set_params(verbose=2)  # per-epoch progress in the log: a fit stopped by a lease's end shows how far it got
    if checkpoint_dir is not None:
        with_checkpoints(detector, checkpoint_dir / run_name(dataset, method, preset))
    fit_seconds = fit_timed(detector, train.videos)
    save_model(detector, dataset, method, preset)
    start = time.perf_counter()
    detector.score_frames(train.videos)
    scoring_seconds = time.perf_counter() - start
    record = {
        "run": run_name(dataset, method, preset),
        "detector": repr(detector),
        "weights": describe_weights(detector),
        "device": str(resolve_device(getattr(detector, "device", "cpu"))),
        "train_frames": train.n_frames,
        "fit_seconds": fit_seconds,
        "training_videos_scoring_fps": train.n_frames / scoring_seconds,
        "peak_rss_mb": peak_rss_mb(),
    }
    return write_result("run_all_fit", record, fit_record_path(dataset, method, preset))


def load_fitted(dataset: str, method: str, preset: str) -> tuple[Any, dict[str, Any]] | None:
    """A model saved by ``--fit-only`` and its fit record, when both exist (``--use-fitted``)."""
    import pyvad

    model, record = model_path(dataset, method, preset), fit_record_path(dataset, method, preset)
    if not (model.is_file() and record.is_file()):
        return None
    return pyvad.load(model), json.loads(record.read_text())


def load_members(dataset: str, preset: str, names: list[str]) -> tuple[dict[str, Any], float, list[str]]:
    """Saved member models (of this invocation's method rows, or of ``--fit-only`` with
    ``--use-fitted``), the sum of their fit times, and the machines they were fitted on."""
    import pyvad

    members, seconds, places = {}, 0.0, set()
    for name in names:
        members[name] = pyvad.load(model_path(dataset, name, preset))
        record = fit_record_path(dataset, name, preset)  # fitted by --fit-only, else by a method row
        if not record.is_file():
            record = RUN_DIR / f"{run_name(dataset, name, preset)}.json"
        fit = json.loads(record.read_text())
        seconds += fit["fit_seconds"]
        places.add(machine_name(fit.get("fitted_on", fit["machine"])))  # a row scored elsewhere names its fitting machine
    return members, seconds, sorted(places)


def run_one(dataset: str, method: str, preset: str, root: Path, seed: int, threads: int | None,
            reuse: list[str] = (), use_fitted: bool = False) -> Path:
    """Fit, score and evaluate one configuration; write its JSON and test scores.

    ``reuse`` names ensemble members whose models this invocation's method rows saved;
    ``use_fitted`` loads a method row's model saved by ``--fit-only`` instead of fitting it.
    """
    import torch

    from pyvad.datasets import load_dataset

    if threads:
        torch.set_num_threads(threads)
    train, test = load_dataset(dataset, root)
    boxes = vec_boxes(dataset, root)
    fitted_members, member_seconds, member_places = load_members(dataset, preset, list(reuse))
    fitted = load_fitted(dataset, method, preset) if use_fitted and method in ENSEMBLE_MEMBERS else None
    load_before = os.getloadavg()
    if fitted is not None:
        detector, fit_record = fitted
        own_fit_seconds = fit_record["fit_seconds"]
    else:
        detector, fit_record = build_detector(method, preset, boxes, seed, fitted_members), None
        own_fit_seconds = fit_timed(detector, train.videos)
        if method in ENSEMBLE_MEMBERS:
            save_model(detector, dataset, method, preset)
    fit_seconds = own_fit_seconds + member_seconds
    with_maps = test.masks is not None and all(mask is not None for mask in test.masks)
    scores, score_seconds, maps, members = score_test(detector, test.videos, with_maps)
    metrics = evaluate_scores(test, scores, maps)
    result = {
        "dataset": dataset,
        "root": str(root),
        "method": method,
        "preset": preset,
        "detector": repr(detector),
        "weights": describe_weights(detector),
        "foreground": "VEC boxes" if boxes is not None and method in OBJECT_METHODS else "detector default",
        "train_frames": train.n_frames,
        "test_frames": test.n_frames,
        **metrics,
        "fit_seconds": fit_seconds,
        **({"members_reused": list(reuse), "members_fitted_on": member_places, "fit_seconds_own": own_fit_seconds}
           if reuse else {}),
        **({"fitted_on": fit_record["machine"], "fit_record": fit_record} if fit_record else {}),
        **(member_statistics(detector) if hasattr(detector, "statistics_") else {}),
        "scoring_fps": test.n_frames / score_seconds,
        "peak_rss_mb": peak_rss_mb(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    if members is not None:  # the label-using row is made once, beside the plain ensemble
        result["member_micro_auc"] = {name: evaluate_scores(test, values)["micro_auc"] for name, values in members.items()}
        if method == "ensemble":
            cross_validated_row(detector, members, test, {k: v for k, v in result.items() if k not in metrics})
    return write_run(run_name(dataset, method, preset), test, scores, result)


# ----------------------------------------------------------------------------- orchestration


def run_child(dataset: str, method: str, preset: str, root: Path, args: argparse.Namespace,
              reuse: list[str] = ()) -> bool:
    """Run one configuration in a fresh interpreter; True when it succeeded."""
    command = [sys.executable, __file__, "--one", dataset, method, preset, "--root-of-one", str(root),
               "--seed", str(args.seed)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if reuse:
        command += ["--reuse", ",".join(reuse)]
    command += [flag for flag, on in (("--fit-only", args.fit_only), ("--use-fitted", args.use_fitted)) if on]
    if args.checkpoint_dir:
        command += ["--checkpoint-dir", args.checkpoint_dir]
    print(f"== {run_name(dataset, method, preset)}", flush=True)
    start = time.perf_counter()
    completed = subprocess.run(command, check=False)
    print(f"   {'done' if completed.returncode == 0 else 'FAILED'} in {time.perf_counter() - start:.0f} s", flush=True)
    return completed.returncode == 0


def dataset_roots(args: argparse.Namespace) -> dict[str, Path]:
    """Data sets whose root exists (Ped2 defaults to ../shared/data/ped2)."""
    roots = {"ped2": Path(args.ped2), "avenue": args.avenue, "shanghaitech": args.shanghaitech, "ubnormal": args.ubnormal}
    return {name: Path(root) for name, root in roots.items() if root is not None and Path(root).is_dir()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fast presets only (CPU, minutes)")
    parser.add_argument("--paper-only", action="store_true", help="the papers' presets only (a GPU advised)")
    parser.add_argument("--fit-only", action="store_true",
                        help="only fit and save the method rows' models (needs only the training videos)")
    parser.add_argument("--use-fitted", action="store_true",
                        help="load the models saved by --fit-only instead of fitting the method rows")
    parser.add_argument("--checkpoint-dir",
                        help="with --fit-only: checkpoint every epoch under this folder and resume a fit found there")
    parser.add_argument("--ped2", default=str(default_ped2_root()), help="Ped2 root (default: %(default)s)")
    parser.add_argument("--avenue", help="Avenue root")
    parser.add_argument("--shanghaitech", help="ShanghaiTech root")
    parser.add_argument("--ubnormal", help="UBnormal root")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of %(default)s")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report-only", action="store_true", help="only rebuild tables and plots from the JSON")
    parser.add_argument("--one", nargs=3, metavar=("DATASET", "METHOD", "PRESET"), help=argparse.SUPPRESS)
    parser.add_argument("--root-of-one", help=argparse.SUPPRESS)
    parser.add_argument("--reuse", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.fast and args.paper_only:
        parser.error("--fast and --paper-only exclude each other")
    if args.checkpoint_dir and not args.fit_only:
        parser.error("--checkpoint-dir needs --fit-only")
    if args.one and args.fit_only:
        fit_and_save(*args.one, Path(args.root_of_one), args.seed, args.threads,
                     Path(args.checkpoint_dir) if args.checkpoint_dir else None)
        return
    if args.one:
        run_one(*args.one, Path(args.root_of_one), args.seed, args.threads, [n for n in args.reuse.split(",") if n],
                args.use_fitted)
        return
    from _run_all_report import write_reports

    if not args.report_only:
        roots = dataset_roots(args)
        if not roots:
            parser.error("no dataset folder found (give --ped2/--avenue/--shanghaitech/--ubnormal)")
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = sorted(set(methods) - set(METHODS))
        if unknown:
            parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
        runs = planned_runs(list(roots), methods, fast=not args.paper_only, paper=not args.fast)
        if args.fit_only:
            runs = [run for run in runs if run[1] in ENSEMBLE_MEMBERS]
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        failed, fitted = [], set()  # runs of this invocation that succeeded (their member models can be reused)
        for dataset, method, preset in runs:
            reuse = [m for m in ENSEMBLE_MEMBERS if (dataset, m, preset) in fitted
                     or (args.use_fitted and fit_record_path(dataset, m, preset).is_file())
                     ] if method.startswith("ensemble") else []
            if run_child(dataset, method, preset, roots[dataset], args, reuse):
                fitted.add((dataset, method, preset))
            else:
                failed.append((dataset, method, preset))
        total = time.perf_counter() - start
        print(f"{len(runs) - len(failed)}/{len(runs)} runs succeeded in {total / 60:.1f} min", flush=True)
        if args.fit_only:  # nothing was evaluated: the table and last_run.json stay as they are
            return
        (RUN_DIR / "last_run.json").write_text(json.dumps(
            {"machine": machine(), "runs": [run_name(*r) for r in runs], "failed": [run_name(*r) for r in failed],
             "total_seconds": total, "fast": args.fast}, indent=2) + "\n")
    write_reports(RUN_DIR)


if __name__ == "__main__":
    main()
