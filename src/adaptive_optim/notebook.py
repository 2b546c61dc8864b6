"""What every chapter notebook runs in its first cell, after installing the package on Colab.

The first code cell of each notebook is (``REPO`` and ``BRANCH`` being the repository's
``url`` and ``branch`` in ``_config.yml``; tests/test_book_sources.py checks every notebook)::

    import sys
    if "google.colab" in sys.modules:  # on Colab, install the book's package first
        %pip install -q "adaptive_optim @ git+REPO@BRANCH"
    from adaptive_optim import notebook
    device = notebook.setup()

The install has to sit in the cell itself, since the package cannot be imported before it is
installed; everywhere else (a local Jupyter, CI's nbval run) the guard does nothing.
``setup`` prints nothing, so the cell's output is the same on every machine.

Figures: after ``setup``, every figure a cell shows is a PNG at twice its pixel size
(:data:`adaptive_optim.style.PIXEL_RATIO`) whose output metadata gives its width in CSS pixels, so
Jupyter and the website (myst-nb reads ``width`` from output metadata) show it at its own size,
sharp on high-density screens, shrunk only where the page is narrower. ``show(fig, alt=...)``
shows a figure with an alt text saying what it shows; the website takes it from the output's
metadata (``book/_ext/figure_alt.py``).
"""

from __future__ import annotations

import base64
import inspect
import io
import random
import textwrap
from typing import Any

import numpy as np
import torch

from . import style


def device() -> torch.device:
    """``cuda`` when a GPU is there, else ``cpu``: GPU cells run the same code, smaller, on CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed(value: int = 0) -> None:
    """Seed Python's, NumPy's global and torch's random generators, so outputs repeat exactly."""
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def setup(seed_value: int = 0) -> torch.device:
    """Apply the book's figure style (sharp PNGs, see the module docstring), seed the random
    generators and return the device to use."""
    style.use()
    sharp_figures()
    seed(seed_value)
    return device()


def png(fig: Any) -> tuple[bytes, dict[str, int]]:
    """``fig`` as a PNG at :data:`~adaptive_optim.style.PIXEL_RATIO` times its pixel size (at its own
    size when a layout engine placed its axes, else cropped to what is drawn, as Jupyter does) and
    its width in CSS pixels. Only the width is given, so that a
    page narrower than the figure shrinks it and keeps its proportions."""
    buffer = io.BytesIO()
    laid_out = fig.get_layout_engine() is not None  # then the figure is its own size, as designed
    fig.savefig(buffer, format="png", dpi=fig.dpi * style.PIXEL_RATIO, bbox_inches=None if laid_out else "tight",
                metadata=style._STABLE_METADATA["png"])
    data = buffer.getvalue()
    width = int.from_bytes(data[16:20], "big")  # the PNG header's IHDR width
    return data, {"width": round(width / style.PIXEL_RATIO)}


def _png_output(fig: Any) -> tuple[str, dict[str, int]]:
    data, metadata = png(fig)
    return base64.b64encode(data).decode("ascii"), metadata


def sharp_figures() -> bool:
    """Make IPython show matplotlib figures as :func:`png` does: 2x pixels, CSS width in the output's
    metadata. Returns False (and does nothing) outside IPython.

    The backend is loaded first, because the inline backend resets the figure formatters when it loads.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.switch_backend(matplotlib.get_backend())  # loads the backend now, so it resets the formatters now

    formatters = shell.display_formatter.formatters
    for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)
    formatters["image/png"].for_type(Figure, _png_output)
    return True


def show(fig: Any = None, *, alt: str) -> None:
    """Show ``fig`` (default: the current figure) with ``alt``, a sentence saying what it shows,
    and close it. The website uses ``alt`` as the image's alt text; the output is the same PNG as
    any other figure's, with ``alt`` next to ``width`` in its metadata.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    if not alt or not alt.strip():
        raise ValueError("show: alt must say what the figure shows (it is the text screen readers read)")
    fig = plt.gcf() if fig is None else fig
    data, metadata = png(fig)
    display({"image/png": base64.b64encode(data).decode("ascii"), "text/plain": f"<Figure: {alt}>"},
            metadata={"image/png": {**metadata, "alt": alt.strip()}}, raw=True)
    plt.close(fig)


class _Text(str):
    """A string shown without quotes: how a glued, pre-formatted number appears in the prose."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def glue(name: str, value: object, fmt: str | None = None) -> None:
    """Make ``value`` citable in the chapter's prose as ``{glue:text}`name```.

    Numbers in the text come from the code that computed them: the book's build (myst-nb) puts
    the glued value where the prose names it. ``fmt`` formats the value first (e.g. ``".3g"``).
    Where myst-nb is absent (Colab), nothing is glued. Returns None, so a cell may end with it.
    """
    shown = _Text(format(value, fmt) if fmt else str(value))
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, shown, display=False)


class Source:
    """The source of a function or class of the package, shown as a highlighted code block.

    Chapters show a rule's code with ``notebook.show_source(rules.adam.Adam.update)``: the output
    is Markdown, which JupyterLab, Colab and the book's website all render as highlighted code,
    and its plain-text form is the source itself, so nbval fails when the code changes and the
    committed notebook was not re-executed.
    """

    def __init__(self, obj: object) -> None:
        self.module = inspect.getmodule(obj).__name__
        self.name = getattr(obj, "__qualname__", getattr(obj, "__name__", repr(obj)))
        self.code = textwrap.dedent(inspect.getsource(obj)).rstrip("\n")

    def location(self) -> str:
        """The file in the repository that holds the code (``src/adaptive_optim/...``)."""
        return "src/" + self.module.replace(".", "/") + ".py"

    def __repr__(self) -> str:
        return f"# {self.location()}: {self.name}\n{self.code}"

    def _repr_markdown_(self) -> str:
        return f"`{self.location()}`, `{self.name}`:\n\n```python\n{self.code}\n```"


def show_source(obj: object) -> Source:
    """The package's own source for ``obj`` (a rule's ``update``, a helper), to display in a chapter."""
    return Source(obj)
