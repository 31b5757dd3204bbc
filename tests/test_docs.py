"""The documentation builds without a single warning (when the docs extra is installed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS_PACKAGES = ("sphinx", "myst_parser", "numpydoc")


@pytest.mark.slow
@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in DOCS_PACKAGES),
                    reason="docs extra not installed (pip install -e '.[docs]')")
def test_docs_build_with_warnings_as_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                             str(REPO / "docs"), str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                            check=False, timeout=240)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "user-guide" / "streaming.html").exists() and (tmp_path / "api.html").exists()
