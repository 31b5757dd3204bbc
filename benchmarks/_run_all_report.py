"""Tables and plots of ``run_all.py``, rebuilt from the JSON and score files on disk."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from _common import REPO, machine_name

PLOTS_DIR = REPO / "benchmarks" / "plots"
DATASET_ORDER = ("ped2", "avenue", "shanghaitech", "ubnormal")
METHOD_ORDER = ("ensemble_cv", "ensemble", "ensemble_train", "pkgnet", "cafe", "maskedae", "baseline")
CLASS_NAMES = {
    "ensemble_cv": "DetectorEnsemble + cross_validated_weights",
    "ensemble": "DetectorEnsemble(cafe, pkgnet, maskedae)",
    "ensemble_train": "DetectorEnsemble(..., statistics=\"training\")",
    "pkgnet": "PKGNetDetector",
    "cafe": "CAFEDetector",
    "maskedae": "MaskedAEDetector",
    "baseline": "MotionBaselineDetector",
}
# Papers' frame-level AUCs (micro, macro), in %: CAFE Table 2, PKG-Net Table 5, AED-MAE Table 1.
PAPER_AUC: dict[tuple[str, str], tuple[float | None, float | None]] = {
    ("ped2", "cafe"): (98.3, None), ("avenue", "cafe"): (90.7, None), ("shanghaitech", "cafe"): (75.8, None),
    ("ped2", "pkgnet"): (99.5, None), ("avenue", "pkgnet"): (93.8, None), ("shanghaitech", "pkgnet"): (80.2, None),
    ("ped2", "maskedae"): (95.4, 98.4), ("avenue", "maskedae"): (91.3, 90.9),
    ("shanghaitech", "maskedae"): (79.1, 84.7), ("ubnormal", "maskedae"): (58.5, 81.4),
}
# What differs from the paper's setting in a run of the fast preset (beyond the teacher weights,
# which each JSON records).
FAST_DIFFERENCES = {
    "cafe": "8 of 50 epochs on 16k objects, student widths 16-128 (paper 64-512), 64 px teacher input, "
            "bf16 on CPUs with bf16 instructions (paper float32)",
    "pkgnet": "15 of 120 epochs (all objects), 8-channel student (paper 64)",
    "maskedae": "40x80 input (paper 80x160), encoder 128 / decoder 64 wide, 10 + 4 of 100 + 40 epochs, "
                "frames t-3, t, t+3 stacked (released code), synthetic anomalies without UBnormal",
    "baseline": "weight-free floor, not a paper method",
}
# What differs from the paper in a run of the paper's preset (beyond the teacher weights).
PAPER_DIFFERENCES = {
    "cafe": "paper schedule (50 epochs, student widths 64-512), teacher input 128 px",
    "pkgnet": "paper schedule (120 epochs, width 64)",
    "maskedae": "paper preset; synthetic anomalies without UBnormal",
}
# Where an ensemble row's z-score statistics came from (its JSON's ``statistics``).
STATISTICS = {"cross_fit": "z-scored with held-out training videos (2-fold cross-fit)",
              "training": "z-scored with their own training frames"}
RESULTS_BEGIN, RESULTS_END = "<!-- run_all:begin -->", "<!-- run_all:end -->"
README_BEGIN, README_END = "<!-- results-table:begin -->", "<!-- results-table:end -->"


def load_runs(run_dir: Path) -> list[dict[str, Any]]:
    """Every run's JSON, ordered by data set, method and preset."""
    runs = [json.loads(path.read_text()) for path in sorted(run_dir.glob("*.json")) if path.name != "last_run.json"]

    def key(run: dict[str, Any]) -> tuple[int, int, bool]:
        dataset = DATASET_ORDER.index(run["dataset"]) if run["dataset"] in DATASET_ORDER else len(DATASET_ORDER)
        return dataset, METHOD_ORDER.index(run["method"]), run["preset"] == "fast"

    return sorted(runs, key=key)


def _pct(value: Any) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _paper(dataset: str, method: str) -> str:
    micro, macro = PAPER_AUC.get((dataset, method), (None, None))
    if micro is None:
        return "–"
    return f"{micro:.1f}" + (f" / {macro:.1f}" if macro is not None else "")


def _fitted_where(run: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """Where a model loaded with ``--use-fitted`` was fitted ('' when fitted in the run itself).

    A run's ``fit_where`` (added to its JSON by hand, for a fit that a lease's end moved from one
    machine to another) wins. An ensemble's fit time is the sum of its reused members' fits (and,
    with held-out statistics, of its own fold fits): it names the machines those members were
    fitted on (``members_fitted_on``, recorded when the ensemble ran; for older runs, looked up
    in the members' current rows of ``runs``).
    """
    if "fit_where" in run:
        return f" {run['fit_where']}"
    machine = run.get("fitted_on")
    if machine is not None:
        return f" on {machine_name(machine)}"
    places = run.get("members_fitted_on")
    if places is None:
        members = [r for r in runs if r["dataset"] == run["dataset"] and r["preset"] == run["preset"]
                   and r["method"] in run.get("members_reused", ())]
        places = sorted({machine_name(r["fitted_on"]) for r in members if "fitted_on" in r})
    if not places:
        return ""
    own = " and its own cross-fit folds" if run.get("statistics") == "cross_fit" else ""
    return f" (members' fits, on {' and '.join(places)}{own})"


def results_section(runs: list[dict[str, Any]], run_dir: Path) -> str:
    """The RESULTS.md section: one full table per data set, machine and date per run."""
    last = json.loads((run_dir / "last_run.json").read_text()) if (run_dir / "last_run.json").exists() else {}
    lines = [RESULTS_BEGIN, "## Whole results table (`benchmarks/run_all.py`)", "",
             "    python benchmarks/run_all.py --fast        # generated section: do not edit by hand", ""]
    if last:
        m = last["machine"]
        bf16 = {True: ", bf16 in hardware", False: ", no bf16 in hardware"}.get(m.get("cpu_native_bf16"), "")
        lines += [f"Last invocation: {m['date']}, {m['cpu']} ({m['cpu_cores']} cores{bf16}{', ' + m['gpu'] if 'gpu' in m else ''}), "
                  f"torch {m['torch']}; {len(last['runs']) - len(last['failed'])}/{len(last['runs'])} runs succeeded "
                  f"in {last['total_seconds'] / 60:.1f} min" + (f"; failed: {', '.join(last['failed'])}" if last["failed"] else "")
                  + ".", ""]
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_dataset[run["dataset"]].append(run)
    for dataset, rows in by_dataset.items():
        lines += [f"### {dataset}", "",
                  "| method | preset | micro AUC | macro AUC | EER | RBDC | TBDC | fit (s) | scoring fps | peak RSS (MB) "
                  "| paper micro / macro | weights | date, load before→after |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            load = f"{r['load_average_before'][0]:.1f}→{r['load_average_after'][0]:.1f}"
            lines.append(
                f"| {r['method']} | {r['preset']} | {_pct(r['micro_auc'])} | {_pct(r.get('macro_auc'))} | {_pct(r['eer'])} "
                f"| {_pct(r.get('rbdc'))} | {_pct(r.get('tbdc'))} | {r['fit_seconds']:.0f}{_fitted_where(r, runs)} "
                f"| {r['scoring_fps']:.1f} | {r['peak_rss_mb']:.0f} | {_paper(dataset, r['method'])} | {r['weights']} "
                f"| {r['machine']['date'][:16]}, {load} |")
        lines.append("")
    lines += ["AUC, EER, RBDC and TBDC in %. Scoring fps include extraction of the test videos; fit time includes",
              "extraction of the training videos. Each run is a separate process (its own peak RSS). A fit time",
              "'on <GPU>' is a model fitted there with `--fit-only` and scored here with `--use-fitted`. CAFE's `fast`",
              "preset trains and scores in bf16 where the CPU has bf16 instructions (`amp=\"auto\"`).",
              RESULTS_END]
    return "\n".join(lines)


def readme_table(runs: list[dict[str, Any]]) -> str:
    """The README's compact table: our micro / macro AUC beside the paper's, with the differences."""
    lines = [README_BEGIN, "| data set | detector | preset | objects | ours: micro / macro AUC | paper | fit, scoring speed | "
             "differences from the paper |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        objects = "whole frames" if r["method"] in ("maskedae", "baseline") else r["foreground"]
        if r["method"].startswith("ensemble"):
            objects += " + whole frames"  # AED-MAE is a member
        differences = _differences(r)
        if not r["weights"].startswith("none"):
            differences += f"; weights: {r['weights']}"
        lines.append(
            f"| {r['dataset']} | `{CLASS_NAMES[r['method']]}` | {r['preset']} | {objects} "
            f"| {_pct(r['micro_auc'])} / {_pct(r.get('macro_auc'))} | {_paper(r['dataset'], r['method'])} "
            f"| {r['fit_seconds'] / 60:.1f} min{_fitted_where(r, runs)}, {r['scoring_fps']:.0f} fps | {differences} |")
    lines.append(README_END)
    return "\n".join(lines)


def _differences(run: dict[str, Any]) -> str:
    """What differs from the papers' setting in one run (an ensemble's: its weights and statistics)."""
    fast = run["preset"] in ("fast", "default")
    if not run["method"].startswith("ensemble"):
        return (FAST_DIFFERENCES if fast else PAPER_DIFFERENCES)[run["method"]]
    members = f"{'fast' if fast else 'paper-preset'} members {STATISTICS[run['statistics']]}"
    if run["method"] == "ensemble_cv":
        return ("uses test labels: weights per video chosen on the other test videos (nested leave-videos-out CV), "
                f"on {members}")
    return f"equal weights on {members}"


def replace_between(path: Path, begin: str, end: str, block: str, *, append_if_missing: bool) -> None:
    """Replace the text from ``begin`` to ``end`` (markers included) by ``block``."""
    text = path.read_text()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif append_if_missing:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        raise SystemExit(f"{path}: markers {begin} / {end} not found")
    path.write_text(text)


def write_plots(runs: list[dict[str, Any]], run_dir: Path, n_videos: int = 4) -> list[Path]:
    """Per data set: score curves of every method on the first test videos, and ROC curves."""
    from pyvad.datasets import load_dataset
    from pyvad.viz import plot_roc_curves, plot_score_curves

    written = []
    datasets = sorted({r["dataset"] for r in runs})
    for dataset in datasets:
        rows = [r for r in runs if r["dataset"] == dataset]
        scores = {}
        for r in rows:
            path = run_dir / f"{dataset}_{r['method']}_{r['preset']}.npz"
            if path.exists():
                with np.load(path) as data:
                    scores[f"{r['method']} ({r['preset']})"] = [data[name] for name in data.files]
        if not scores:
            continue
        labels = _test_labels(dataset, rows[0], load_dataset)
        if labels is None:
            continue
        PLOTS_DIR.mkdir(parents=True, exist_ok=True)
        frame_labels, names = labels
        # the first test videos with both normal and abnormal frames (all-abnormal ones show little)
        shown = [i for i, y in enumerate(frame_labels) if 0 < np.mean(y) < 1][:n_videos]
        written.append(plot_score_curves({k: [v[i] for i in shown] for k, v in scores.items()}, PLOTS_DIR / f"{dataset}_scores.png",
                                         labels=[frame_labels[i] for i in shown], names=[names[i] for i in shown],
                                         title=f"{dataset}: frame scores of {len(shown)} test videos with normal and abnormal frames"))
        written.append(plot_roc_curves(labels[0], scores, PLOTS_DIR / f"{dataset}_roc.png", title=f"{dataset}: frame-level ROC"))
    return written


def _test_labels(dataset: str, run: dict[str, Any], load_dataset: Any) -> tuple[list[np.ndarray], list[str]] | None:
    """Test frame labels and names of ``dataset`` from the root recorded in the run, if still on disk."""
    root = run.get("root")
    if root is None or not Path(root).is_dir():
        print(f"plots: {dataset} root not found ({root}); skipped")
        return None
    _, test = load_dataset(dataset, root)
    return test.frame_labels, test.names


def write_reports(run_dir: Path) -> None:
    """Regenerate the RESULTS.md section, the README table and the plots."""
    runs = load_runs(run_dir)
    if not runs:
        print(f"no run results in {run_dir}")
        return
    replace_between(REPO / "benchmarks" / "RESULTS.md", RESULTS_BEGIN, RESULTS_END, results_section(runs, run_dir),
                    append_if_missing=True)
    replace_between(REPO / "README.md", README_BEGIN, README_END, readme_table(runs), append_if_missing=False)
    for path in write_plots(runs, run_dir):
        print(f"wrote {path}")
    print("updated benchmarks/RESULTS.md and README.md")
