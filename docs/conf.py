"""Sphinx configuration of memjax's documentation site.

Build (README, Documentation)::

    pip install -e '.[docs]' && python -m sphinx -W --keep-going -b html docs docs/_build/html

Pages are MyST Markdown; the tutorials are MyST notebooks executed on every build (myst-nb), so their outputs and
figures are real; the API reference is autodoc over the public modules, Google-style docstrings (napoleon).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's memjax, also without an install

from memjax.version import __version__  # noqa: E402

project = "memjax"
author = "The memjax developers"
copyright = "The memjax developers, Apache-2.0"  # noqa: A001
version = release = __version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_design",
]

# The study pages keep their paths (benchmarks write and tests read them); build outputs and data are not pages.
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "jupyter_execute"]

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 4  # the pages' links to #section-slugs resolve, and a missing one warns (-W: fails)
nb_execution_mode = "force"  # the tutorials run on every build: their outputs cannot go stale
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["optuna", "cmaes", "tensorflow_datasets"]
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

html_theme = "sphinx_book_theme"
html_title = f"memjax {__version__}"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": False,
}
html_static_path: list[str] = []

# The study pages link "back to the README" (../README.md), which GitHub shows beside them; on the site the README's
# material lives in the index and getting-started pages. Links are rewritten at read time, so the pages keep their
# text (benchmarks and other branches edit them) and a link to anything else missing still fails the build.
README_LINKS = {
    "../README.md#fresh-machine-two-commands": "getting_started.md#the-default-run",
    "../README.md": "index.md",
}


def _readme_links(app, docname, source):
    if "/" not in docname:  # the study pages sit in docs/ itself
        for old, new in README_LINKS.items():
            source[0] = source[0].replace(f"]({old})", f"]({new})")


def setup(app):
    app.connect("source-read", _readme_links)
