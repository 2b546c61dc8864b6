"""Serve MathJax 3 from the book's own site, so that equations render with no network.

MathJax 3.2 comes from the pip package ``django-static-mathjax`` (pinned in requirements.txt),
which ships MathJax's ``es5`` build, web fonts included, under ``mathjax/static/mathjax``; it
needs nothing of Django to be copied. At the end of an HTML build this extension copies that
folder into ``_static/mathjax/``, and it points ``mathjax_path`` at the copy's ``tex-chtml.js``,
so nothing of MathJax is committed to git and no page asks a CDN for it.

MathJax 3 rather than 2: it typesets the chapters several times faster (measured on a throttled
phone-sized Chromium, see tests/browser/measure_phone.py), and its output is an ordinary box
whose width counts toward the scroll width of its container, so pydata-sphinx-theme's scrolling
equation containers reach a wide display equation on a phone. MyST adds the classes of its math
elements to the configuration (``myst_update_mathjax``), so MathJax typesets exactly the math.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Where the copy lives, relative to the build's ``_static`` folder.
TARGET = "mathjax"
#: MathJax 3's combined component: TeX in, CommonHTML out (fonts loaded from next to it).
COMPONENT = "tex-chtml.js"


def mathjax_source() -> Path:
    """MathJax 3's ``es5`` folder, installed by the ``django-static-mathjax`` package."""
    # The package's import name is ``mathjax``; find it without importing anything of it.
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("offline_mathjax needs the pip package django-static-mathjax "
                          "(pip install -r requirements.txt)")
    source = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (source / COMPONENT).is_file():
        raise FileNotFoundError(f"{COMPONENT} not found in {source}")
    return source


def mathjax3_config() -> dict[str, Any]:
    """MathJax 3 settings on top of MyST's: TeX mistakes become visible errors."""
    return {
        # Without the ``noundefined`` package an unknown macro is a TeX error, shown as such and
        # reported by the browser test, not a macro name in red that is easy to overlook.
        "tex": {"packages": {"[-]": ["noundefined"]}},
    }


def configure(app: Sphinx, config: Config) -> None:
    """Point Sphinx's MathJax support at the local copy of MathJax 3."""
    config.mathjax_path = f"{TARGET}/{COMPONENT}"
    config.mathjax2_config = None
    config.mathjax3_config = {**mathjax3_config(), **(config.mathjax3_config or {})}


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """Copy MathJax into ``_static/mathjax`` of an HTML build."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)
    logger.info("offline_mathjax: copied MathJax %s into %s", _version(), target)


def _version() -> str:
    """The version MathJax's startup code reports (e.g. ``3.2.2``)."""
    text = (mathjax_source() / "startup.js").read_text(encoding="utf-8", errors="replace")
    marker = 'VERSION="'
    start = text.find(marker)
    return text[start + len(marker):text.find('"', start + len(marker))] if start >= 0 else "?"


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.mathjax")
    mathjax_source()  # fail early, with a clear message, when the package is missing
    app.connect("config-inited", configure, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"version": "2.0", "parallel_read_safe": True, "parallel_write_safe": True}
