"""Sphinx configuration of the pyvad documentation (build: ``bash .ci/docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pyvad._version import __version__  # noqa: E402

project = "pyvad"
author = "pyvad developers"
copyright = "pyvad developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.intersphinx", "numpydoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3

# Everything is built offline: no inventory is fetched, so cross-project links stay plain text.
intersphinx_mapping: dict = {}
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc sections already state the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"pyvad {version}"


METHOD_PAGES_MARKER = "<!-- method-pages"


def _method_pages_toctree(app, docname: str, source: list[str]) -> None:
    """List the method pages that exist (each method adds docs/methods/<name>.md as it lands)."""
    if docname != "methods" or METHOD_PAGES_MARKER not in source[0]:
        return
    pages = sorted(path.stem for path in (Path(app.srcdir) / "methods").glob("*.md"))
    toctree = "```{toctree}\n:maxdepth: 1\n\n" + "".join(f"methods/{page}\n" for page in pages) + "```"
    listing = toctree if pages else "No method page has been written yet."
    lines = source[0].splitlines(keepends=True)
    source[0] = "".join(listing + "\n" if line.startswith(METHOD_PAGES_MARKER) else line for line in lines)


def setup(app):
    app.connect("source-read", _method_pages_toctree)
