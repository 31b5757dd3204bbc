"""Test-time scoring variants of one AED-MAE model, on the label-free proxy of heldout_proxy.py.

    python benchmarks/maskedae_scoring_variants.py [--preset fast] [--threads N] [--output JSON]

Fits one :class:`MaskedAEDetector` on 13 Ped2 training videos, then scores the 3 held-out
training clips with injected anomalies (see ``heldout_proxy.py``; Ped2's test split is never
read) in several ways, each with fusion statistics recomputed from the 13 training videos:

- which test-time pass scores a token: the fixed mask, a mask per frame (``test_mask="per_frame"``),
  no mask, or two complementary masks (the pass that hides the token, the pass that shows it,
  or both averaged), chosen per component (teacher error, teacher-student gap);
- how a filtered token map becomes a frame score: maximum or mean;
- per-cell normalisation of the filtered maps with their training mean (and scale) per cell.

Prints proxy micro AUC (all / appearance / speed) and macro AUC of the fused score and the
micro AUC of each component.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from _common import write_result
from heldout_proxy import proxy_arguments, proxy_aucs, proxy_split
from sklearn.base import clone

from pyvad.fusion import ScoreTable
from pyvad.methods.maskedae import MaskedAEDetector, MaskedAEScorer, video_component_maps

MAP_COMPONENTS = ("teacher_error", "ts_gap")
# (teacher_error pass, ts_gap pass, frame reduction, per-cell normalisation)
VARIANTS = [
    ("fixed", "fixed", "max", None), ("fixed", "fixed", "mean", None),
    ("hidden", "hidden", "max", None), ("hidden", "hidden", "mean", None),
    ("both", "both", "max", None), ("both", "both", "mean", None),
    ("hidden", "visible", "max", None), ("hidden", "visible", "mean", None),
    ("hidden", "none", "max", None), ("hidden", "none", "mean", None),
    ("none", "none", "max", None), ("none", "none", "mean", None),
    ("per_frame", "per_frame", "max", None), ("per_frame", "per_frame", "mean", None),
    ("fixed", "fixed", "max", "minus_mean"), ("fixed", "fixed", "max", "zscore"), ("fixed", "fixed", "max", "over_mean"),
    ("none", "none", "max", "zscore"), ("none", "none", "mean", "zscore"), ("hidden", "hidden", "max", "zscore"),
]


@torch.inference_mode()
def pass_outputs(det: MaskedAEDetector, events, keep: torch.Tensor | None, per_frame: bool = False) -> dict[str, np.ndarray]:
    """Flat token maps ``(N, gh * gw)`` and class probabilities of one test-time pass (``per_frame``:
    ``keep`` is the bank each frame picks its mask from)."""
    scorer = MaskedAEScorer(det.net_, keep, list(events.offsets).index(0), det.components_, det.config_["anomaly_maps"],
                            per_frame=per_frame)
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in scorer.names}
    batch = det.scoring_batch_size("cpu")
    for start in range(0, len(events), batch):
        patches = torch.from_numpy(np.ascontiguousarray(events.patches[start : start + batch]))
        for name, value in zip(scorer.names, scorer(patches)):
            parts[name].append(value.flatten(1) if value.ndim > 1 else value)
    return {name: torch.cat(values).double().numpy() for name, values in parts.items()}


def combine(runs: dict[str, dict[str, np.ndarray]], hidden_first: np.ndarray, rules: tuple[str, str]) -> dict[str, np.ndarray]:
    """Token maps of each component taken from the pass its rule names (``hidden_first``: hidden in pass 0)."""
    out = {}
    for name, rule in zip(MAP_COMPONENTS, rules):
        first, second = runs["pass0"][name], runs["pass1"][name]
        out[name] = {"hidden": np.where(hidden_first, first, second), "visible": np.where(hidden_first, second, first),
                     "both": (first + second) / 2, "fixed": runs["fixed"][name], "none": runs["none"][name],
                     "per_frame": runs["per_frame"][name]}[rule]
    single = [rule for rule in ("fixed", "per_frame", "none") if rule in rules]
    if single:
        out["class_prob"] = runs[single[0]]["class_prob"]
    else:  # the complementary passes ran anyway
        out["class_prob"] = (runs["pass0"]["class_prob"] + runs["pass1"]["class_prob"]) / 2
    return out


def frame_scores(maps: list[dict[str, np.ndarray]], reduce: str, normalise: Callable | None) -> dict[str, list[np.ndarray]]:
    """Per component, per video: the frame score of each filtered map."""
    scores: dict[str, list[np.ndarray]] = {}
    for name in maps[0]:
        values = []
        for video in maps:
            value = video[name]
            if value.ndim > 1:
                value = normalise(name, value) if normalise else value
                flat = value.reshape(len(value), -1)
                value = flat.max(axis=1) if reduce == "max" else flat.mean(axis=1)
            values.append(value)
        scores[name] = values
    return scores


def cell_normaliser(kind: str, training_maps: list[dict[str, np.ndarray]]) -> Callable:
    """Per-cell normalisation with the training maps' mean and standard deviation per cell."""
    stats = {}
    for name in MAP_COMPONENTS:
        stacked = np.concatenate([video[name] for video in training_maps])
        stats[name] = (stacked.mean(axis=0), stacked.std(axis=0) + 1e-12)

    def normalise(name: str, value: np.ndarray) -> np.ndarray:
        mean, scale = stats[name]
        return {"minus_mean": value - mean, "zscore": (value - mean) / scale, "over_mean": value / mean}[kind]

    return normalise


def main() -> None:
    args = proxy_arguments(__doc__.splitlines()[0], "maskedae_scoring_variants").parse_args()
    torch.set_num_threads(args.threads)

    fit_videos, videos, kinds = proxy_split(args.root, args.seed, args.proxy)
    start = time.perf_counter()
    det = MaskedAEDetector(preset=args.preset, random_state=args.seed).fit(fit_videos)
    fit_seconds = time.perf_counter() - start
    det.config_["test_mask"] = "complementary"
    passes = det._test_keep()
    hidden_first = np.ones(det.net_.n_tokens, bool)
    hidden_first[passes[0].numpy()] = False
    det.config_["test_mask"] = "per_frame"
    bank = det._test_keep()
    keeps = {"fixed": det.test_keep_, "none": None, "pass0": passes[:1], "pass1": passes[1:], "per_frame": bank}
    splits = {"train": det._events(fit_videos, training=False), "proxy": det._events(videos, training=False)}
    runs = {split: {name: pass_outputs(det, events, keep, per_frame=name == "per_frame") for name, keep in keeps.items()}
            for split, events in splits.items()}

    grid = det.net_.grid
    results = {}
    for te_rule, ts_rule, reduce, normalisation in VARIANTS:
        maps = {}
        for split, events in splits.items():
            outputs = {name: value.reshape(-1, *grid) if value.ndim > 1 else value
                       for name, value in combine(runs[split], hidden_first, (te_rule, ts_rule)).items()}
            maps[split] = video_component_maps(outputs, events, **det._sigmas())
        normalise = cell_normaliser(normalisation, maps["train"]) if normalisation else None
        scores = {split: frame_scores(maps[split], reduce, normalise) for split in splits}
        tables = {split: ScoreTable.from_frame_scores(scores[split], video_names=list(splits[split].video_names))
                  for split in splits}
        fused = clone(det.fusion_).fit(tables["train"]).score_frames(tables["proxy"])
        key = f"teacher_error={te_rule} ts_gap={ts_rule} reduce={reduce} cells={normalisation or 'raw'}"
        row = {"fused": proxy_aucs(kinds, fused), **{name: proxy_aucs(kinds, v)["all"] for name, v in scores["proxy"].items()}}
        results[key] = row
        f = row["fused"]
        print(f"{key:70s} fused {f['all']:.3f} / {f['appearance']:.3f} / {f['speed']:.3f}, macro {f['macro']:.3f} | "
              + "  ".join(f"{name} {row[name]:.3f}" for name in scores["proxy"]), flush=True)
    write_result(f"maskedae_scoring_variants_{args.preset}", {"aucs": results, "fit_seconds": fit_seconds}, args.output)


if __name__ == "__main__":
    main()
