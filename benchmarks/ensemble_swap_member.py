"""An ensemble row of ``run_all.py`` recomputed with one member replaced, without refitting the others.

    python benchmarks/ensemble_swap_member.py MEMBER NEW_SCORES NEW_STATISTICS [--row ensemble_train]
        [--old-scores NPZ] [--preset ped2] [--output JSON]

``DetectorEnsemble(statistics="training")`` (default smoothing ``"none"``) scores a frame as ``sum_i w_i (s_i - mean_i) / scale_i``:
an affine function of its members' frame scores. ``run_all.py`` stores the test scores of the
ensemble and of every member (``.npz``) but not the members' training statistics, so this script

1. recovers the ensemble's coefficients ``w_i / scale_i`` and its constant by least squares from
   the stored scores, and stops unless the fit is exact (an ensemble that smooths is not affine,
   and once ``run_all.py`` has rerun the replaced member, ``--old-scores`` must name a copy of
   the scores the ensemble was built from);
2. replaces the coefficient of ``MEMBER`` by ``w / scale_new``. For the ``ensemble_train`` row
   (``DetectorEnsemble(statistics="training")``), ``scale_new`` is computed, as the ensemble does,
   from the new model's training-frame scores (``NEW_STATISTICS``, a saved detector). For the
   default, cross-fitted ``ensemble`` row it is the standard deviation of the new member's scores
   of training videos held out of its fold fits (``NEW_STATISTICS``, the JSON of
   ``maskedae_heldout_statistics.py --ensemble-folds``, which repeats the ensemble's 2-fold fits);
3. combines the stored scores of the other members with ``NEW_SCORES`` (the new member's test
   scores, a ``run_all.py`` ``.npz``) and evaluates the frame metrics.

Nothing here uses labels except the metrics. The result equals refitting the ensemble with the
other members frozen (``FrozenEstimator``) up to a constant, which no frame metric sees. RBDC and
TBDC are left out: pixel maps are not stored.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import default_ped2_root, write_result
from run_all import RUN_DIR, evaluate_scores, run_name

import pyvad
from pyvad.datasets import load_dataset
from pyvad.fusion import zscore_statistics

MEMBERS = ("cafe", "pkgnet", "maskedae")


def stacked(path: Path, names: list[str]) -> np.ndarray:
    """All videos' scores from a run's ``.npz``, in the order of ``names``."""
    stored = np.load(path)
    missing = sorted(set(names) - set(stored.files))
    if missing:
        raise SystemExit(f"{path} has no scores for test videos {missing}")
    return np.concatenate([stored[name] for name in names])


def affine_coefficients(members: np.ndarray, ensemble: np.ndarray) -> tuple[np.ndarray, float]:
    """``(constant, coefficient of each member)`` with ``ensemble == constant + members @ coefficients``.

    Raises ``SystemExit`` unless the fit is exact (the ensemble smooths or is not of these members).
    """
    design = np.column_stack([np.ones(len(ensemble)), members])
    coefficients = np.linalg.lstsq(design, ensemble, rcond=None)[0]
    residual = float(np.abs(design @ coefficients - ensemble).max())
    if residual > 1e-8 * float(ensemble.std()):
        raise SystemExit(f"the stored ensemble is not affine in its members (max residual {residual:.3g}): "
                         "it smooths, or its scores come from other members")
    return coefficients, residual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("member", choices=MEMBERS, help="the member to replace")
    parser.add_argument("new_scores", type=Path, help="the new member's test scores (.npz of run_all.py)")
    parser.add_argument("new_statistics", type=Path,
                        help="ensemble_train row: the new member's saved model (.pyvad); ensemble row: the JSON of "
                             "maskedae_heldout_statistics.py --ensemble-folds for it")
    parser.add_argument("--row", choices=["ensemble_train", "ensemble"], default="ensemble_train",
                        help="the ensemble row: training-frame statistics, or cross-fitted (default: %(default)s)")
    parser.add_argument("--old-scores", type=Path,
                        help="test scores of the member as it was in the ensemble (default: its run_all.py .npz)")
    parser.add_argument("--preset", default="ped2", help="run_all.py preset of the ensemble row (default: %(default)s)")
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="JSON path (default: benchmarks/results/ensemble_swap_<member>.json)")
    args = parser.parse_args()

    test = load_dataset("ped2", Path(args.root))[1]
    names = list(test.names)
    boundaries = np.cumsum([len(labels) for labels in test.frame_labels])[:-1]

    def per_video(flat: np.ndarray) -> list[np.ndarray]:
        return np.split(flat, boundaries)

    ensemble = stacked(RUN_DIR / f"{run_name('ped2', args.row, args.preset)}.npz", names)
    sources = {m: RUN_DIR / f"{run_name('ped2', m, args.preset)}.npz" for m in MEMBERS}
    if args.old_scores is not None:
        sources[args.member] = args.old_scores
    members = np.column_stack([stacked(sources[m], names) for m in MEMBERS])
    coefficients, residual = affine_coefficients(members, ensemble)
    weights = np.full(len(MEMBERS), 1.0 / len(MEMBERS))  # run_all's ensemble rows: equal weights
    old_scale = weights / coefficients[1:]

    if args.row == "ensemble_train":
        model = pyvad.load(args.new_statistics)
        new_scale, described = float(zscore_statistics(np.concatenate(model.training_frame_scores_))[1]), repr(model)
    else:
        folds = json.loads(args.new_statistics.read_text())
        new_scale, described = float(folds["pooled_held_out_mean_std"][1]), repr(folds.get("params"))
    position = MEMBERS.index(args.member)
    new_member = stacked(args.new_scores, names)
    swapped, swapped_coefficients = members.copy(), coefficients[1:].copy()
    swapped[:, position] = new_member
    swapped_coefficients[position] = weights[position] / new_scale

    result = {
        "dataset": "ped2",
        "preset": args.preset,
        "row": args.row,
        "replaced": args.member,
        "new_scores": str(args.new_scores),
        "new_statistics": str(args.new_statistics),
        "new_member": described,
        "recovery_max_residual": residual,
        "members_scale_recovered": dict(zip(MEMBERS, old_scale.tolist())),
        "new_member_scale": new_scale,
        "before": evaluate_scores(test, per_video(ensemble)),
        "after": evaluate_scores(test, per_video(swapped @ swapped_coefficients)),
        "new_member_alone": evaluate_scores(test, per_video(new_member)),
    }
    for row in ("before", "after", "new_member_alone"):
        print(f"{row:>17}: micro AUC {result[row]['micro_auc']:.4f}, macro AUC {result[row]['macro_auc']:.4f}, "
              f"EER {result[row]['eer']:.4f}")
    write_result(f"ensemble_swap_{args.member}", result, args.output)


if __name__ == "__main__":
    main()
