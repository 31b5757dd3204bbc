"""The best any fixed, non-negative member weighting could do on Ped2's test split: a ceiling, not a result.

    python benchmarks/ensemble_weight_ceiling.py [--presets fast ped2] [--step 0.01]
        [--replace MEMBER NPZ] [--output JSON]

Issue #11 asks the equal-weight ensemble for 99.6 micro AUC. The ensemble's score is a weighted
sum of its members' z-scored frame scores, so whatever statistics it uses, it is one point of
``sum_i w_i s_i`` with ``w_i >= 0`` (up to a constant, which no frame metric sees). This script
reads the members' stored test scores of ``run_all.py`` (``results/run_all/ped2_<member>_<preset>.npz``;
``--replace``: one member's from another ``.npz``), scales each to unit standard deviation, and
searches every weighting on a grid of the simplex for the highest micro AUC **using the test
labels**. (The ensemble's optional smoothing of the
combined score, off by default, is outside this family.) If even that maximum is under a bar, no
weighting of these members reaches it: equal weights, held-out statistics or weights chosen by
cross-validation included.

It prints, per preset, each member's micro AUC, the best weights and their micro and macro AUC,
and the equal-weight score of this scaling for reference. Nothing here chooses anything for
the library.
"""

from __future__ import annotations

import argparse
import itertools
import warnings
from pathlib import Path

import numpy as np
from _common import default_ped2_root, write_result
from ensemble_swap_member import MEMBERS, stacked
from run_all import RUN_DIR, run_name
from sklearn.exceptions import UndefinedMetricWarning

from pyvad.datasets import load_dataset
from pyvad.metrics import macro_auc, micro_auc


def simplex_grid(n_members: int, step: float) -> np.ndarray:
    """Every weight vector with entries in multiples of ``step`` that sum to 1: (n, n_members)."""
    ticks = round(1 / step)
    rows = [(*head, ticks - sum(head)) for head in itertools.product(range(ticks + 1), repeat=n_members - 1)
            if sum(head) <= ticks]
    return np.array(rows, dtype=np.float64) / ticks


def per_video(flat: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    return np.split(flat, np.cumsum(lengths)[:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--presets", nargs="+", default=["fast", "ped2"])
    parser.add_argument("--step", type=float, default=0.01, help="grid step of the weights (default: %(default)s)")
    parser.add_argument("--replace", nargs=2, metavar=("MEMBER", "NPZ"),
                        help="take this member's test scores from NPZ (e.g. an earlier model's) instead of the run's")
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/ensemble_weight_ceiling.json)")
    args = parser.parse_args()
    if args.replace and args.replace[0] not in MEMBERS:
        parser.error(f"--replace: MEMBER must be one of {', '.join(MEMBERS)}, got {args.replace[0]!r}")
    replaced = dict([args.replace]) if args.replace else {}
    warnings.simplefilter("ignore", UndefinedMetricWarning)  # Ped2 has all-abnormal test videos
    _, test = load_dataset("ped2", args.root)
    lengths = [len(labels) for labels in test.frame_labels]
    weights = simplex_grid(len(MEMBERS), args.step)
    rows = {}
    for preset in args.presets:
        sources = {member: Path(replaced.get(member, RUN_DIR / f"{run_name('ped2', member, preset)}.npz"))
                   for member in MEMBERS}
        scores = np.column_stack([stacked(sources[member], list(test.names)) for member in MEMBERS])
        unit = scores / scores.std(axis=0)
        aucs = np.array([micro_auc(test.frame_labels, per_video(unit @ w, lengths)) for w in weights])
        best = weights[int(aucs.argmax())]
        combined = per_video(unit @ best, lengths)
        equal = per_video(unit.mean(axis=1), lengths)
        rows[preset] = {
            "scores": {member: str(path) for member, path in sources.items()},
            "member_micro_auc": {m: micro_auc(test.frame_labels, per_video(scores[:, i], lengths)) for i, m in enumerate(MEMBERS)},
            "best_weights": dict(zip(MEMBERS, best.tolist())),
            "best_micro_auc": float(aucs.max()),
            "macro_auc_at_best": macro_auc(test.frame_labels, combined),
            "equal_weights_unit_scale_micro_auc": micro_auc(test.frame_labels, equal),
        }
        row = rows[preset]
        print(f"{preset}: members " + ", ".join(f"{m} {100 * a:.2f}" for m, a in row["member_micro_auc"].items())
              + f" | best weights ({', '.join(f'{m} {w:.2f}' for m, w in row['best_weights'].items())}): "
              f"micro {100 * row['best_micro_auc']:.2f}, macro {100 * row['macro_auc_at_best']:.2f}"
              f" | equal weights on unit scales: {100 * row['equal_weights_unit_scale_micro_auc']:.2f}", flush=True)
    write_result("ensemble_weight_ceiling", {"step": args.step, "weightings": len(weights), "presets": rows,
                                             "uses_test_labels": True}, args.output)


if __name__ == "__main__":
    main()
