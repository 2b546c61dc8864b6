"""The one visual style of every figure in the book: a fixed colour per optimizer, sizes, fonts.

``use()`` applies the style to matplotlib for the rest of the session (every chapter's first cell
does this through :func:`adaptive_optim.notebook.setup`); ``context()`` applies it inside a
``with`` block only. ``colour("Adam")`` gives an optimizer's colour, the same in every figure.

Output is deterministic: SVG element ids are salted with a fixed string and :func:`save` writes
no creation date into the file's metadata, so re-running a notebook gives the same bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib as mpl
from cycler import cycler

#: One colour per optimizer, in the order the book introduces them. Okabe–Ito's colour-blind-safe
#: palette (its yellow, too pale for lines on white, is replaced by Tol's wine) plus a dark grey
#: for plain SGD, the baseline every other method is compared with.
COLOURS: dict[str, str] = {
    "SGD": "#4d4d4d",  # dark grey
    "Momentum": "#e69f00",  # orange
    "Adagrad": "#009e73",  # bluish green
    "RMSprop": "#cc79a7",  # reddish purple
    "Adam": "#0072b2",  # blue
    "AdamW": "#56b4e9",  # sky blue
    "AMSGrad": "#d55e00",  # vermilion
    "RAdam": "#882255",  # wine
}

_BY_LOWER_NAME = {name.lower(): value for name, value in COLOURS.items()}

#: Width and height of a figure, in inches (at ``DPI`` this is 640 × 400 pixels).
FIGSIZE: tuple[float, float] = (6.4, 4.0)
#: Dots per inch of figures shown in notebooks and saved as PNG.
DPI = 100

#: The matplotlib settings :func:`use` and :func:`context` apply.
RC: dict[str, Any] = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.constrained_layout.use": True,
    # DejaVu Sans ships with matplotlib, so figures look the same on every machine; STIX math
    # matches the STIX fonts MathJax uses for the equations on the page.
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "stix",
    "font.size": 10.0,
    "axes.titlesize": 11.0,
    "axes.labelsize": 10.0,
    "legend.fontsize": 9.0,
    "xtick.labelsize": 9.0,
    "ytick.labelsize": 9.0,
    "axes.prop_cycle": cycler(color=list(COLOURS.values())),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "lines.linewidth": 1.8,
    "lines.markersize": 5.0,
    "legend.frameon": False,
    "image.cmap": "viridis",
    # Deterministic files: fixed SVG ids, text drawn as paths (no dependence on installed fonts).
    "svg.hashsalt": "adaptive-learning-rates",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
}


def colour(name: str) -> str:
    """The hex colour of optimizer ``name`` (case-insensitive), e.g. ``colour("adam") == "#0072b2"``."""
    try:
        return _BY_LOWER_NAME[name.lower()]
    except KeyError:
        raise KeyError(
            f"no colour for optimizer {name!r}; the book's optimizers are: {', '.join(COLOURS)}"
        ) from None


def use() -> None:
    """Apply the book's style to matplotlib for the rest of the session."""
    mpl.rcParams.update(RC)


@contextlib.contextmanager
def context() -> Iterator[None]:
    """Apply the book's style inside a ``with`` block, restoring the previous settings after it."""
    with mpl.rc_context(RC):
        yield


#: File metadata without dates or versions, per format, so saved figures are byte-for-byte stable.
_STABLE_METADATA: dict[str, dict[str, Any]] = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
}


def save(fig: mpl.figure.Figure, path: str | Path, **kwargs: Any) -> Path:
    """Save ``fig`` to ``path`` (format from the suffix) with no date or version in its metadata."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    kwargs.setdefault("metadata", _STABLE_METADATA.get(fmt))
    fig.savefig(path, **kwargs)
    return path
