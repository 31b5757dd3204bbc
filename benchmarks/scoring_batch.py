"""Scoring speed of the object detectors against their scoring batch, on this machine.

    python benchmarks/scoring_batch.py [--methods cafe pkgnet] [--batches 32 64 128 256 512] [--threads 2]

For CAFE and PKG-Net (``fast`` presets, VEC boxes), a model is fitted for one epoch on two Ped2
training videos (speed does not depend on the weights), the objects of two test videos are
extracted once, and the raw scoring (``transform``: teacher and student on every object) is
timed for each ``inference_batch_size``, in rounds that alternate between the sizes after one
warm-up round. Prints objects per second (median of the rounds); no label is read.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import default_ped2_root, write_result
from run_all import build_detector
from sklearn.base import clone

from pyvad.datasets import load_dataset, load_vec_boxes

METHODS = ("cafe", "pkgnet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--batches", nargs="+", type=int, default=[32, 64, 128, 256, 512])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/scoring_batch.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train, test = load_dataset("ped2", args.root)
    boxes = load_vec_boxes("ped2", args.root)
    rows = []
    for name in args.methods:
        detector = build_detector(name, "fast", boxes, seed=0)  # as in run_all.py
        detector.set_params(epochs=1, max_train_events=512, device="cpu").fit(train.videos[:2])
        events = clone(detector.extractor).fit(None).transform(test.videos[:2])
        samples: dict[int, list[float]] = {batch: [] for batch in args.batches}
        for round_index in range(args.rounds + 1):
            for batch in args.batches:
                detector.set_params(inference_batch_size=batch)
                start = time.perf_counter()
                detector.transform(events)
                if round_index:  # the first round warms up
                    samples[batch].append(len(events) / (time.perf_counter() - start))
        for batch, rates in samples.items():
            rows.append({"method": name, "batch": batch, "objects_per_s": statistics.median(rates),
                         "objects": len(events)})
            print(f"{name:7s} batch {batch:4d}  {statistics.median(rates):7.0f} objects/s "
                  f"(rounds: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)
    write_result("scoring_batch", {"threads": args.threads, "rows": rows}, args.output)


if __name__ == "__main__":
    main()
