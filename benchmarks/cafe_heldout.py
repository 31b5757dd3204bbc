"""CAFE convergence on held-out *training* videos: how well the student reproduces the teacher.

    python benchmarks/cafe_heldout.py [--preset fast] [--holdout 2] [--set lr=3e-3 --set epochs=2 ...]

Fits ``CAFEDetector`` on the VEC-box events of the first 16 - ``holdout`` Ped2 training videos
and, after every epoch, measures the distillation error on the events of the last ``holdout``
training videos (normal footage the student never saw): per teacher tap, the element-wise MSE
and the share of the teacher's per-element variance it leaves unexplained
(``MSE / Var``; 1 = no better than predicting the mean feature). No test video is read, so
settings chosen with this script are chosen without test labels.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import default_ped2_root, write_result
from cafe_ped2 import _vec_events

from pyvad.datasets import load_dataset
from pyvad.methods.cafe import CAFEDetector
from pyvad.teachers import Teacher
from pyvad.training import Callback

# Shared by reference: the detector deep-copies its parameters (callbacks included) when fitting.
_HELD_OUT: dict = {"records": []}


class HeldOutDistillation(Callback):
    """After each epoch, per-tap MSE of the student to the teacher on the held-out event patches."""

    def on_fit_start(self, trainer, model) -> None:  # noqa: ANN001
        _HELD_OUT["model"] = model
        _HELD_OUT["started"] = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, logs) -> None:  # noqa: ANN001
        record = {"epoch": epoch, "elapsed_s": time.perf_counter() - _HELD_OUT["started"], **dict(logs),
                  **{f"heldout_{k}": v for k, v in _held_out_errors().items()}}
        _HELD_OUT["records"].append(record)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}), flush=True)


@torch.no_grad()
def _held_out_errors() -> dict[str, float]:
    """Per-tap held-out MSE and unexplained share (MSE / teacher per-element variance)."""
    model = _HELD_OUT["model"]
    was_training = model.training
    model.eval()
    student = _batched(lambda x: model(x)["aligned"], _HELD_OUT["patches"])
    model.train(was_training)
    record: dict[str, float] = {}
    variances = [float(t.var(dim=0).mean()) for t in _HELD_OUT["teacher"]]
    for index, (s, t) in enumerate(zip(student, _HELD_OUT["teacher"])):
        record[f"mse_{index}"] = float(((s - t) ** 2).mean())
        record[f"unexplained_{index}"] = record[f"mse_{index}"] / variances[index]
    record["kd"] = sum(record[f"mse_{i}"] for i in range(len(student)))
    record["unexplained_total"] = record["kd"] / sum(variances)
    return record


def _batched(fn, patches: torch.Tensor, batch_size: int = 512) -> list[torch.Tensor]:  # noqa: ANN001
    """``fn`` (patches -> list of tensors) over ``patches`` in batches, concatenated per output."""
    parts = [fn(patches[i : i + batch_size]) for i in range(0, len(patches), batch_size)]
    return [torch.cat([p[k].float() for p in parts]) for k in range(len(parts[0]))]


def _parse_overrides(pairs: list[str]) -> dict:
    """``name=value`` pairs (values as Python literals) -> dict."""
    overrides = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name] = value
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(default_ped2_root()))
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--holdout", type=int, default=2, help="last N training videos held out (default 2)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="CAFEDetector parameter")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="JSON path (default: benchmarks/results/cafe_heldout.json)")
    args = parser.parse_args()

    root = Path(args.root)
    train, _ = load_dataset("ped2", root)  # training videos only
    events = _vec_events(root, "training", train.videos)
    held = events.video_ids >= events.n_videos - args.holdout
    centre = list(events.offsets).index(0)
    _HELD_OUT["patches"] = torch.from_numpy(np.ascontiguousarray(events.patches[held][:, centre])).permute(0, 3, 1, 2)

    overrides = _parse_overrides(args.set)
    det = CAFEDetector(args.preset, random_state=args.seed, verbose=0, trainer_params={"callbacks": [HeldOutDistillation()]},
                       **overrides)
    config = det._resolve_config()
    teacher = Teacher(config["teacher"], taps=config["teacher_taps"], weights=config["teacher_weights"],
                      input_size=config["teacher_input_size"] or None)
    _HELD_OUT["teacher"] = _batched(lambda x: list(teacher(x).values()), _HELD_OUT["patches"])
    start = time.perf_counter()
    det.fit(events[np.flatnonzero(~held)])
    result = {
        "overrides": {k: repr(v) for k, v in overrides.items()},
        "config": {k: repr(v) for k, v in det.config_.items()},
        "train_events": int((~held).sum()),
        "heldout_events": int(held.sum()),
        "fit_seconds": time.perf_counter() - start,
        "epochs": _HELD_OUT["records"],
    }
    print("fit_seconds", round(result["fit_seconds"], 1))
    write_result("cafe_heldout", result, args.output)


if __name__ == "__main__":
    main()
