"""Where a fitted AED-MAE's frame maxima sit: on cells the fixed test mask hides, or on visible ones.

    python benchmarks/maskedae_maxima.py MODEL.pyvad [--root PED2] [--threads 2] [--output JSON]

No labels are read. For every frame of Ped2's training and test videos, each component map
(teacher error, teacher-student gap) is 3-D filtered as the detector does before its frame
maximum, and the arg-max cell is recorded, for the raw maps and, when the model has them, for
the maps z-scored cell by cell (``normalize_cells``, what the detector reduces). Prints, per
split and component, the share of frames whose maximum lies on a cell the test mask hides, and
the most frequent arg-max cells. A frame score that most frames take from the same hidden
background cell cannot see an object anywhere else unless it beats that cell.

Then, on every 10th training frame, the teacher's reconstruction error of frame t per kind of
token (hidden or visible under the test mask; moving or static by the motion weights), beside
the error of predicting the mean training frame: how well the network inpaints and copies
the footage it was fitted on.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch
from _common import default_ped2_root, write_result

import pyvad
from pyvad.datasets import load_dataset
from pyvad.events import reference_index
from pyvad.methods.maskedae import _to_unit, normalized_cells, token_weights, video_component_maps
from pyvad.nets.cvt_mae import patchify

# A token is "moving" when its motion weight is over this multiple of its frame's median weight.
MOVING_OVER_MEDIAN = 3.0


def arg_max_cells(detector, videos) -> dict[str, np.ndarray]:
    """Per map component (raw, and cells z-scored when the model has the statistics), the flat
    index of each frame's arg-max cell, videos in order."""
    config = detector.config_
    statistics = getattr(detector, "cell_statistics_", None)

    def reduce(raw, events):
        maps = {name: values for name, values in raw.items() if np.ndim(values) == 3}
        filtered = video_component_maps(maps, events, config["filter_sigma_spatial"], config["filter_sigma_temporal"])[0]
        if statistics:
            filtered.update({f"{name} (cells z-scored)": m for name, m in normalized_cells(filtered, statistics).items()})
        return {name: m.reshape(len(m), -1).argmax(axis=1) for name, m in filtered.items()}

    parts = list(detector._scored_videos(videos, reduce))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


@torch.inference_mode()
def reconstruction_by_token(detector, videos, hidden: np.ndarray, step: int = 10) -> dict[str, dict[str, float]]:
    """Mean squared error of the teacher's frame t per token kind on every ``step``-th frame,
    and that of the mean frame of the same frames (no anomaly-map channel in either); None for a
    kind without tokens."""
    events = detector._events(videos, training=True)
    rows = np.arange(0, len(events), step)
    patches = torch.from_numpy(np.ascontiguousarray(events.patches[rows]))
    n, stack, height, width, channels = patches.shape
    images = _to_unit(patches.permute(0, 1, 4, 2, 3).reshape(n, stack * channels, height, width))  # as the scorer scales
    reference = reference_index(detector.config_["offsets"])
    frame = images[:, reference * channels : (reference + 1) * channels]
    net, p = detector.net_.eval(), detector.net_.patch_size
    keep = detector.test_keep_[:1].expand(n, -1)
    output = net(images, keep, student=False, classify=False)["teacher"]
    values = p * p
    teacher = output.reshape(n, -1, values, output.shape[-1] // values)[..., :channels]
    target = patchify(frame, p).reshape(n, -1, values, channels)
    errors = {"teacher": (teacher - target).pow(2).mean(dim=(2, 3)),
              "mean training frame": (target.mean(dim=0, keepdim=True) - target).pow(2).mean(dim=(2, 3))}
    motion = torch.from_numpy(np.ascontiguousarray(events.motion[rows])).permute(0, 3, 1, 2).float() / 255
    weights = token_weights(motion, torch.zeros_like(motion[:, :1]), p)
    moving = (weights > MOVING_OVER_MEDIAN * weights.median(dim=1, keepdim=True).values).numpy()
    is_hidden = np.broadcast_to(hidden, moving.shape)
    kinds = {"hidden moving": is_hidden & moving, "hidden static": is_hidden & ~moving,
             "visible moving": ~is_hidden & moving, "visible static": ~is_hidden & ~moving}
    return {kind: {"tokens": int(where.sum()),
                   **{name: float(error.numpy()[where].mean()) if where.any() else None for name, error in errors.items()}}
            for kind, where in kinds.items()}


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
    reconstruction = reconstruction_by_token(detector, train.videos, hidden)
    for kind, row in reconstruction.items():
        if row["tokens"]:
            print(f"training frames, {kind:14s} {row['tokens']:6d} tokens: teacher error {row['teacher']:.4f}, "
                  f"mean training frame {row['mean training frame']:.4f}", flush=True)
    write_result("maskedae_maxima", {"model": args.model, "test_mask": detector.config_["test_mask"],
                                     "hidden_share": float(hidden.mean()), "rows": rows,
                                     "reconstruction_by_token": reconstruction}, args.output)


if __name__ == "__main__":
    main()
