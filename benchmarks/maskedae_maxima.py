"""Where a fitted AED-MAE's frame maxima sit: on cells the fixed test mask hides, or on visible ones.

    python benchmarks/maskedae_maxima.py MODEL.pyvad [--root PED2] [--threads 2] [--output JSON]

No labels are read. For every frame of Ped2's training and test videos, each component map
(teacher error, teacher-student gap) is 3-D filtered as the detector does before its frame
maximum, and the arg-max cell is recorded. Prints, per split and component, the share of
frames whose maximum lies on a cell the test mask hides, and the most frequent arg-max cells.
A frame score that most frames take from the same hidden background cell cannot see an
object anywhere else unless it beats that cell.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch
from _common import default_ped2_root, write_result

import pyvad
from pyvad.datasets import load_dataset
from pyvad.methods.maskedae import video_component_maps


def arg_max_cells(detector, videos) -> dict[str, np.ndarray]:
    """Per map component, the flat index of each frame's arg-max cell, videos in order."""
    config = detector.config_

    def reduce(raw, events):
        maps = {name: values for name, values in raw.items() if np.ndim(values) == 3}
        filtered = video_component_maps(maps, events, config["filter_sigma_spatial"], config["filter_sigma_temporal"])[0]
        return {name: m.reshape(len(m), -1).argmax(axis=1) for name, m in filtered.items()}

    parts = list(detector._scored_videos(videos, reduce))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved MaskedAEDetector")
    parser.add_argument("--root", default=str(default_ped2_root()), help="Ped2 folder (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/maskedae_maxima.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = pyvad.load(args.model)
    if detector.config_["test_mask"] != "fixed":
        parser.error(f"the model scores with test_mask={detector.config_['test_mask']!r}: no cell is hidden in "
                     "every frame, so this check needs test_mask='fixed'")
    hidden = np.ones(detector.net_.n_tokens, dtype=bool)
    hidden[detector.test_keep_.reshape(-1).numpy()] = False
    train, test = load_dataset("ped2", args.root)
    rows = []
    for split, videos in (("train", train.videos), ("test", test.videos)):
        for component, cells in arg_max_cells(detector, videos).items():
            top = [(int(cell), count / len(cells), bool(hidden[cell])) for cell, count in Counter(cells.tolist()).most_common(3)]
            rows.append({"split": split, "component": component, "frames": len(cells),
                         "max_on_hidden_cell": float(hidden[cells].mean()), "top_cells": top})
            print(f"{split:5s} {component:13s} {len(cells):5d} frames, max on a hidden cell {hidden[cells].mean():6.1%}; "
                  "top cells " + ", ".join(f"{c} ({share:.1%}, {'hidden' if h else 'visible'})" for c, share, h in top),
                  flush=True)
    write_result("maskedae_maxima", {"model": args.model, "test_mask": detector.config_["test_mask"],
                                     "hidden_share": float(hidden.mean()), "rows": rows}, args.output)


if __name__ == "__main__":
    main()
