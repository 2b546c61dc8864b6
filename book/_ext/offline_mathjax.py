"""Serve MathJax from the book's own site, so that equations render with no network.

MathJax 2.7 comes from the pip package ``jupyter-server-mathjax`` (pinned in requirements.txt),
which ships it under ``jupyter_server_mathjax/static``. At the end of an HTML build this
extension copies those files into ``_static/mathjax/``, and it points ``mathjax_path`` at the
copy, so nothing of MathJax is committed to git and no page asks a CDN for it.

MathJax 2 is configured like Jupyter's classic notebook (which uses these same files): TeX in,
HTML-CSS out, with the STIX-Web web fonts that the package bundles and no image fonts. MyST
wraps ``$...$`` and ``$$...$$`` in elements with the ``math`` class and marks each page's top
section ``tex2jax_ignore``, so MathJax typesets exactly the math and leaves prose alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Where the copy lives, relative to the build's ``_static`` folder.
TARGET = "mathjax"
#: MathJax 2's combined configuration: TeX and MathML input, HTML-CSS output.
COMBINED_CONFIG = "TeX-AMS-MML_HTMLorMML-full"
#: The classes MyST gives math elements (its ``myst_mathjax_classes`` default).
MYST_MATH_CLASSES = "tex2jax_process|mathjax_process|math|output_area"


def mathjax_source() -> Path:
    """The MathJax 2.7 files installed by the ``jupyter-server-mathjax`` package."""
    try:
        import jupyter_server_mathjax
    except ImportError as error:  # pragma: no cover - the pinned environment has it
        raise ImportError(
            "offline_mathjax needs the pip package jupyter-server-mathjax "
            "(pip install -r requirements.txt)") from error
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (source / "MathJax.js").is_file():
        raise FileNotFoundError(f"MathJax.js not found in {source}")
    return source


def mathjax2_config(math_classes: str) -> dict[str, Any]:
    """MathJax 2 settings: typeset only MyST's math elements, with the bundled web fonts."""
    return {
        "tex2jax": {
            "inlineMath": [["\\(", "\\)"]],
            "displayMath": [["\\[", "\\]"]],
            "processClass": math_classes,
            "ignoreClass": "tex2jax_ignore|mathjax_ignore",
            "processEscapes": True,
            "processEnvironments": True,
        },
        # A TeX mistake becomes a visible MathJax error, which the browser test reports, instead
        # of raw TeX (noErrors) or a macro name in red (noUndefined) that is easy to overlook.
        "TeX": {"noErrors": {"disabled": True}, "noUndefined": {"disabled": True}},
        "HTML-CSS": {
            "availableFonts": [],  # never look for locally installed fonts: same output everywhere
            "preferredFont": None,
            "webFont": "STIX-Web",  # the only web font jupyter-server-mathjax ships
            "imageFont": None,  # no image fonts: they are not shipped
            # MathJax tests web-font loading against a font at about:blank, which today's
            # browsers refuse with a console error; a local() font that is never installed
            # fails the same way, silently.
            "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
        },
        # The hidden MathML copy for screen readers asks, through MathJax's native-MathML styles,
        # for TeX web fonts that jupyter-server-mathjax does not ship (404s). It is never seen,
        # so its font does not matter: keep the page's.
        "AssistiveMML": {"styles": {".MJX_Assistive_MathML *": {"font-family": "inherit !important"}}},
        "messageStyle": "none",  # no "Loading MathJax" box in the corner
        # pydata-sphinx-theme lays inline math out as an inline flexbox, made for MathJax 3; with
        # MathJax 2 inside, that box's baseline is its empty preview's, and equations float above
        # the line of text. Plain inline layout puts them back on the baseline.
        # A display equation wider than the page scrolls sideways instead of being clipped.
        "styles": {
            "span.math": {"display": "inline", "overflow": "visible"},
            "div.math": {"overflow-x": "auto", "overflow-y": "hidden"},
        },
    }


def configure(app: Sphinx, config: Config) -> None:
    """Point Sphinx's MathJax support at the local copy and configure MathJax 2 for MyST."""
    config.mathjax_path = f"{TARGET}/MathJax.js?config={COMBINED_CONFIG}"
    config.mathjax3_config = None
    # MyST would write its math classes into a MathJax 3 configuration; we do it for MathJax 2.
    config.myst_update_mathjax = False
    classes = getattr(config, "myst_mathjax_classes", None) or MYST_MATH_CLASSES
    config.mathjax2_config = mathjax2_config(classes)


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """Copy MathJax into ``_static/mathjax`` of an HTML build."""
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)
    logger.info("offline_mathjax: copied MathJax %s into %s", _version(), target)


def _version() -> str:
    text = (mathjax_source() / "MathJax.js").read_text(encoding="utf-8", errors="replace")
    marker = 'MathJax.version="'
    start = text.find(marker)
    return text[start + len(marker):text.find('"', start + len(marker))] if start >= 0 else "?"


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.mathjax")
    mathjax_source()  # fail early, with a clear message, when the package is missing
    app.connect("config-inited", configure, priority=900)
    app.connect("build-finished", copy_mathjax)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
