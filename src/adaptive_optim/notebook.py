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
"""

from __future__ import annotations

import inspect
import random
import textwrap

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
    """Apply the book's figure style, seed the random generators and return the device to use."""
    style.use()
    seed(seed_value)
    return device()


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
