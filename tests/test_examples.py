"""Every example in examples/ runs (in a fast mode where it has one)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PED2 = Path(os.environ.get("PYVAD_PED2_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data" / "ped2"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_runs_and_detects_the_synthetic_anomalies(tmp_path):
    auc = _load("quickstart").main(tmp_path)
    assert auc > 0.6
    assert (tmp_path / "quickstart_scores.png").exists() and (tmp_path / "baseline.pyvad").exists()


@pytest.mark.skipif(not (PED2 / "training").is_dir(), reason="Ped2 data not present")
def test_ped2_example_runs_on_two_videos():
    results = _load("ped2_baseline").main(PED2, max_videos=2)
    assert 0.0 <= results["micro_auc"] <= 1.0
