"""On a CUDA machine: fit every detector on the GPU, in float32 and in mixed precision, then
score the saved model in a process that sees no GPU and compare with the GPU's scores.

    python benchmarks/gpu_check.py [--output JSON]

Tiny synthetic videos and small networks with random teacher weights: this checks the CUDA
paths (training, AMP with gradient scaling, scoring, saving) and the GPU -> CPU round trip
that a user makes when fitting on a GPU box and scoring on a camera's CPU machine
(``pyvad.load(path, device="cpu")``), not accuracy or speed. A row passes when the CPU's
frame scores of the loaded model rank the frames as the GPU's did (Spearman >= 0.99; AMP
changes the last digits) and every score is finite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_result
from scipy.stats import spearmanr

CAFE_TINY = dict(teacher="mobilenet_v2", teacher_weights="random", teacher_input_size=0,
                 student_widths=(8, 8, 16, 16), batch_size=64, epochs=2, ca_start_epoch=1)
PKGNET_TINY = dict(teacher="resnet18", teacher_weights="random", width=8, epochs=2, batch_size=32)
MAE_TINY = dict(image_size=(16, 24), offsets=(0,), batch_size=16, epochs=2,
                architecture=dict(encoder_dim=16, decoder_dim=8, encoder_heads=2, decoder_heads=2))

# (name, class, preset, parameters) of each checked configuration.
CONFIGS = [
    ("cafe_fp32", "CAFEDetector", "fast", CAFE_TINY),
    ("cafe_bf16", "CAFEDetector", "fast", {**CAFE_TINY, "amp": "bf16"}),
    ("cafe_fp16", "CAFEDetector", "fast", {**CAFE_TINY, "amp": "fp16"}),
    ("pkgnet_fp32", "PKGNetDetector", "ped2", PKGNET_TINY),
    ("pkgnet_bf16", "PKGNetDetector", "ped2", {**PKGNET_TINY, "amp": "bf16"}),
    ("pkgnet_fp16", "PKGNetDetector", "ped2", {**PKGNET_TINY, "amp": "fp16"}),
    ("maskedae_fp32", "MaskedAEDetector", "fast", MAE_TINY),
    ("maskedae_bf16", "MaskedAEDetector", "fast", {**MAE_TINY, "amp": "bf16"}),
    ("maskedae_fp16", "MaskedAEDetector", "fast", {**MAE_TINY, "amp": "fp16"}),
]


def synthetic_split():
    from pyvad.synthetic import make_train_test

    return make_train_test(n_train=3, n_test=2, n_frames=32, random_state=0)


def fit_on_gpu(folder: Path) -> list[dict]:
    """Fit and score every configuration on CUDA; save the models and the GPU's scores."""
    import torch

    import pyvad

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check.py needs a CUDA device")
    train, test = synthetic_split()
    rows = []
    for name, class_name, preset, params in CONFIGS:
        detector = getattr(pyvad, class_name)(preset, device="cuda", random_state=0, **params)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        detector.fit(train.videos)
        fit_seconds = time.perf_counter() - start
        scores = np.concatenate(detector.score_frames(test.videos))
        detector.save(folder / f"{name}.pyvad")
        np.save(folder / f"{name}.gpu.npy", scores)
        rows.append({"config": name, "fit_seconds": fit_seconds, "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20})
        print(f"{name:15s} fitted on {torch.cuda.get_device_name(0)} in {fit_seconds:.1f} s", flush=True)
    return rows


def score_on_cpu(folder: Path) -> None:
    """(Run with no visible GPU.) Load each saved model with device='cpu' and score the test videos."""
    import torch

    import pyvad

    assert not torch.cuda.is_available(), "the CPU half must not see a GPU"
    _, test = synthetic_split()
    for name, *_ in CONFIGS:
        detector = pyvad.load(folder / f"{name}.pyvad", device="cpu")
        np.save(folder / f"{name}.cpu.npy", np.concatenate(detector.score_frames(test.videos)))


def compare(folder: Path, rows: list[dict]) -> bool:
    passed = True
    for row in rows:
        gpu, cpu = (np.load(folder / f"{row['config']}.{side}.npy") for side in ("gpu", "cpu"))
        finite = bool(np.isfinite(gpu).all() and np.isfinite(cpu).all())
        rho = float(spearmanr(gpu, cpu).statistic) if finite else float("nan")
        relative = float(np.max(np.abs(gpu - cpu)) / (np.std(gpu) + 1e-12))
        row.update(finite=finite, spearman=rho, max_abs_diff_over_std=relative, passed=finite and rho >= 0.99)
        passed &= row["passed"]
        print(f"{row['config']:15s} GPU vs CPU: Spearman {rho:.5f}, max |diff| / std {relative:.2e}, "
              f"{'ok' if row['passed'] else 'FAILED'}", flush=True)
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/gpu_check.json)")
    parser.add_argument("--cpu-half", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu_half:
        score_on_cpu(Path(args.cpu_half))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = fit_on_gpu(folder)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        subprocess.run([sys.executable, __file__, "--cpu-half", tmp], env=env, check=True)
        passed = compare(folder, rows)
    write_result("gpu_check", {"rows": rows, "passed": passed}, args.output)
    if not passed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
