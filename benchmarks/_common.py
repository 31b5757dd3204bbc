"""Shared helpers of the benchmark scripts: data location, machine description, score summaries, JSON output."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"


def default_ped2_root() -> Path:
    """``$PYVAD_PED2_ROOT``, else ``../shared/data/ped2`` beside the repository."""
    return Path(os.environ.get("PYVAD_PED2_ROOT", REPO.parent / "shared" / "data" / "ped2"))


def machine() -> dict[str, Any]:
    """What ran the benchmark: CPU model and cores, GPU if any, library versions, and whether
    ``amp="auto"`` (CAFE's ``fast`` preset) computes in bf16 on its CPU."""
    import numpy
    import torch

    from pyvad.training import native_bfloat16

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_native_bf16": native_bfloat16(torch.device("cpu")),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def machine_name(info: dict[str, Any]) -> str:
    """The short name of a :func:`machine` record: its GPU when it had one, else its CPU."""
    return info.get("gpu") or info["cpu"]


def mean_std(per_video_scores: Any) -> list[float]:
    """Mean and standard deviation of frame scores given per video, all frames pooled."""
    import numpy

    pooled = numpy.concatenate(per_video_scores)
    return [float(pooled.mean()), float(pooled.std())]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20


def write_result(name: str, payload: dict[str, Any], output: str | os.PathLike | None = None) -> Path:
    """Write ``payload`` plus the machine description as JSON; return the path."""
    path = Path(output) if output else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "machine": machine(), **payload}
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path
