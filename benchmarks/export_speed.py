"""Scoring speed of exported detectors on CPU: PyTorch path vs ONNX Runtime vs TorchScript.

    python benchmarks/export_speed.py [--root PED2] [--videos 2] [--threads 1] [--methods cafe pkgnet maskedae]
                                      [--output JSON]

For each method the ``fast`` preset is fitted on a few training videos with one epoch
(and a random teacher of the preset's architecture, asked for by name): scoring speed
depends on the architecture and input sizes, not on what the weights learned, so the
numbers hold for a fully trained model. The first ``--videos`` test videos of Ped2 (or
synthetic videos when the data is absent) are extracted **once** per method; that
extraction time is reported on its own (``extraction_fps``). Every path then scores the
same EventSet to frame scores, post-processing and fusion included:

- ``pytorch_fps``: ``det.fusion_.score_frames(det.transform(events))``;
- ``onnx_fps`` / ``torchscript_fps``: :class:`pyvad.export.ExportedDetector` on the
  exported graph (same batch size as the PyTorch path), with the same number of threads.

Each path is warmed up on a 24-frame clip, then timed once over all frames;
``max_abs_diff_*`` is the largest difference of its frame scores from the PyTorch path.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import default_ped2_root, write_result

from pyvad.export import ExportedDetector
from pyvad.methods.cafe import CAFEDetector
from pyvad.methods.maskedae import MaskedAEDetector
from pyvad.methods.pkgnet import PKGNetDetector
from pyvad.synthetic import make_train_test
from pyvad.video import as_videos

TRAINING = {
    "cafe": lambda: CAFEDetector("fast", teacher_weights="random", epochs=1, max_train_events=512, random_state=0),
    "pkgnet": lambda: PKGNetDetector("fast", teacher_weights="random", epochs=1, max_train_events=512, random_state=0),
    "maskedae": lambda: MaskedAEDetector("fast", epochs=1, random_state=0),
}


def scoring_batch(det: Any) -> int:
    """Events per network call of the detector's own PyTorch path."""
    if isinstance(det, CAFEDetector):
        return det.config_["batch_size"]
    if isinstance(det, MaskedAEDetector):
        return det.scoring_batch_size("cpu")
    return 512  # PKGNetDetector scores objects in batches of 512


def load_videos(root: Path, n_videos: int) -> tuple[list, list, str]:
    """(training videos, test videos, data description): Ped2 if present, else synthetic."""
    if root.exists():
        from pyvad.datasets import load_dataset

        train, test = load_dataset("ped2", root=root)
        return list(train.videos[:2]), list(test.videos[:n_videos]), f"ped2 test videos 1-{n_videos}"
    train, test = make_train_test(n_train=2, n_test=n_videos, n_frames=120, frame_size=(240, 360), random_state=0)
    return list(train.videos), list(test.videos), f"synthetic 240x360, {n_videos} videos of 120 frames"


def timed(score, events) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    frames = score(events)
    return time.perf_counter() - start, frames


def bench_method(name: str, train: list, test: list, threads: int, workdir: Path) -> dict[str, Any]:
    det = TRAINING[name]()
    start = time.perf_counter()
    det.fit(train)
    fit_s = time.perf_counter() - start
    paths = {fmt: det.export(workdir / f"{name}.{fmt}", format=fmt) for fmt in ("onnx", "torchscript")}
    batch = scoring_batch(det)
    runners = {
        "pytorch": lambda ev: det.fusion_.score_frames(det.transform(ev)),
        **{fmt: ExportedDetector(path, batch_size=batch, threads=threads).score_frames for fmt, path in paths.items()},
    }
    extractor = ExportedDetector(paths["torchscript"]).extractor
    start = time.perf_counter()
    events = extractor.fit(test).transform(test)
    extraction_s = time.perf_counter() - start
    n_frames = int(sum(events.n_frames))
    warm = extractor.transform([as_videos(test)[0][:24]])  # a short clip: warms every path up
    row: dict[str, Any] = {
        "method": name, "fit_s_one_epoch": round(fit_s, 1), "frames": n_frames, "events": len(events),
        "batch_size": batch, "extraction_fps": n_frames / extraction_s,
        "onnx_bytes": os.path.getsize(paths["onnx"]), "torchscript_bytes": os.path.getsize(paths["torchscript"]),
    }
    reference = None
    for path_name, score in runners.items():
        score(warm)
        seconds, frames = timed(score, events)
        row[f"{path_name}_fps"] = n_frames / seconds
        if reference is None:
            reference = np.concatenate(frames)
        else:
            row[f"max_abs_diff_{path_name}"] = float(np.abs(np.concatenate(frames) - reference).max())
    print({k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=default_ped2_root())
    parser.add_argument("--videos", type=int, default=2, help="test videos scored")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(TRAINING), choices=list(TRAINING))
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/export_speed_t<threads>.json)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_at_start = os.getloadavg()
    train, test, data = load_videos(args.root, args.videos)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [bench_method(name, train, test, args.threads, Path(workdir)) for name in args.methods]
    write_result(f"export_speed_t{args.threads}", {
        "command": "python benchmarks/export_speed.py " + " ".join(
            f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()
            if k not in ("output", "root") and v is not None),
        "data": data, "threads": args.threads, "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(), "rows": rows,
    }, args.output)


if __name__ == "__main__":
    main()
